"""The TabDDPM paper's splits in ../shared/datasets/tabddpm as DataFrames (read in place, never copied)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

SHARED = Path(os.environ.get("TABDIFFUSION_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DATA_ROOT = SHARED / "datasets" / "tabddpm"
PAPER_RESULTS = SHARED / "benchmarks" / "tabddpm_protocol" / "paper_results.json"
COMPLETE = ("abalone", "adult", "buddy", "california", "cardio", "churn2", "default", "diabetes", "gesture", "house",
            "insurance", "king", "wilt")
TARGET = "target"


@dataclass(frozen=True)
class Dataset:
    """One benchmark dataset: splits with named columns, its task and the paper's tuned CatBoost parameters."""

    name: str
    task: str  # binclass | multiclass | regression
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    cat_columns: list[str]
    catboost_params: dict
    n_classes: int | None = None  # classification only: the number of classes in info.json (2 for binclass)

    @property
    def is_classification(self) -> bool:
        return self.task != "regression"

    @property
    def features(self) -> list[str]:
        """Feature columns in the paper's order (num_* then cat_*), which catboost_params' cat_features index."""
        return [c for c in self.train.columns if c != TARGET]

    def subsample(self, rows: int, seed: int = 0) -> "Dataset":
        """The same dataset with at most `rows` rows in each split (for smoke tests); same task and parameters."""
        def take(df: pd.DataFrame) -> pd.DataFrame:
            if len(df) <= rows:
                return df
            return df.sample(rows, random_state=seed).reset_index(drop=True)

        return replace(self, train=take(self.train), val=take(self.val), test=take(self.test))


def _split(folder: Path, split: str, task: str) -> pd.DataFrame:
    columns = {}
    if (folder / f"X_num_{split}.npy").exists():
        x_num = np.load(folder / f"X_num_{split}.npy", allow_pickle=True).astype(np.float64)
        columns.update({f"num_{i}": x_num[:, i] for i in range(x_num.shape[1])})
    if (folder / f"X_cat_{split}.npy").exists():
        x_cat = np.load(folder / f"X_cat_{split}.npy", allow_pickle=True).astype(str)
        columns.update({f"cat_{i}": x_cat[:, i] for i in range(x_cat.shape[1])})
    y = np.load(folder / f"y_{split}.npy", allow_pickle=True)
    columns[TARGET] = y.astype(np.float64) if task == "regression" else y.astype(np.int64)
    return pd.DataFrame(columns)


def load(name: str) -> Dataset:
    """Load train/val/test of one dataset; categorical columns are strings, the target is `target`."""
    folder = DATA_ROOT / name
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} not found; set TABDIFFUSION_SHARED to the shared/ folder.")
    info = json.loads((folder / "info.json").read_text())
    task = info["task_type"]
    train, val, test = (_split(folder, s, task) for s in ("train", "val", "test"))
    params = json.loads((folder / "catboost_params.json").read_text())
    n_classes = None if task == "regression" else int(info.get("n_classes", 2))
    return Dataset(name, task, train, val, test, [c for c in train.columns if c.startswith("cat_")], params, n_classes)


def available() -> bool:
    """Whether the shared datasets are reachable (tests skip without them)."""
    return DATA_ROOT.is_dir() and PAPER_RESULTS.is_file()


def paper_results() -> dict:
    """The paper's published scores and TabDDPM's tuned configurations per dataset."""
    return json.loads(PAPER_RESULTS.read_text())["datasets"]


def run_each(names: str, out: Path, command: str, settings: dict, rows: int | None, seed: int,
             run: Callable[[Dataset], dict]) -> Path:
    """Run `run` on each named dataset (subsampled to `rows` per split where given) and write the results file after
    each one, keeping the entries of datasets run before (a run can be split over several calls)."""
    import json

    results = json.loads(out.read_text()) if out.exists() else {}
    results.setdefault("datasets", {})
    commands = results.pop("commands", [results.pop("command")] if "command" in results else [])
    results.update(commands=commands + [command] * (command not in commands), settings=settings,
                   machine={"processor": _processor(), "cores": os.cpu_count()})
    for name in names.split(","):
        data = load(name)
        results["datasets"][name] = run(data.subsample(rows, seed) if rows else data)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, default=float))
    return out


def _processor() -> str:
    """The CPU's model name (Linux), else what platform says."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()

