"""Peak and final resident memory of a fit, with and without handing freed memory back to the OS.

    python -m experiments.fit_memory --preset tabddpm --steps 200 --repeats 2
    python -m experiments.fit_memory --preset default --steps 600 --repeats 3

Fits the preset on a generated gesture-shaped table (6,318 rows, 32 Gaussian columns, a 5-class label), each
variant in its own process (peak memory is per process), alternating the variants; prints peak RSS, RSS after the
fit and the fit's wall time. "kept" sets training.RELEASE_SECONDS to infinity: glibc then keeps what it frees.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def _status_mb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith(field))


def fit_once(preset: str, steps: int, release: bool) -> dict:
    """One fit in this process: its seconds, peak RSS (VmHWM) and RSS right after it (MB)."""
    import numpy as np
    import pandas as pd

    import tabdiffusion as td
    from tabdiffusion import training

    if not release:
        training.RELEASE_SECONDS = float("inf")
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(6318, 32)), columns=[f"x{i}" for i in range(32)])
    table["label"] = rng.integers(0, 5, size=len(table))
    start = time.perf_counter()
    td.Synthesizer(preset=preset, steps=steps, seed=0, verbose=False, device="cpu").fit(table, target="label")
    return {"seconds": round(time.perf_counter() - start, 1), "peak_mb": _status_mb("VmHWM"),
            "after_mb": _status_mb("VmRSS")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tabddpm", choices=["default", "tabddpm"])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", choices=["released", "kept"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(fit_once(args.preset, args.steps, args.child == "released")))
        return
    for repeat in range(args.repeats):
        for variant in ("released", "kept"):
            done = subprocess.run([sys.executable, "-m", "experiments.fit_memory", "--preset", args.preset, "--steps",
                                   str(args.steps), "--child", variant], capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{args.preset} {args.steps} steps, freed memory {variant:<8}: fit {result['seconds']:6.1f} s, "
                  f"peak {result['peak_mb']:6d} MB, after the fit {result['after_mb']:6d} MB", flush=True)


if __name__ == "__main__":
    main()
