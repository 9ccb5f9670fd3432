"""Where the memorisation stop ends the default's fit on the benchmark tables, and where it leaves it alone.

    python -m experiments.memorisation_stop --datasets diabetes,insurance,abalone

Each table's train split is fitted as the harness fits it (`benchmarks.methods.TabDiffusion`: `--preset`, default
unless told, seed 0, `--budget` seconds). One JSON line per table: the planned and trained steps, why training stopped, the step whose
weights were kept, and [step, proximity, diversity] at every check (docs/experiments.md, "The memorisation stop"). A fit that
the stop does not end is the same, weight for weight, as one without the checks, so its harness cell stands.
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.methods import TabDiffusion
from benchmarks.tabddpm_data import COMPLETE
from benchmarks.wide_table import GENERATED, load_any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(COMPLETE + GENERATED))
    parser.add_argument("--budget", type=float, default=300)
    parser.add_argument("--preset", default="default", help="default or flow (the flow's teacher is checked)")
    args = parser.parse_args()
    for name in args.datasets.split(","):
        data = load_any(name)
        generator = TabDiffusion(data, args.preset, args.budget, seed=0)
        start = time.perf_counter()
        fit = generator.fit(data.train)
        history = generator.synth.history_
        print(json.dumps({"dataset": name, "preset": args.preset, "rows": len(data.train), "steps_planned": fit["steps_planned"],
                          "steps": fit["steps"], "stopped_by": fit["stopped_by"], "kept_step": history.kept_step,
                          "fit_seconds": round(time.perf_counter() - start, 1),
                          "checks": [[c["step"], round(c["proximity"], 3), round(c["diversity"], 2)] for c in history.checks]}),
              flush=True)


if __name__ == "__main__":
    main()
