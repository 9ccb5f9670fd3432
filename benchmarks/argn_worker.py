"""MOSTLY AI's TabularARGN behind a pipe, run by the harness in its own virtual environment (see ArgnGenerator).

Started as `<argn python> benchmarks/argn_worker.py`, it reads one JSON request per line on stdin and answers one
JSON line on stdout (its own logging goes to stderr):
    {"fit": TRAIN_PARQUET, "seed": S, "workspace": DIR, "minutes": M}
                                                          -> {"ok": true, "seconds": ..., "version": ...}
    {"sample": N, "seed": S, "out": PARQUET}              -> {"ok": true, "rows": N, "seconds": ...}
Errors answer {"ok": false, "error": "..."}. The model is fitted with the engine's defaults (it stops at 100 epochs
or by early stopping on its own validation split), its training bounded by M minutes (the engine's
max_training_time; null: its default).
"""

from __future__ import annotations

import json
import random
import sys
import time


def _seed_everything(seed: int) -> None:
    """Seed the global generators the engine samples from (it takes no seed per sampling call)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def main() -> None:
    import pandas as pd
    from mostlyai.engine import TabularARGN
    from importlib.metadata import version

    model = None
    answer = sys.stdout
    sys.stdout = sys.stderr  # the engine's prints must not corrupt the answers
    for line in sys.stdin:
        request = json.loads(line)
        start = time.perf_counter()
        try:
            if "fit" in request:
                _seed_everything(request["seed"])
                limit = {} if request.get("minutes") is None else {"max_training_time": request["minutes"]}
                model = TabularARGN(random_state=request["seed"], workspace_dir=request["workspace"], verbose=0, **limit)
                model.fit(pd.read_parquet(request["fit"]))
                reply = {"ok": True, "version": version("mostlyai-engine")}
            else:
                _seed_everything(request["seed"])
                rows = model.sample(n_samples=request["sample"])
                rows.to_parquet(request["out"])
                reply = {"ok": True, "rows": len(rows)}
        except Exception as error:  # noqa: BLE001 - reported to the harness, which records the cell as failed
            reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        reply["seconds"] = round(time.perf_counter() - start, 3)
        answer.write(json.dumps(reply) + "\n")
        answer.flush()


if __name__ == "__main__":
    main()
