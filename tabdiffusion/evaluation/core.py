"""`evaluate`: run every metric group on real, synthetic and (optionally) holdout tables."""

from __future__ import annotations

import time
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..errors import ParameterError
from ._data import prepare
from .coverage import coverage
from .detection import detection
from .efficacy import efficacy
from .embedding import fit_embedder
from .fidelity import column_pair_trends, column_shapes
from .limits import Limits
from .privacy import privacy
from .result import EvaluationResult, jsonable
from .validity import validity
from .verdicts import verdicts

GROUPS = ("fidelity", "validity", "detection", "coverage", "privacy", "efficacy")


def _seed_sequence(seed: int | np.random.Generator | None) -> np.random.SeedSequence:
    """One SeedSequence from an int, a Generator (one draw from it) or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63 - 1)))
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0):
        raise ParameterError(f"seed must be a non-negative int, a numpy Generator or None, got {seed!r}.")
    return np.random.SeedSequence(None if seed is None else int(seed))


def _group_rng(root: np.random.SeedSequence, group: str) -> np.random.Generator:
    """A generator per metric group, independent of which other groups run."""
    return np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=(GROUPS.index(group),)))


def evaluate(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    holdout: pd.DataFrame | None = None,
    target: str | None = None,
    *,
    seed: int | np.random.Generator | None = 0,
    task: str = "auto",
    column_types: Mapping[str, str] | None = None,
    limits: Limits | None = None,
    metrics: str | tuple[str, ...] | list[str] | None = None,
    n_jobs: int = -1,
    verbose: bool = True,
    guarantee: Mapping | object | None = None,
) -> EvaluationResult:
    """Score a synthetic table against the real (training) table and an optional real holdout table.

    `guarantee`: the differential-privacy guarantee of the generator (a fitted Synthesizer's `privacy_`, or its
    dict), shown in the report's privacy section beside the attacks."""
    limits = limits or Limits()
    if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ParameterError(f"n_jobs must be -1 (all cores) or a positive int, got {n_jobs!r}.")
    if not isinstance(limits, Limits):
        raise ParameterError(f"limits must be a tabdiffusion.evaluation.Limits, got {type(limits).__name__}.")
    wanted = (metrics,) if isinstance(metrics, str) else tuple(GROUPS if metrics is None else metrics)
    unknown = sorted(set(wanted) - set(GROUPS))
    if unknown:
        raise ParameterError(f"metrics names unknown groups {unknown}; choose from {list(GROUPS)}.")
    root = _seed_sequence(seed)
    prep = prepare(real, synthetic, holdout, target, column_types)
    embedder = None

    def need_embedder():
        nonlocal embedder
        if embedder is None:
            embedder = fit_embedder(prep, limits.max_categories_embedding)
        return embedder

    scores: dict[str, float] = {}
    details: dict = {
        "columns": {},
        "skipped_columns": prep.skipped,
        "kinds": prep.kinds,
        "rows": {"real": len(prep.real), "synthetic": len(prep.synthetic), "holdout": None if holdout is None else len(prep.holdout)},
        "target": prep.target,
        "seed": "generator" if isinstance(seed, np.random.Generator) else seed if seed is None else int(seed),
        "limits": limits.to_dict(),
        "subsampled": {},
        "skipped_groups": {},
        "seconds": {},
        "guarantee": guarantee.to_dict() if hasattr(guarantee, "to_dict") else None if guarantee is None else dict(guarantee),
    }
    steps: dict[str, Callable[[np.random.Generator], None]] = {}

    def run_fidelity(rng: np.random.Generator) -> None:
        shape_scores, columns = column_shapes(prep)
        pair_scores, pairs, associations, sampled = column_pair_trends(prep, limits, rng)
        scores.update(shape_scores)
        scores.update(pair_scores)
        if "fidelity.column_pair_trends" in pair_scores:
            overall = (shape_scores["fidelity.column_shapes"] + pair_scores["fidelity.column_pair_trends"]) / 2
            scores["fidelity.overall"] = overall
            scores["fidelity.overall_error"] = 1.0 - overall
        for name, entry in columns.items():
            details["columns"].setdefault(name, {}).update(entry)
        details["pairs"] = pairs
        details["associations"] = associations
        details["subsampled"]["pairs"] = sampled

    def run_validity(rng: np.random.Generator) -> None:
        valid_scores, columns = validity(prep)
        scores.update(valid_scores)
        for name, entry in columns.items():
            details["columns"].setdefault(name, {})["validity"] = entry

    def run_detection(rng: np.random.Generator) -> None:
        found, info = detection(prep, limits, rng)
        scores.update(found)
        details["detection"] = info
        details["subsampled"]["detection"] = info.get("subsampled")

    def run_coverage(rng: np.random.Generator) -> None:
        found, info = coverage(prep, need_embedder(), limits, rng)
        scores.update(found)
        details["coverage"] = info
        details["subsampled"]["coverage"] = info["subsampled"]

    def run_privacy(rng: np.random.Generator) -> None:
        found, info = privacy(prep, need_embedder(), limits, rng)
        scores.update(found)
        details["privacy"] = info
        details["subsampled"]["privacy"] = info["subsampled"]

    def run_efficacy(rng: np.random.Generator) -> None:
        found, info = efficacy(prep, limits, rng, task=task, n_jobs=n_jobs)
        scores.update(found)
        details["efficacy"] = info
        details["subsampled"]["efficacy"] = info.get("subsampled")

    runners = {
        "fidelity": run_fidelity,
        "validity": run_validity,
        "detection": run_detection,
        "coverage": run_coverage,
        "privacy": run_privacy,
        "efficacy": run_efficacy,
    }
    for group in GROUPS:
        if group not in wanted:
            continue
        if group == "efficacy" and (prep.target is None or prep.holdout is None):
            details["skipped_groups"]["efficacy"] = "needs both target= and holdout="
            continue
        steps[group] = runners[group]
    bar = tqdm(steps.items(), total=len(steps), desc="evaluate", unit="group", disable=not verbose, leave=False)
    # n_jobs > 0 also caps the OpenMP/BLAS threads of numpy and scikit-learn (oversubscription is very slow).
    with threadpool_limits(limits=n_jobs if n_jobs > 0 else None):
        for group, step in bar:
            bar.set_postfix_str(group)
            start = time.perf_counter()
            step(_group_rng(root, group))
            details["seconds"][group] = round(time.perf_counter() - start, 3)
    bar.close()
    details["subsampled"] = {k: v for k, v in details["subsampled"].items() if v}
    details["verdicts"] = verdicts(scores, details["rows"])
    finite = {k: float(v) for k, v in scores.items() if v is not None and np.isfinite(v)}
    return EvaluationResult(scores=finite, details=jsonable(details))

