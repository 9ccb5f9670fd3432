"""Anonymeter's privacy risks: singling out, linkability and attribute inference, each against a control attack.

The method of Giomi, Boenisch, Wehmeyer and Tasnádi, "A Unified Framework for Quantifying Privacy Risk in Synthetic
Data", Proceedings on Privacy Enhancing Technologies 2023(2), and of its `anonymeter` package (Statice), written
anew here because the package pins numpy and pyarrow versions older than this package needs.

Each attack uses the synthetic table to learn something about real rows, and runs three times: on training rows
(the main attack), on holdout rows that the generator never saw (the control attack: what the synthetic table
tells about anyone in the population), and by random guessing (the baseline). A rate is the Wilson score centre of
successes over attacks, with the Wilson half-width at 95%; the risk is (main - control) / (1 - control), the share
of the attacker's room for improvement that only training rows give away, with both half-widths propagated to
first order, and the risk and its interval clipped to [0, 1], as the package does. An interval whose lower end is
above 0 says the synthetic table gives training rows away beyond what it tells about the population.

- Singling out: predicates built from the synthetic table that match exactly one synthetic row ("x <= its
  minimum", "x == a value only one row holds", "x is missing" where one row is) succeed when they match exactly
  one training row. The multivariate mode (three columns of a synthetic row, each pointed away from the median)
  is not in `evaluate`: its queries overlap, and its interval is too narrow (docs/experiments.md).
- Linkability: the columns are split into two halves, as if held by two parties; a training row is linked when
  its two halves have the same nearest synthetic row.
- Inference: knowing every column but a secret one, the attacker takes the secret of the nearest synthetic row;
  a guess is right when equal (categories) or within 5% of the guess (numbers).

How this differs from the package:
- Nearest rows are found by L2 distance in the DCR embedding (min-max numerics, one-hot / sqrt(2) categories, so
  the squared distance sums squared numeric differences and the count of differing categories), where the package
  sums absolute differences and differing categories (a Gower-like L1 distance); missing values are the
  embedding's (the median with an indicator; a category of their own).
- Singling out is scored on training and holdout samples of equal size, so the package's fitted correction for
  unequal sizes is not needed; its rates divide by the number of queries the synthetic table yielded (the package
  divides by the number requested, which understates the rate where fewer can be made). A comparison with a
  missing value is false, as in the package's polars queries.
- Inference pools its secret columns into one rate (the package scores one secret at a time; the per-column rates
  are in the details), and compares a numeric guess within 5% of its magnitude (the package divides by the signed
  guess, which counts every negative guess as right).
- Every random draw comes from an explicit generator.
"""

from __future__ import annotations

import dataclasses
import math
import operator

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..neighbours import nearest
from .embedding import Embedder
from .records import Anonymeter, AttackSummary

N_ATTACKS = 500  # targets (or queries) per attack, as the package's default
N_SECRETS = 3  # secret columns attacked by inference
MULTIVARIATE_COLUMNS = 3  # columns per multivariate singling-out query, as the package's default
MAX_QUERY_ATTEMPTS = 20  # multivariate queries tried per query wanted
TOLERANCE = 0.05  # a numeric secret is guessed right within this share of the guess
CONFIDENCE = 0.95

Condition = tuple[str, str, object]  # column, operator, value
Query = tuple[Condition, ...]  # the conditions, all of which a row must meet
_OPERATORS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, ">": operator.gt, "<=": operator.le,
              ">=": operator.ge}


def wilson(successes: float, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Centre and half-width of the Wilson score interval of a success rate."""
    z = float(norm.ppf(0.5 * (1.0 + confidence)))
    denominator = total + z * z
    centre = (successes + 0.5 * z * z) / denominator
    half = z / denominator * math.sqrt(successes * (total - successes) / total + 0.25 * z * z)
    return centre, half


def risk(main: tuple[float, float], control: tuple[float, float]) -> tuple[float, float, float]:
    """(main - control) / (1 - control) from two (rate, half-width) pairs, and its interval, all within [0, 1]."""
    (p, dp), (c, dc) = main, control
    value = (p - c) / (1.0 - c)
    error = math.hypot(dp / (1.0 - c), dc * (p - 1.0) / (1.0 - c) ** 2)

    def clip(x: float) -> float:
        return min(max(x, 0.0), 1.0)

    return clip(value), clip(value - error), clip(value + error)


def summarise(n_main: int, n_baseline: int, n_control: int, total: int) -> AttackSummary:
    """The rates of the three attacks and the risk with its interval, from success counts out of `total` attacks."""
    main, baseline, control = (wilson(n, total) for n in (n_main, n_baseline, n_control))
    value, low, high = risk(main, control)
    return AttackSummary(attack_rate=main[0], baseline_rate=baseline[0], control_rate=control[0], risk=value, low=low,
                         high=high, attacks=float(total))


def _restricted(embedder: Embedder, columns: list[str]) -> Embedder:
    """The embedding of `columns` only."""
    keep = set(columns)
    return dataclasses.replace(embedder, numeric=[c for c in embedder.numeric if c in keep],
                               categorical=[c for c in embedder.categorical if c in keep])


def _nearest_row(targets: pd.DataFrame, synthetic: pd.DataFrame, embedder: Embedder, columns: list[str]) -> np.ndarray:
    """Position of each target's nearest synthetic row on `columns`."""
    part = _restricted(embedder, columns)
    return nearest(part.transform(targets), part.transform(synthetic), 1)[1][:, 0]


Columns = dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (values, missing)


def _columns(frame: pd.DataFrame) -> Columns:
    """Each column's values and missing mask, looked up once for many queries."""
    return {c: (frame[c].to_numpy(), pd.isna(frame[c]).to_numpy()) for c in frame.columns}


def _matches(columns: Columns, query: Query) -> np.ndarray:
    """Boolean per row: does it meet every condition (a comparison with a missing value is false)."""
    mask = None
    for column, op, value in query:
        values, missing = columns[column]
        if op == "isna":
            hit = missing
        elif op == "notna":
            hit = ~missing
        else:
            with np.errstate(invalid="ignore"):
                hit = _OPERATORS[op](values, value) & ~missing
        mask = hit if mask is None else mask & hit
    return mask


def _singles_out(columns: Columns, queries: list[Query]) -> int:
    """How many queries match exactly one row."""
    return sum(int(np.count_nonzero(_matches(columns, q)) == 1) for q in queries)


def _univariate_queries(synthetic: pd.DataFrame, numeric: set[str]) -> list[Query]:
    """Every one-column query that may single out a synthetic row: the lone missing value, a numeric column's
    minimum and maximum, and each value held by one row."""
    queries: list[Query] = []
    for column in synthetic.columns:
        values = synthetic[column]
        if values.isna().sum() == 1:
            queries.append(((column, "isna", None),))
        present = values.dropna()
        if column in numeric and len(present):
            queries += [((column, "<=", float(present.min())),), ((column, ">=", float(present.max())),)]
        counts = present.value_counts()
        queries += [((column, "==", value),) for value in counts.index[counts.to_numpy() == 1]]
    return queries


def _record_query(columns: Columns, row: int, chosen: list[str], medians: dict[str, float]) -> Query:
    """A query on the chosen columns that the row meets, each numeric condition pointing away from the median."""
    conditions: list[Condition] = []
    for column in sorted(chosen):
        values, missing = columns[column]
        if missing[row]:
            conditions.append((column, "isna", None))
        elif column in medians:
            value = float(values[row])
            conditions.append((column, ">=" if value > medians[column] else "<=", value))
        else:
            conditions.append((column, "==", values[row]))
    return tuple(conditions)


def _multivariate_queries(synthetic: pd.DataFrame, numeric: set[str], n_columns: int, n_queries: int,
                          rng: np.random.Generator) -> list[Query]:
    """Queries on n_columns columns of random synthetic rows that single them out, up to n_queries of them."""
    medians = {c: float(synthetic[c].median()) for c in synthetic.columns if c in numeric}
    columns, names = _columns(synthetic), list(synthetic.columns)
    found: dict[Query, None] = {}
    for _ in range(MAX_QUERY_ATTEMPTS * n_queries):
        chosen = [names[i] for i in rng.choice(len(names), size=n_columns, replace=False)]
        query = _record_query(columns, int(rng.integers(len(synthetic))), chosen, medians)
        if query not in found and np.count_nonzero(_matches(columns, query)) == 1:
            found[query] = None
            if len(found) == n_queries:
                break
    return list(found)


def _random_queries(synthetic: pd.DataFrame, numeric: set[str], n_columns: int, n_queries: int,
                    rng: np.random.Generator) -> list[Query]:
    """The baseline's queries: random columns, each compared with one of its synthetic values by a random operator."""
    uniques = {c: pd.unique(synthetic[c].to_numpy()) for c in synthetic.columns}
    columns = list(synthetic.columns)
    queries = []
    for _ in range(n_queries):
        conditions = []
        for column in sorted(columns[i] for i in rng.choice(len(columns), size=n_columns, replace=False)):
            value = uniques[column][int(rng.integers(len(uniques[column])))]
            if pd.isna(value):
                conditions.append((column, ("isna", "notna")[int(rng.integers(2))], None))
            else:
                ops = ("==", "!=", "<", ">", "<=", ">=") if column in numeric else ("==", "!=")
                conditions.append((column, ops[int(rng.integers(len(ops)))], value))
        queries.append(tuple(conditions))
    return queries


def singling_out(train: pd.DataFrame, control: pd.DataFrame, synthetic: pd.DataFrame, numeric: set[str],
                 rng: np.random.Generator, n_attacks: int = N_ATTACKS,
                 mode: str = "univariate") -> AttackSummary | None:
    """Singling-out rates and risk on the distinct rows of equal-size training and control samples; None when the
    synthetic table yields no query."""
    if mode not in ("univariate", "multivariate"):
        raise ValueError(f"mode must be 'univariate' or 'multivariate', got {mode!r}.")
    train, control, synthetic = (t.drop_duplicates().reset_index(drop=True) for t in (train, control, synthetic))
    if mode == "univariate":
        n_columns, columns = 1, _columns(synthetic)
        candidates = _univariate_queries(synthetic, numeric)
        queries = []
        for i in rng.permutation(len(candidates)):
            if np.count_nonzero(_matches(columns, candidates[i])) == 1:
                queries.append(candidates[i])
                if len(queries) == n_attacks:
                    break
    else:
        n_columns = min(MULTIVARIATE_COLUMNS, synthetic.shape[1])
        queries = _multivariate_queries(synthetic, numeric, n_columns, n_attacks, rng)
    if not queries:
        return None
    baseline = _random_queries(synthetic, numeric, n_columns, len(queries), rng)
    on_train, on_control = _columns(train), _columns(control)
    return summarise(_singles_out(on_train, queries), _singles_out(on_train, baseline),
                     _singles_out(on_control, queries), len(queries))


def linkability(train: pd.DataFrame, control: pd.DataFrame, synthetic: pd.DataFrame, embedder: Embedder,
                rng: np.random.Generator, n_attacks: int = N_ATTACKS) -> tuple[AttackSummary, list[list[str]]]:
    """Linkability rates and risk, and the two column halves (a random split) the attacker holds."""
    columns = [str(c) for c in rng.permutation(list(train.columns))]
    halves = [columns[: len(columns) // 2], columns[len(columns) // 2 :]]
    n = min(n_attacks, len(train), len(control))

    def links(rows: pd.DataFrame) -> int:
        targets = rows.iloc[rng.choice(len(rows), size=n, replace=False)]
        first, second = (_nearest_row(targets, synthetic, embedder, half) for half in halves)
        return int(np.count_nonzero(first == second))

    guesses = rng.integers(len(synthetic), size=(2, n))
    return summarise(links(train), int(np.count_nonzero(guesses[0] == guesses[1])), links(control), n), halves


def _right(guesses: np.ndarray, secrets: np.ndarray, is_numeric: bool) -> np.ndarray:
    """Boolean per guess: equal to the secret, both missing, or for numbers within TOLERANCE of the guess."""
    both_missing = pd.isna(guesses) & pd.isna(secrets)
    if is_numeric:
        g, s = guesses.astype(float), secrets.astype(float)
        with np.errstate(invalid="ignore"):
            return both_missing | (np.abs(g - s) <= TOLERANCE * np.abs(g))
    return both_missing | (guesses == secrets)


def inference(train: pd.DataFrame, control: pd.DataFrame, synthetic: pd.DataFrame, embedder: Embedder,
              secrets: list[str], rng: np.random.Generator,
              n_attacks: int = N_ATTACKS) -> tuple[AttackSummary, dict[str, AttackSummary]]:
    """Inference rates and risk pooled over the secret columns, and the same per secret column."""
    n = min(n_attacks, len(train), len(control))
    train_targets = train.iloc[rng.choice(len(train), size=n, replace=False)]
    control_targets = control.iloc[rng.choice(len(control), size=n, replace=False)]
    counts, per_secret = np.zeros(3, dtype=int), {}
    for secret in secrets:
        aux = [c for c in train.columns if c != secret]
        truth = synthetic[secret].to_numpy()
        is_numeric = secret in embedder.numeric
        found = []
        for targets in (train_targets, control_targets):
            guesses = truth[_nearest_row(targets, synthetic, embedder, aux)]
            found.append(int(_right(guesses, targets[secret].to_numpy(), is_numeric).sum()))
        random_guesses = truth[rng.choice(len(synthetic), size=n, replace=len(synthetic) < n)]
        found.insert(1, int(_right(random_guesses, train_targets[secret].to_numpy(), is_numeric).sum()))
        counts += found
        per_secret[secret] = summarise(*found, n)
    return summarise(*counts, n * len(secrets)), per_secret


def anonymeter_risks(train: pd.DataFrame, control: pd.DataFrame, synthetic: pd.DataFrame, embedder: Embedder,
                     rng: np.random.Generator, n_attacks: int = N_ATTACKS) -> tuple[dict[str, float], Anonymeter]:
    """The privacy.* scores of the three attacks (univariate singling out) and their details.

    `train` and `control` should be samples of equal size (singling out counts matches in them); the synthetic
    table is what the attacker holds.
    """
    numeric = set(embedder.numeric)
    scores: dict[str, float] = {}
    details = Anonymeter(attacks=n_attacks)

    def record(name: str, found: AttackSummary | None) -> None:
        """The attack's scores and details, or its name among the skipped ones."""
        if found is None:
            details.skipped.append(name)
            return
        scores.update({f"privacy.{name}_{key}": value for key, value in found.to_dict().items() if key != "attacks"})
        setattr(details, name, found)

    record("singling_out", singling_out(train, control, synthetic, numeric, rng, n_attacks))
    if train.shape[1] < 2:
        details.skipped.extend(["linkability", "inference"])
        return scores, details
    found, details.linkability_columns = linkability(train, control, synthetic, embedder, rng, n_attacks)
    record("linkability", found)
    varying = [c for c in train.columns if train[c].nunique(dropna=False) > 1]
    secrets = [str(c) for c in rng.permutation(varying)[:N_SECRETS]] if varying else []
    if secrets:
        found, details.inference_secrets = inference(train, control, synthetic, embedder, secrets, rng, n_attacks)
        record("inference", found)
    else:
        details.skipped.append("inference")
    return scores, details
