"""The generators the harness compares, behind one small interface: fit(train) within a budget, sample(n, seed).

    real            no generator: CatBoost on the real training split (the paper's "Real" row)
    tabdiffusion    td.Synthesizer() defaults, time_budget=budget
    tdflow          td.Synthesizer(preset="flow"): reflowed flow, one-step sampling (the sampling-speed preset), time_budget=budget
    tabddpm         td.Synthesizer(preset="tabddpm") with the paper's tuned per-dataset config, time_budget=budget
    smote           benchmarks.smote.Smote with the paper's tuned k and interpolation range
    tvae, ctgan     SDV (optional: pip install .[baselines]); training stops at the first epoch past the budget
    gaussiancopula  SDV GaussianCopulaSynthesizer (no budget needed)
    argn            MOSTLY AI's TabularARGN (mostlyai-engine) with its defaults, its training bounded by the budget
                    (its max_training_time), in its own virtual environment
                    (ARGN_PYTHON, default .venv-argn/bin/python; set up as docs/benchmarks.md shows)

A method whose package is missing is reported by `unavailable(name)` and skipped by the runner with that note.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from .smote import DEFAULT_PARAMS, SMOTE_PARAMS, Smote
from .tabddpm_data import TARGET, Dataset, paper_results

METHODS = ("real", "tabdiffusion", "tdflow", "tabddpm", "smote", "tvae", "ctgan", "gaussiancopula", "argn")
SDV_METHODS = {"tvae": "TVAESynthesizer", "ctgan": "CTGANSynthesizer", "gaussiancopula": "GaussianCopulaSynthesizer"}


def unavailable(name: str) -> str | None:
    """Why `name` cannot run here (a missing optional package), or None."""
    if name not in METHODS:
        return f"unknown method {name!r}; choose from {', '.join(METHODS)}"
    if name in SDV_METHODS and importlib.util.find_spec("sdv") is None:
        return "SDV is not installed (pip install '.[baselines]' or pip install sdv)"
    if name == "argn" and not argn_python().exists():
        return (f"no TabularARGN environment at {argn_python()} (set ARGN_PYTHON, or create .venv-argn as "
                "docs/benchmarks.md shows)")
    return None


def argn_python() -> Path:
    """The Python of the virtual environment with mostlyai-engine (its dependencies clash with this one's)."""
    return Path(os.environ.get("ARGN_PYTHON", Path(__file__).resolve().parent.parent / ".venv-argn" / "bin" / "python"))


class Generator:
    """Fit once, then sample. `fit_info` records what the fit actually did (steps, epochs, stopping reason)."""

    #: whether sample() is slow enough that the runner should draw in chunks under a sampling time budget
    chunked = False

    def fit(self, train: pd.DataFrame) -> dict:
        raise NotImplementedError

    def sample(self, n: int, seed: int | np.random.Generator) -> pd.DataFrame:
        raise NotImplementedError


def paper_config(name: str) -> dict:
    """Synthesizer keywords for TabDDPM's tuned configuration of dataset `name` (empty where the paper has none)."""
    config = paper_results().get(name, {}).get("tabddpm_config")
    if not config:
        return {}
    return dict(d_layers=tuple(config["d_layers"]), lr=config["lr"], num_timesteps=config["num_timesteps"],
                batch_size=config["batch_size"], steps=config["steps"])


class TabDiffusion(Generator):
    """tabdiffusion's Synthesizer with a preset; classification targets are conditioned on, regression modelled."""

    chunked = True

    def __init__(self, data: Dataset, preset: str, budget: float | None, seed: int, steps: int | None = None,
                 threads: int | None = None) -> None:
        import tabdiffusion as td

        kwargs = paper_config(data.name) if preset == "tabddpm" else {}
        if steps is not None:
            kwargs["steps"] = steps
        self.data, self.threads = data, threads
        self.synth = td.Synthesizer(preset=preset, seed=seed, time_budget=budget, verbose=False, **kwargs)

    def fit(self, train: pd.DataFrame) -> dict:
        task = "classification" if self.data.is_classification else "regression"
        self.synth.fit(train, target=TARGET, task=task)
        config, history = self.synth.config_, self.synth.history_
        return {
            "steps": history.steps, "steps_planned": config.steps, "stopped_by": history.stopped_by,
            "d_layers": list(config.d_layers), "num_timesteps": config.num_timesteps,
            "batch_size": config.batch_size, "lr": config.lr, "device": str(self.synth.device_),
            "sampler": getattr(config, "sampler", "ancestral"), "sampling_steps": getattr(config, "sampling_steps", None),
            "final_loss": float(np.mean(history.loss[-50:])) if history.steps else None,
        }

    def sample(self, n: int, seed: int | np.random.Generator) -> pd.DataFrame:
        return self.synth.sample(n, seed=seed)


class SmoteGenerator(Generator):
    def __init__(self, data: Dataset) -> None:
        k, frac_lam_del = SMOTE_PARAMS.get(data.name, DEFAULT_PARAMS)
        task = "classification" if data.is_classification else "regression"
        self.model = Smote(k, frac_lam_del, task=task, target=TARGET, cat_columns=data.cat_columns)
        self.params = {"k_neighbours": k, "frac_lam_del": frac_lam_del}

    def fit(self, train: pd.DataFrame) -> dict:
        self.model.fit(train)
        return dict(self.params)

    def sample(self, n: int, seed: int | np.random.Generator) -> pd.DataFrame:
        return self.model.sample(n, seed=seed)


class _Deadline:
    """Stands in for tqdm inside ctgan's training loops: yields epochs until the deadline (at least one)."""

    def __init__(self, deadline: float, counter: list[int]) -> None:
        self.deadline, self.counter = deadline, counter

    def __call__(self, iterable, *args, **kwargs) -> "_Deadline":
        self.iterable = iterable
        return self

    def __iter__(self) -> Iterator:
        for item in self.iterable:
            if self.counter[0] > 0 and time.perf_counter() >= self.deadline:
                return
            self.counter[0] += 1
            yield item

    def set_description(self, *args, **kwargs) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass


@contextlib.contextmanager
def _epoch_deadline(deadline: float | None, counter: list[int]):
    """Stop ctgan's TVAE/CTGAN epoch loops at `deadline` by replacing the `tqdm` they iterate with."""
    modules = []
    if deadline is not None:
        for name in ("ctgan.synthesizers.ctgan", "ctgan.synthesizers.tvae"):
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            if hasattr(module, "tqdm"):
                modules.append((module, module.tqdm))
                module.tqdm = _Deadline(deadline, counter)
    try:
        yield bool(modules)
    finally:
        for module, original in modules:
            module.tqdm = original


class SdvGenerator(Generator):
    """SDV 2.x single-table synthesizers: metadata from the dataset's column kinds, dict in and dict out."""

    TABLE = "table"

    def __init__(self, data: Dataset, method: str, budget: float | None, seed: int) -> None:
        self.data, self.method, self.budget, self.seed = data, method, budget, seed

    def _metadata(self, train: pd.DataFrame):
        from sdv.metadata import Metadata

        columns = {}
        for name in train.columns:
            categorical = name in self.data.cat_columns or (name == TARGET and self.data.is_classification)
            columns[name] = {"sdtype": "categorical"} if categorical else {"sdtype": "numerical"}
        return Metadata.load_from_dict({"tables": {self.TABLE: {"columns": columns}}})

    def fit(self, train: pd.DataFrame) -> dict:
        import sdv.single_table
        import torch

        cls = getattr(sdv.single_table, SDV_METHODS[self.method])
        kwargs = {"enable_gpu": False} if self.method in ("tvae", "ctgan") else {}
        self.synth = cls(self._metadata(train), **kwargs)
        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)
        counter = [0]
        deadline = None if self.budget is None or self.method == "gaussiancopula" else time.perf_counter() + self.budget
        with _epoch_deadline(deadline, counter) as limited:
            self.synth.fit({self.TABLE: train})
        info = {"sdv_version": importlib.import_module("sdv").__version__}
        if self.method in ("tvae", "ctgan"):
            info["epochs_planned"] = int(self.synth.epochs)
            info["epochs"] = counter[0] if limited else int(self.synth.epochs)
            info["stopped_by"] = "time_budget" if limited and counter[0] < self.synth.epochs else "epochs"
        return info

    def sample(self, n: int, seed: int | np.random.Generator) -> pd.DataFrame:
        import torch

        seed = int(np.random.default_rng(seed).integers(2**31)) if not isinstance(seed, (int, np.integer)) else int(seed)
        self.synth.reset_sampling()
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        with contextlib.suppress(AttributeError, TypeError, NotImplementedError):
            self.synth._set_random_state(seed)  # seeds the model's own generators where SDV supports it
        out = self.synth.sample(n)
        table = out[self.TABLE] if isinstance(out, dict) else out  # SDV 2.x returns {table: df}, 1.x a df
        return table[list(self.data.train.columns)].reset_index(drop=True)


class ArgnGenerator(Generator):
    """TabularARGN with its defaults, in a worker process of its own environment (benchmarks/argn_worker.py); the
    train split and the sampled rows cross by Parquet files. Its training stops at 100 epochs, by early stopping, or
    at the harness's budget (the engine's max_training_time), whichever comes first, like TVAE's and CTGAN's epochs;
    its data analysis and encoding come on top."""

    def __init__(self, data: Dataset, seed: int, budget: float | None) -> None:
        self.data, self.seed, self.budget = data, seed, budget
        self.folder = tempfile.TemporaryDirectory(prefix="argn-")
        worker = Path(__file__).resolve().parent / "argn_worker.py"
        self.worker = subprocess.Popen([str(argn_python()), str(worker)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)

    def _ask(self, request: dict) -> dict:
        """Send one request to the worker and return its answer; a failed request raises with the worker's error."""
        self.worker.stdin.write(json.dumps(request) + "\n")
        self.worker.stdin.flush()
        line = self.worker.stdout.readline()
        if not line:
            raise RuntimeError(f"the TabularARGN worker exited (code {self.worker.poll()})")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(f"TabularARGN: {reply['error']}")
        return reply

    def fit(self, train: pd.DataFrame) -> dict:
        path = Path(self.folder.name) / "train.parquet"
        frame = train.copy()
        for name in self.data.cat_columns + ([TARGET] if self.data.is_classification else []):
            frame[name] = frame[name].astype(str)  # categories as strings, so the engine models them as categories
        frame.to_parquet(path)
        reply = self._ask({"fit": str(path), "seed": self.seed, "workspace": str(Path(self.folder.name) / "workspace"),
                           "minutes": None if self.budget is None else self.budget / 60})
        return {"mostlyai_engine_version": reply["version"]}

    def sample(self, n: int, seed: int | np.random.Generator) -> pd.DataFrame:
        seed = int(np.random.default_rng(seed).integers(2**31)) if not isinstance(seed, (int, np.integer)) else int(seed)
        path = Path(self.folder.name) / "sample.parquet"
        self._ask({"sample": int(n), "seed": seed, "out": str(path)})
        rows = pd.read_parquet(path)[list(self.data.train.columns)]
        for name in self.data.train.columns:  # back to the split's dtypes (class labels, numeric codes)
            if rows[name].dtype != self.data.train[name].dtype:
                rows[name] = rows[name].astype(self.data.train[name].dtype)
        return rows.reset_index(drop=True)

    def __del__(self) -> None:
        worker = getattr(self, "worker", None)
        if worker is not None and worker.poll() is None:
            worker.stdin.close()
            worker.wait(timeout=60)


def make(name: str, data: Dataset, *, budget: float | None, seed: int, steps: int | None = None) -> Generator:
    """A fresh, unfitted generator for method `name` on `data`."""
    if name == "tabdiffusion":
        return TabDiffusion(data, "default", budget, seed, steps)
    if name == "tdflow":
        return TabDiffusion(data, "flow", budget, seed, steps)
    if name == "tabddpm":
        return TabDiffusion(data, "tabddpm", budget, seed, steps)
    if name == "smote":
        return SmoteGenerator(data)
    if name in SDV_METHODS:
        return SdvGenerator(data, name, budget, seed)
    if name == "argn":
        return ArgnGenerator(data, seed, budget)
    raise ValueError(f"method {name!r} has no generator; choose from {', '.join(METHODS[1:])}")
