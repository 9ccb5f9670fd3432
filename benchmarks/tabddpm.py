"""The TabDDPM paper's benchmark on its own datasets: tabdiffusion against the paper and against baselines.

    python -m benchmarks.tabddpm --datasets all --methods all --budget 300
    python -m benchmarks.tabddpm --quick --datasets diabetes,insurance,abalone --methods tabdiffusion,tabddpm,smote

For each dataset (the paper's train/val/test splits in ../shared/datasets/tabddpm) and method: fit the generator
on the train split within `--budget` seconds, draw synthetic training sets of two sizes (the real train size and
the paper's num_samples, which is TabDDPM's tuned setting: SDV baselines get the train size only) for each sampling
seed, train the paper's tuned CatBoost on each with several CatBoost seeds, early-stop on the real val split and
score the real test split (macro F1 / R2; benchmarks/protocol.py).
The "real" method is the same CatBoost on the real train split. Fidelity and privacy scores come from
tabdiffusion's evaluate (synthetic train-size set vs the real train split, holdout = real test split).

`--fit-seeds N` fits each seeded generator N times (fit seeds 0..N-1), for tables where one fit's draw swings the
scores by more than the margins being judged (the small ones); every score then averages over the fits.

Every finished (dataset, method, fit seed, sampling seed) cell is cached as JSON under benchmarks/results/cache/
(git-ignored) with a key of the settings that change its result, so an interrupted run continues where it
stopped. At the end the cells are aggregated into benchmarks/results/<name>.json and docs/benchmarks.md is
regenerated from all results files (python -m benchmarks.report).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from tabdiffusion.tables import atomic_write

from . import methods as registry
from .detector import strong_detection
from .protocol import catboost_score, metric_name
from .tabddpm_data import COMPLETE, TARGET, Dataset, paper_results
from .wide_table import GENERATED, load_any

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
CACHE = RESULTS / "cache"
DOCS = ROOT.parent / "docs" / "benchmarks.md"
SIZES = ("train", "paper")
# The paper's num_samples is TabDDPM's tuned setting; the SDV baselines are compared at the real train size only
# (paper-size CatBoost fits are most of a full run's time).
PAPER_SIZE_METHODS = ("tabdiffusion", "tabddpm", "smote")
# Methods without a fit seed: the real row, and SMOTE, whose randomness is all in sampling.
UNSEEDED_METHODS = ("real", "smote")
# Score names from evaluate() shown in the docs; every score evaluate returns is kept in the JSON.
EVALUATE_GROUPS = ("fidelity", "validity", "detection", "privacy")


@dataclass(frozen=True)
class Settings:
    """Everything that changes a result; recorded in the results file and hashed into the cache keys."""

    budget: float = 300.0  # seconds per generator fit (wall clock)
    sample_budget: float | None = 300.0  # seconds per synthetic set for slow samplers (None: unbounded)
    catboost_seeds: int = 3  # per synthetic set of the real train size
    paper_catboost_seeds: int = 1  # per paper-size set: up to 8x larger, so the main cost of a full run
    real_catboost_seeds: int = 5  # for the real row (one training set, so more seeds are cheap)
    sample_seeds: int = 2
    fit_seeds: int = 1  # fits per seeded generator (a cell is one fit seed and one sampling seed)
    sizes: tuple[str, ...] = SIZES
    max_rows: int | None = None  # cap on every synthetic set (None: none)
    threads: int = 2  # CatBoost thread_count and evaluate's n_jobs
    torch_threads: int | None = None  # torch intra-op threads for fitting and sampling (None: threads)
    steps: int | None = None  # overrides the tabdiffusion/tabddpm step count (smoke tests); None: the preset's
    evaluate: bool = True
    evaluate_rows: int = 5000  # row cap of evaluate's neighbour and detection parts
    strong_detector: bool = True  # the CatBoost detector on up to 20,000 rows per side (benchmarks/detector.py)
    rows: int | None = None  # subsample every split to this many rows (smoke tests); None: the full splits
    quick: bool = False

    def sizes_for(self, method: str) -> tuple[str, ...]:
        """The synthetic set sizes drawn for `method`: no paper-size set outside PAPER_SIZE_METHODS."""
        if method in PAPER_SIZE_METHODS:
            return self.sizes
        return tuple(size for size in self.sizes if size != "paper") or ("train",)

    def key(self, method: str, commit: str | None = None) -> str:
        """A short hash of the settings that affect a cell of `method` (the real row ignores generator settings) and
        of its code, in the working tree or at `commit`."""
        fields = asdict(self)
        if method == "real":
            fields["catboost_seeds"] = fields["real_catboost_seeds"]
            fields = {k: fields[k] for k in ("catboost_seeds", "threads", "evaluate", "evaluate_rows", "rows",
                                             "strong_detector")}
        elif method in ("smote", "gaussiancopula"):
            fields = {k: v for k, v in fields.items() if k not in ("budget", "sample_budget", "steps", "quick")}
        if "sizes" in fields:
            fields["sizes"] = self.sizes_for(method)
        fields.pop("quick", None)
        fields.pop("real_catboost_seeds", None)
        fields.pop("sample_seeds", None)  # a cell is one sampling seed
        fields.pop("fit_seeds", None)  # ... of one fit seed
        fields["code"] = code_fingerprint(method, commit)
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


def _hash_files(files: dict[PurePosixPath, bytes]) -> str:
    """Hash file names and contents in path order."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.name.encode())
        digest.update(files[path])
    return digest.hexdigest()[:10]


def _code_files(method: str, commit: str | None) -> dict[PurePosixPath, bytes]:
    """The source files a method's cells depend on, by repository path: from the working tree, or as committed.

    All cells: the protocol (CatBoost scoring), the strong detector and data loading; tabdiffusion methods: the package source outside
    its evaluation subpackage; smote: benchmarks/smote.py; argn: its worker.
    """
    paths = [PurePosixPath("benchmarks/protocol.py"), PurePosixPath("benchmarks/tabddpm_data.py"),
             PurePosixPath("benchmarks/detector.py")]
    if method == "argn":
        paths.append(PurePosixPath("benchmarks/argn_worker.py"))
    if method == "smote":
        paths.append(PurePosixPath("benchmarks/smote.py"))
    packaged = method in ("tabdiffusion", "tdflow", "tabddpm")
    if commit is None:
        files = {path: (ROOT.parent / path).read_bytes() for path in paths}
        if packaged:  # the imported package: an installed copy is hashed as installed
            import tabdiffusion

            package = Path(tabdiffusion.__file__).resolve().parent
            files |= {PurePosixPath("tabdiffusion") / f.relative_to(package).as_posix(): f.read_bytes()
                      for f in package.rglob("*.py") if not _is_evaluation(f.relative_to(package).parts)}
        return files
    if packaged:
        listed = _git("ls-tree", "-r", "--name-only", commit, "--", "tabdiffusion").decode().splitlines()
        paths += [PurePosixPath(p) for p in listed
                  if p.endswith(".py") and not _is_evaluation(PurePosixPath(p).parts[1:])]
    return {path: _git("show", f"{commit}:{path}") for path in paths}


def _is_evaluation(parts: tuple[str, ...]) -> bool:
    return bool({"evaluation", "evaluate"} & set(parts))


def _git(*args: str) -> bytes:
    try:
        return subprocess.run(["git", *args], cwd=ROOT.parent, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        message = f"--accept-code: git {' '.join(args)} failed ({exc}); name a commit of this repository"
        raise SystemExit(message) from None


def computing_arguments(given: list[str]) -> list[str]:
    """The command-line arguments without the assembling ones (--cached-only, --keep-from FILE, --cache DIR), which
    say where results come from, not how they are computed."""
    kept, skip = [], False
    for argument in given:
        if skip:
            skip = False
        elif argument == "--cached-only" or argument.startswith(("--keep-from=", "--cache=")):
            continue
        elif argument in ("--keep-from", "--cache"):
            skip = True
        else:
            kept.append(argument)
    return kept


def code_fingerprint(method: str, commit: str | None = None) -> str:
    """A hash of the code a cell's result depends on, so cached cells go stale when that code changes.

    `commit` hashes that commit's files instead of the working tree (to find cells computed at it); SDV methods add
    the installed SDV version.
    """
    extra = ""
    if method in registry.SDV_METHODS:
        try:
            from importlib.metadata import version

            extra = version("sdv")
        except Exception:  # noqa: BLE001
            extra = "none"
    return _hash_files(_code_files(method, commit)) + extra


# ------------------------------------------------------------------------------------------------------- machine
def machine() -> dict:
    """CPU model, cores, memory and library versions of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for name in ("tabdiffusion", "torch", "catboost", "numpy", "pandas", "sklearn", "sdv"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 - optional packages
            versions[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        # Tracked files that differ from that commit (results and docs excluded: the run writes them).
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.splitlines()
        changes = [line[3:] for line in status if not line[3:].startswith(("benchmarks/results/", "docs/"))]
    except (OSError, subprocess.CalledProcessError):
        commit, changes = None, []
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory, "platform": platform.platform(),
            "versions": versions, "git_commit": commit, "git_changes": changes}


# ------------------------------------------------------------------------------------------------------ evaluate
def _evaluate_function():
    """tabdiffusion's evaluate and Limits, wherever this version keeps them; (None, None) when absent."""
    import importlib

    for module in ("tabdiffusion.evaluation", "tabdiffusion.evaluate"):
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        function = getattr(found, "evaluate", None)
        if callable(function):
            return function, getattr(found, "Limits", None)
    return None, None


def fidelity_scores(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame, settings: Settings,
                    seed: int) -> dict:
    """evaluate()'s flat scores (without its own efficacy group) and seconds, or a note why there are none."""
    evaluate, limits_cls = _evaluate_function()
    if evaluate is None:
        return {"note": "tabdiffusion.evaluate is not available in this version"}
    kwargs = {}
    if limits_cls is not None:
        cap = settings.evaluate_rows
        kwargs["limits"] = limits_cls(max_rows_neighbors=cap, max_rows_detection=cap)
    start = time.perf_counter()
    try:
        result = evaluate(real, synthetic, holdout=holdout, target=TARGET, seed=seed, metrics=list(EVALUATE_GROUPS),
                          n_jobs=settings.threads, verbose=False, **kwargs)
    except TypeError:  # an older signature: only the documented arguments
        result = evaluate(real=real, synthetic=synthetic, holdout=holdout, target=TARGET, seed=seed)
    return {"scores": {k: float(v) for k, v in result.scores.items()}, "seconds": round(time.perf_counter() - start, 2)}


# ------------------------------------------------------------------------------------------------------- cells
def _cell_path(cache: Path, dataset: str, method: str, seed: int, key: str, fit_seed: int = 0) -> Path:
    """The cache file of one cell: <cache>/<dataset>/<method>/[fit<f>-]seed<k>-<settings key>.json (fit seed 0 has
    no prefix: the cells of runs with one fit)."""
    return cache / dataset / method / f"{f'fit{fit_seed}-' if fit_seed else ''}seed{seed}-{key}.json"


def _write_json(path: Path, payload: dict) -> None:
    """Atomically write JSON (NaN is not valid JSON: fail loudly instead)."""
    text = json.dumps(payload, indent=1, allow_nan=False) + "\n"
    atomic_write(path, lambda temp: Path(temp).write_text(text))


def _catboost_runs(train: pd.DataFrame, data: Dataset, settings: Settings, seeds: int | None = None) -> list[dict]:
    return [catboost_score(train, data, seed, settings.threads) for seed in range(seeds or settings.catboost_seeds)]


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def draw(generator: registry.Generator, targets: list[int], seed: int, budget: float | None) -> tuple[pd.DataFrame, dict]:
    """Sample up to max(targets) rows; slow (chunked) samplers stop when `budget` seconds are spent.

    Rows are drawn in order, so the first n rows of the result are a sample of size n. Returns the rows and, per
    target, the rows reached and the seconds spent when they were reached.
    """
    parts: list[pd.DataFrame] = []
    done, spent, chunk_index, truncated = 0, 0.0, 0, False
    marks: dict[int, dict] = {}
    for target in sorted(set(targets)):
        while done < target and not truncated:
            want = target - done
            if generator.chunked:
                rate = done / spent if spent > 0 and done > 0 else None
                # A small first chunk measures the speed; later chunks use what is left of the budget.
                size = min(want, 64) if rate is None else min(want, 16384)
                if budget is not None and rate is not None:
                    affordable = int(rate * (budget - spent) * 0.9)
                    if affordable < min(want, 64):
                        truncated = True
                        break
                    size = min(size, affordable)
            else:
                size = want
            start = time.perf_counter()
            part = generator.sample(size, seed=_seed(seed, chunk_index))
            spent += time.perf_counter() - start
            chunk_index += 1
            parts.append(part)
            done += len(part)
        marks[target] = {"rows": done, "seconds": round(spent, 3), "truncated": done < target}
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    return frame, marks


def _paper_rows(data: Dataset) -> int:
    config = paper_results().get(data.name, {}).get("tabddpm_config") or {}
    return int(config.get("num_samples") or len(data.train))


def run_real(data: Dataset, settings: Settings) -> dict:
    """The real row: tuned CatBoost on the real train split; evaluate()'s scores of real val as if synthetic."""
    start = time.perf_counter()
    cell = {"dataset": data.name, "method": "real", "seed": 0, "status": "ok",
            "runs": {"train": _catboost_runs(data.train, data, settings, settings.real_catboost_seeds)}}
    if settings.evaluate:
        # A reference for the fidelity/privacy scores: fresh real rows (val) scored as if they were synthetic.
        cell["evaluate"] = fidelity_scores(data.train, data.val, data.test, settings, seed=0)
    if settings.strong_detector:
        cell["strong_detection"] = strong_detection(data.train, data.val, _categorical(data), seed=0,
                                                    threads=settings.threads)
    cell["score_seconds"] = round(time.perf_counter() - start, 2)
    return cell


def run_generator(data: Dataset, method: str, seeds: list[int], settings: Settings, fit_seed: int = 0) -> list[dict]:
    """Cells of one method on one dataset: fit once (with `fit_seed`), sample every seed, then CatBoost and evaluate
    per seed.

    All sampling happens before any scoring: evaluate() leaves OpenMP thread pools behind that can make torch
    sampling in the same process many times slower.
    """
    generator = registry.make(method, data, budget=settings.budget, seed=fit_seed, steps=settings.steps)
    start = time.perf_counter()
    fit_info = generator.fit(data.train)
    fit_info = {"seconds": round(time.perf_counter() - start, 3), **fit_info}
    wanted = {"train": len(data.train), "paper": _paper_rows(data)}
    sizes = settings.sizes_for(method)
    wanted = {size: wanted[size] for size in sizes}
    if settings.max_rows:
        wanted = {size: min(n, settings.max_rows) for size, n in wanted.items()}
    budget = settings.sample_budget if generator.chunked else None
    drawn = {seed: draw(generator, list(wanted.values()), seed, budget) for seed in seeds}
    del generator
    cells = []
    for seed, (synthetic, marks) in drawn.items():
        begin = time.perf_counter()
        cell = {"dataset": data.name, "method": method, "seed": seed, "fit_seed": fit_seed, "status": "ok",
                "fit": fit_info, "sizes": {}, "runs": {}}
        for size, n in wanted.items():
            reached = marks[n]
            cell["sizes"][size] = {"rows_requested": n, **reached}
            seeds_here = settings.paper_catboost_seeds if size == "paper" else settings.catboost_seeds
            cell["runs"][size] = _catboost_runs(synthetic.iloc[: reached["rows"]], data, settings, seeds_here)
        if settings.evaluate:
            first = synthetic.iloc[: marks[wanted[sizes[0]]]["rows"]]
            cell["evaluate"] = fidelity_scores(data.train, first, data.test, settings, seed=seed)
        if settings.strong_detector:
            first = synthetic.iloc[: marks[wanted[sizes[0]]]["rows"]]
            cell["strong_detection"] = strong_detection(data.train, first, _categorical(data), seed=seed,
                                                        threads=settings.threads)
        cell["score_seconds"] = round(time.perf_counter() - begin, 2)
        cells.append(cell)
    return cells


def _categorical(data: Dataset) -> list[str]:
    """The columns the strong detector reads as categories: the categorical features and a class target."""
    return list(data.cat_columns) + ([TARGET] if data.is_classification else [])


def run_group(name: str, method: str, seeds: list[int], settings: Settings, cache: Path, key: str,
              fit_seed: int = 0) -> None:
    """Compute the cells (name, method, fit_seed, seed) for `seeds` in this process and cache them under `key`."""
    data = _load(name, settings)
    cells = [run_real(data, settings)] if method == "real" else run_generator(data, method, seeds, settings, fit_seed)
    for cell in cells:
        cell["settings_key"] = key
        _write_json(_cell_path(cache, name, method, cell["seed"], key, fit_seed), cell)


def _load(name: str, settings: Settings) -> Dataset:
    data = load_any(name)
    return data.subsample(settings.rows) if settings.rows else data


def run_cells(name: str, method: str, settings: Settings, cache: Path, log, isolate: bool = True,
              compute: bool = True, accept: dict[str, str] | None = None) -> list[dict]:
    """The cells of (name, method, every fit seed, every sampling seed): cached ones are read, missing ones computed.

    With `isolate`, the missing cells of each fit are computed in a child process (clean timings and thread pools,
    memory returned after each fit, a crash contained); failures come back as status 'error' and are not cached, so
    a rerun retries them. Without `compute`, missing cells come back as status 'not run'. `accept` maps the cache
    keys of earlier commits' code to the commit: a cell cached under one of them stands in for a missing one and
    records that commit as "code_commit".
    """
    fits = [0] if method in UNSEEDED_METHODS else list(range(settings.fit_seeds))
    seeds = [0] if method == "real" else list(range(settings.sample_seeds))
    key = settings.key(method)  # computed once: the code it hashes may change while the benchmark runs
    cells = []
    for fit in fits:
        paths = {seed: _cell_path(cache, name, method, seed, key, fit) for seed in seeds}
        accepted: dict[int, str] = {}
        for seed in seeds:
            for other, commit in (accept or {}).items():
                candidate = _cell_path(cache, name, method, seed, other, fit)
                if not paths[seed].exists() and candidate.exists():
                    paths[seed], accepted[seed] = candidate, commit
        missing = [seed for seed, path in paths.items() if not path.exists()]
        error = None
        if missing and compute:
            start = time.perf_counter()
            if isolate:
                job = json.dumps({"name": name, "method": method, "seeds": missing, "settings": asdict(settings),
                                  "cache": str(cache), "key": key, "fit_seed": fit})
                done = subprocess.run([sys.executable, "-m", "benchmarks.tabddpm", "--run-group", job],
                                      cwd=ROOT.parent, capture_output=True, text=True)
                if done.returncode != 0:
                    error = f"exit {done.returncode}: " + (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                    error_detail = done.stderr[-3000:]
            else:
                try:
                    run_group(name, method, missing, settings, cache, key, fit)
                except Exception as exc:  # noqa: BLE001 - one failing method must not stop the benchmark
                    error, error_detail = f"{type(exc).__name__}: {exc}", traceback.format_exc()[-3000:]
            elapsed = time.perf_counter() - start
        label = f"fit {fit} seed" if len(fits) > 1 else "seed"
        for seed, path in paths.items():
            if path.exists():
                cell = json.loads(path.read_text())
                note = "cached" if seed not in missing else f"{elapsed:.0f} s for {len(missing)} cell(s)"
                if seed in accepted:
                    cell["code_commit"] = accepted[seed]
                    note += f" at {accepted[seed]}"
                scores = ", ".join(f"{size} {np.mean([r['score'] for r in runs]):.4f}"
                                   for size, runs in cell["runs"].items())
                log(f"{name:<11} {method:<15} {label} {seed}: {scores} ({note})")
            elif not compute:
                cell = {"dataset": name, "method": method, "seed": seed, "fit_seed": fit, "status": "not run"}
                log(f"{name:<11} {method:<15} {label} {seed}: not in the cache (--cached-only)")
            else:
                cell = {"dataset": name, "method": method, "seed": seed, "fit_seed": fit, "status": "error",
                        "error": error or "no result", "traceback": error_detail if error else ""}
                log(f"{name:<11} {method:<15} {label} {seed}: ERROR {cell['error']}")
            cells.append(cell)
    return cells


# --------------------------------------------------------------------------------------------------- aggregate
def _stats(values: list[float]) -> dict | None:
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return {"mean": float(array.mean()), "std": float(array.std()), "n": int(array.size)}


def aggregate(cells: list[dict], data: Dataset) -> dict:
    """One method's cells on one dataset -> mean/std over all (fit seed, sampling seed, CatBoost seed) runs, etc."""
    ok = [c for c in cells if c.get("status") == "ok"]
    not_run = all(c.get("status") == "not run" for c in cells)
    out: dict = {"status": "ok" if ok else "not run" if not_run else "error", "seeds": [c["seed"] for c in ok]}
    fit_seeds = sorted({c.get("fit_seed", 0) for c in ok})
    if len(fit_seeds) > 1:
        out["fit_seeds"] = fit_seeds
    errors = [c["error"] for c in cells if c.get("status") == "error"]
    if errors:
        out["errors"] = errors
    if not ok:
        return out
    out["sizes"] = {}
    for size in ok[0]["runs"]:
        runs = [r for c in ok for r in c["runs"].get(size, [])]
        entry = {"score": _stats([r["score"] for r in runs]),
                 "seed_means": [float(np.mean([r["score"] for r in c["runs"][size]])) for c in ok],
                 "val_score": _stats([r["val_score"] for r in runs]),
                 "catboost_seconds": _stats([r["seconds"] for r in runs])}
        if len(fit_seeds) > 1:  # each fit's mean over its (sampling seed, CatBoost seed) runs
            entry["fit_means"] = [float(np.mean([r["score"] for c in ok if c.get("fit_seed", 0) == fit
                                                 for r in c["runs"][size]])) for fit in fit_seeds]
        sized = [c["sizes"][size] for c in ok if "sizes" in c]
        if sized:
            entry["rows_requested"] = sized[0]["rows_requested"]
            entry["rows"] = _stats([s["rows"] for s in sized])
            entry["sample_seconds"] = _stats([s["seconds"] for s in sized])
            entry["truncated"] = any(s["truncated"] for s in sized)
        else:
            entry["rows"] = _stats([len(data.train)])
        out["sizes"][size] = entry
    # One fit's info per fit seed (its cells share it).
    fits = list({c.get("fit_seed", 0): c["fit"] for c in ok if "fit" in c}.values())
    if fits:
        out["fit"] = fits[0] if len({json.dumps(f, sort_keys=True) for f in fits}) == 1 else fits
        out["fit_seconds"] = _stats([f["seconds"] for f in fits])
    scored = [c["evaluate"]["scores"] for c in ok if "scores" in c.get("evaluate", {})]
    if scored:
        names = sorted(set().union(*scored))
        out["evaluate"] = {name: _stats([s[name] for s in scored if name in s]) for name in names}
        out["evaluate_seconds"] = _stats([c["evaluate"]["seconds"] for c in ok if "seconds" in c.get("evaluate", {})])
    strong = [c["strong_detection"] for c in ok if "strong_detection" in c]
    if strong:
        columns = list(strong[0]["importance"])
        importance = {name: float(np.mean([s["importance"].get(name, 0.0) for s in strong])) for name in columns}
        out["strong_detection"] = {"auc": _stats([s["auc"] for s in strong]), "rows": strong[0]["rows"],
                                   "seconds": _stats([s["seconds"] for s in strong]),
                                   "importance": dict(sorted(importance.items(), key=lambda kv: -kv[1]))}
    notes = [c["evaluate"]["note"] for c in ok if "note" in c.get("evaluate", {})]
    if notes:
        out["evaluate_note"] = notes[0]
    if any("code_commit" in c for c in ok):  # --accept-code: computed with an earlier commit's code
        out["code_commits"] = sorted({c.get("code_commit", "current") for c in ok})
    return out


def read_kept(path: Path, settings: Settings) -> dict:
    """An earlier results file whose entries may stand in for uncached ones; its settings must equal this run's."""
    try:
        kept = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"--keep-from {path}: cannot read it as a results file ({error})") from None
    ours = json.loads(json.dumps(asdict(settings)))
    # The fit count may differ: each entry records its own fits ("fit_seeds"; one fit where absent).
    differ = sorted(k for k in set(ours) | set(kept.get("settings", {}))
                    if k != "fit_seeds" and ours.get(k) != kept["settings"].get(k))
    if differ:
        raise SystemExit(f"--keep-from {path}: its settings differ from this run's in {', '.join(differ)}; "
                         "keep only entries computed with the same settings (same --budget, seeds, sizes, ...)")
    return kept


def kept_entry(kept: dict, source: str, name: str, method: str) -> dict | None:
    """The earlier file's entry for (name, method), marked with its file and the commits it was computed at."""
    entry = kept["datasets"].get(name, {}).get("methods", {}).get(method)
    if not entry or entry.get("status") != "ok":
        return None
    commit = kept["machine"].get("git_commit") or "unknown"
    commits = [commit if c == "current" else c for c in entry.get("code_commits", ["current"])]
    # Where the entry was computed. An entry the earlier file had itself kept names its own origin; files written
    # before per-entry origins stored only a path there, with the origin in the file-level "kept_from".
    origin = entry.get("kept_from")
    if not isinstance(origin, dict):
        origin = (kept.get("kept_from") if origin else None) or {"file": source, "date": kept.get("date"),
                                                                  "machine": kept["machine"]}
    return {**entry, "code_commits": sorted(set(commits)), "kept_from": origin}


def paper_entry(name: str) -> dict:
    """The paper's published numbers for a dataset (scores, std and median DCR), and its num_samples."""
    published = paper_results().get(name, {})
    scores = {k: v for k, v in published.items() if isinstance(v, dict) and "score" in v}
    return {"scores": scores, "num_samples": (published.get("tabddpm_config") or {}).get("num_samples")}


# -------------------------------------------------------------------------------------------------------- main
def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tabddpm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="all", help="comma-separated names, or 'all' (the 13 complete ones and the generated wide200)")
    parser.add_argument("--methods", default="all", help=f"comma-separated from {','.join(registry.METHODS)}, or 'all'")
    parser.add_argument("--budget", type=float, help="seconds per generator fit (default 300; --quick: 60)")
    parser.add_argument("--sample-budget", type=float,
                        help="seconds per synthetic set for slow samplers (default: --budget; 0: unbounded)")
    parser.add_argument("--catboost-seeds", type=int, help="CatBoost seeds per synthetic set (default 3; --quick: 2)")
    parser.add_argument("--paper-catboost-seeds", type=int, default=1,
                        help="CatBoost seeds per paper-size synthetic set (default 1: those sets are up to 8x larger)")
    parser.add_argument("--real-catboost-seeds", type=int, default=5, help="CatBoost seeds of the real row (default 5)")
    parser.add_argument("--sample-seeds", type=int, default=2, help="sampling seeds per method (default 2)")
    parser.add_argument("--fit-seeds", type=int, default=1,
                        help="fits per seeded generator, each sampled --sample-seeds times (default 1); the scores "
                        "average over them. With --cached-only, the fits found in the cache")
    parser.add_argument("--sizes", help="synthetic set sizes: train,paper (default both; --quick: train)")
    parser.add_argument("--max-rows", type=int, help="cap on the rows of every synthetic set (default: none)")
    parser.add_argument("--threads", type=int, default=2, help="CatBoost, torch and evaluate threads (default 2)")
    parser.add_argument("--torch-threads", type=int,
                        help="torch threads only (default: --threads); 1 on a machine shared with other jobs, where "
                        "two torch threads on two busy cores make small sampling batches tens of times slower")
    parser.add_argument("--steps", type=int, help="override tabdiffusion's step count (smoke tests)")
    parser.add_argument("--rows", type=int, help="subsample every split to this many rows (smoke tests)")
    parser.add_argument("--no-evaluate", action="store_true", help="skip tabdiffusion.evaluate's scores")
    parser.add_argument("--no-strong-detector", action="store_true",
                        help="skip the CatBoost detector on up to 20,000 rows per side (benchmarks/detector.py)")
    parser.add_argument("--quick", action="store_true", help="fewer seeds, smaller budget, train size only")
    parser.add_argument("--out", help="results JSON (default benchmarks/results/tabddpm-full.json or -quick.json)")
    parser.add_argument("--cached-only", action="store_true",
                        help="compute nothing: assemble the results and docs from cached cells, marking the others "
                        "'not run' (to combine a run split over sessions, or to see how far it got)")
    parser.add_argument("--accept-code", default="",
                        help="comma-separated METHOD=COMMIT: a cell of METHOD missing for the current code may come "
                        "from the cache of COMMIT's code, when the changes since do not touch that method's path; the "
                        "results and docs name the commit of every such cell")
    parser.add_argument("--keep-from", metavar="RESULTS_JSON",
                        help="with --cached-only: a (dataset, method) with no cached cell keeps its entry from this "
                        "earlier results file of the same settings (e.g. the --out file itself, when the cache is "
                        "gone), named in the results and docs with the commit it was computed at")
    parser.add_argument("--in-process", action="store_true",
                        help="compute cells in this process instead of one child process per (dataset, method)")
    parser.add_argument("--run-group", help=argparse.SUPPRESS)  # internal: the child process's job, as JSON
    parser.add_argument("--cache", default=str(CACHE), help="folder of the cached cells (default %(default)s)")
    parser.add_argument("--docs", default=str(DOCS), help="Markdown to regenerate from benchmarks/results/*.json "
                        "('' to skip)")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    budget = args.budget if args.budget is not None else (60.0 if args.quick else 300.0)
    sample_budget = budget if args.sample_budget is None else (None if args.sample_budget == 0 else args.sample_budget)
    sizes = tuple(args.sizes.split(",")) if args.sizes else (("train",) if args.quick else SIZES)
    unknown = set(sizes) - set(SIZES)
    if unknown or not sizes:
        raise SystemExit(f"--sizes: unknown {sorted(unknown)}; use train and/or paper")
    return Settings(
        budget=budget, sample_budget=sample_budget,
        catboost_seeds=args.catboost_seeds or (2 if args.quick else 3), real_catboost_seeds=args.real_catboost_seeds,
        paper_catboost_seeds=args.paper_catboost_seeds, sample_seeds=args.sample_seeds, fit_seeds=args.fit_seeds,
        sizes=sizes, max_rows=args.max_rows, threads=args.threads, torch_threads=args.torch_threads, steps=args.steps,
        evaluate=not args.no_evaluate, strong_detector=not args.no_strong_detector, rows=args.rows, quick=args.quick,
    )


def main(argv: list[str] | None = None) -> Path:
    args = parse(argv)
    if args.run_group:
        job = json.loads(args.run_group)
        import torch

        settings = Settings(**{**job["settings"], "sizes": tuple(job["settings"]["sizes"])})
        torch.set_num_threads(settings.torch_threads or settings.threads)
        run_group(job["name"], job["method"], job["seeds"], settings, Path(job["cache"]), job["key"],
                  job.get("fit_seed", 0))
        return Path(job["cache"])
    settings = settings_from(args)
    names = list(COMPLETE + GENERATED) if args.datasets == "all" else [n.strip() for n in args.datasets.split(",") if n.strip()]
    wanted = list(registry.METHODS) if args.methods == "all" else [m.strip() for m in args.methods.split(",")]
    if "real" not in wanted:
        wanted.insert(0, "real")  # every table needs its real row
    bad = [m for m in wanted if m not in registry.METHODS]
    if bad:
        raise SystemExit(f"--methods: unknown {bad}; choose from {', '.join(registry.METHODS)}")
    cache = Path(args.cache)
    out = Path(args.out) if args.out else RESULTS / f"tabddpm-{'quick' if settings.quick else 'full'}.json"
    given = list(sys.argv[1:] if argv is None else argv)
    # The command that computes these results: --cached-only only assembles what earlier invocations computed.
    command = "python -m benchmarks.tabddpm " + shlex.join(computing_arguments(given))
    if args.keep_from and not args.cached_only:
        raise SystemExit("--keep-from assembles: use it with --cached-only (compute first, then assemble)")
    kept = read_kept(Path(args.keep_from), settings) if args.keep_from else None

    import torch

    torch.set_num_threads(settings.torch_threads or settings.threads)

    def log(message: str) -> None:
        print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)

    skipped = {m: why for m in wanted if (why := registry.unavailable(m))}
    accept_pairs = [pair.strip().partition("=") for pair in args.accept_code.split(",") if pair.strip()]
    if any(not commit or method not in registry.METHODS for method, _, commit in accept_pairs):
        raise SystemExit(f"--accept-code {args.accept_code!r}: give METHOD=COMMIT pairs, METHOD one of "
                         f"{', '.join(registry.METHODS)}")
    accept_commits = [f"{method}={commit}" for method, _, commit in accept_pairs]
    accept = {m: {settings.key(m, c): c for method, _, c in accept_pairs if method == m}
              for m in wanted if m not in skipped}
    for method, why in skipped.items():
        log(f"skipping {method}: {why}")
    started = time.perf_counter()
    results: dict = {
        "benchmark": "tabddpm", "command": command, "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "settings": asdict(settings), "methods": wanted, "skipped": skipped,
        "assembled_from_cache": bool(args.cached_only), "accepted_code": accept_commits,
        "kept_from": args.keep_from and {"file": args.keep_from, "date": kept.get("date"), "machine": kept["machine"]},
        "protocol": ("TabDDPM paper (yandex-research/tab-ddpm eval_catboost): tuned CatBoost per dataset, early stopping "
                     "on the real val split, real test split scored; macro F1 (classification), R2 (regression); "
                     f"thread_count={settings.threads} instead of the tuned files' 4"),
        "datasets": {},
    }
    for name in names:
        data = _load(name, settings)
        entry = {"task": data.task, "metric": metric_name(data.task),
                 "rows": {split: len(getattr(data, split)) for split in ("train", "val", "test")},
                 "paper": paper_entry(name), "methods": {}}
        for method in wanted:
            if method in skipped:
                entry["methods"][method] = {"status": "skipped", "note": skipped[method]}
                continue
            cells = run_cells(name, method, settings, cache, log, isolate=not args.in_process,
                              compute=not args.cached_only, accept=accept[method])
            entry["methods"][method] = aggregate(cells, data)
            if kept is not None and entry["methods"][method]["status"] == "not run":
                entry["methods"][method] = kept_entry(kept, args.keep_from, name, method) or entry["methods"][method]
        results["datasets"][name] = entry
    results["seconds"] = round(time.perf_counter() - started, 1)
    _write_json(out, results)
    log(f"wrote {out}")
    if args.docs:
        from .report import write_docs

        # Results kept in benchmarks/results/ are documented together; a results file elsewhere on its own.
        inside = out.resolve().parent == RESULTS.resolve()
        write_docs(Path(args.docs), sorted(RESULTS.glob("*.json")) if inside else [out.resolve()])
        log(f"wrote {args.docs}")
    return out


if __name__ == "__main__":
    main()
