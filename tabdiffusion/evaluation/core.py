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
from .fidelity import fidelity
from .jsonform import Record, jsonable
from .limits import Limits
from .privacy import privacy
from .records import GROUPS, Rows, RunInfo
from .result import EvaluationResult
from .validity import validity
from .verdicts import verdicts


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
        """The distance embedding, fitted once for the groups that use it."""
        nonlocal embedder
        if embedder is None:
            embedder = fit_embedder(prep, limits.max_categories_embedding)
        return embedder

    run = RunInfo(
        skipped_columns=prep.skipped, kinds=prep.kinds, target=prep.target,
        rows=Rows(real=len(prep.real), synthetic=len(prep.synthetic),
                  holdout=None if holdout is None else len(prep.holdout)),
        seed="generator" if isinstance(seed, np.random.Generator) else seed if seed is None else int(seed),
        limits=limits.to_dict(), skipped_groups={}, seconds={},
        guarantee=(guarantee.to_dict() if hasattr(guarantee, "to_dict") else None if guarantee is None
                   else dict(guarantee)),
    )
    runners: dict[str, Callable[[np.random.Generator], tuple[dict[str, float], Record]]] = {
        "fidelity": lambda rng: fidelity(prep, limits, rng),
        "validity": lambda rng: validity(prep),
        "detection": lambda rng: detection(prep, limits, rng),
        "coverage": lambda rng: coverage(prep, need_embedder(), limits, rng),
        "privacy": lambda rng: privacy(prep, need_embedder(), limits, rng),
        "efficacy": lambda rng: efficacy(prep, limits, rng, task=task, n_jobs=n_jobs),
    }
    steps = {}
    for group in GROUPS:
        if group not in wanted:
            continue
        if group == "efficacy" and (prep.target is None or prep.holdout is None):
            run.skipped_groups["efficacy"] = "needs both target= and holdout="
            continue
        steps[group] = runners[group]
    scores: dict[str, float] = {}
    groups: dict[str, Record] = {}
    bar = tqdm(steps.items(), total=len(steps), desc="evaluate", unit="group", disable=not verbose, leave=False)
    # n_jobs > 0 also caps the OpenMP/BLAS threads of numpy and scikit-learn (oversubscription is very slow).
    with threadpool_limits(limits=n_jobs if n_jobs > 0 else None):
        for group, step in bar:
            bar.set_postfix_str(group)
            start = time.perf_counter()
            found, groups[group] = step(_group_rng(root, group))
            scores.update(found)
            run.seconds[group] = round(time.perf_counter() - start, 3)
    bar.close()
    finite = {k: float(v) for k, v in scores.items() if v is not None and np.isfinite(v)}
    result = EvaluationResult(scores=finite, run=run, verdicts=verdicts(scores, run.rows.to_dict()), **groups)
    # Through the JSON form, so that a fresh result holds what a saved one loads back (NaN as None, Python numbers).
    return EvaluationResult.from_dict(jsonable(result.to_dict()))
