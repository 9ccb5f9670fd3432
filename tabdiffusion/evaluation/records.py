"""The typed parts of an evaluation: the run's facts, one record per metric group, and the verdicts.

Each record's `to_dict()` is its part of the result JSON, key for key and in the same order, and `from_dict()` reads
that part back; `Evaluation` lays the parts out as the JSON's "scores" and "details".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Self, TypedDict

from .jsonform import Record, by_name, each, nested, optional, plain


@dataclass(kw_only=True)
class Rows(Record):
    """Rows of each table; holdout is None when none was given."""

    real: int
    synthetic: int
    holdout: int | None


@dataclass(kw_only=True)
class RunInfo(Record):
    """What `evaluate` was given and how it ran: row counts, column kinds, seed, limits, time per group."""

    skipped_columns: dict[str, str] = field(default_factory=dict)  # left out of every metric (identifiers), and why
    kinds: dict[str, str] = field(default_factory=dict)  # evaluated column -> its kind
    rows: Rows = nested(Rows.from_dict)
    target: str | None = None
    seed: int | str | None = None  # "generator" where a numpy Generator was passed
    limits: dict[str, float] = field(default_factory=dict)  # Limits.to_dict() of the caps used
    skipped_groups: dict[str, str] = field(default_factory=dict)  # metric group -> why it did not run
    seconds: dict[str, float] = field(default_factory=dict)  # metric group -> wall seconds
    guarantee: dict | None = None  # the generator's differential-privacy record (dp.PrivacySpent.to_dict()), if given


@dataclass(kw_only=True)
class Histogram(Record):
    """Shares of real and synthetic values per bin on shared bin edges."""

    type: str = field(default="histogram", init=False)
    edges: list[float]
    real: list[float]
    synthetic: list[float]


@dataclass(kw_only=True)
class Bars(Record):
    """Shares of real and synthetic values per category, the rarest pooled as "(other N)"."""

    type: str = field(default="bar", init=False)
    categories: list[str]
    real: list[float]
    synthetic: list[float]


def _plot(data: dict) -> Histogram | Bars:
    """A column's plot data from its JSON object."""
    return (Histogram if data["type"] == "histogram" else Bars).from_dict(data)


@dataclass(kw_only=True)
class ColumnShape(Record):
    """One column's shape score (1 - KS or 1 - TVD on present values), missing rates and distribution plot data."""

    kind: str
    metric: str  # "KSComplement" or "TVComplement"
    score: float
    error: float
    missing_real: float
    missing_synthetic: float
    plot: Histogram | Bars = nested(_plot)


@dataclass(kw_only=True)
class PairTrend(Record):
    """One column pair's association in each table and the pair-trend score (None where it is undefined)."""

    columns: list[str]
    metric: str  # "CorrelationSimilarity" or "ContingencySimilarity"
    real: float | None
    synthetic: float | None
    score: float | None
    error: float | None
    note: str | None = optional()  # why the score is undefined or 0


@dataclass(kw_only=True)
class Associations(Record):
    """Association matrices of the real and synthetic tables (None where undefined), as the report draws them."""

    columns: list[str]
    measure: str
    real: list[list[float | None]]
    synthetic: list[list[float | None]]


@dataclass(kw_only=True)
class Fidelity(Record):
    """Column shapes and column-pair trends: per column, per pair, the association matrices and the pairs' subsample."""

    columns: dict[str, ColumnShape] = nested(by_name(ColumnShape.from_dict))
    pairs: list[PairTrend] = nested(each(PairTrend.from_dict))
    associations: Associations = nested(Associations.from_dict)
    subsampled: dict[str, list[int]]  # table -> [rows, rows used] for the pair trends


@dataclass(kw_only=True)
class ColumnValidity(Record):
    """One column's valid share and missing rates; range counts for numbers, unseen categories for categories."""

    missing_real: float
    missing_synthetic: float
    missing_rate_diff: float
    check: str  # what a valid value is, in words
    unparsable: int | None = optional()  # present values that are no number or date
    infinite: int | None = optional()
    real_min: float | None = optional()
    real_max: float | None = optional()
    below: int | None = optional()
    above: int | None = optional()
    valid_share: float | None = optional()  # absent for a numeric column with no real value
    unseen_categories: list[str] | None = optional()  # the 10 most frequent
    unseen_count: int | None = optional()


@dataclass(kw_only=True)
class Validity(Record):
    """Validity per column."""

    columns: dict[str, ColumnValidity] = nested(by_name(ColumnValidity.from_dict))


@dataclass(kw_only=True)
class Detection(Record):
    """The classifiers' cross-validation: folds and per-fold AUCs, or why it was skipped; the rows it used."""

    skipped: str | None = optional()
    folds: int | None = optional()
    gbm_fold_aucs: list[float] | None = optional()
    logreg_fold_aucs: list[float] | None = optional()
    subsampled: dict[str, list[int]]


@dataclass(kw_only=True)
class Coverage(Record):
    """k of the k-NN balls and the rows used."""

    k: int
    subsampled: dict[str, list[int]]


@dataclass(kw_only=True)
class AttackSummary(Record):
    """One Anonymeter attack: Wilson-centre success rates of the main, baseline and control attacks, and the risk."""

    attack_rate: float
    baseline_rate: float
    control_rate: float
    risk: float
    low: float
    high: float
    attacks: float  # attacks made


@dataclass(kw_only=True)
class Anonymeter(Record):
    """Anonymeter's three attacks, each with its details, or named in `skipped` where it could not run."""

    attacks: int  # attacks requested per kind
    singling_out: AttackSummary | None = optional(AttackSummary.from_dict)
    linkability: AttackSummary | None = optional(AttackSummary.from_dict)
    linkability_columns: list[list[str]] | None = optional()  # the two halves of the columns
    inference: AttackSummary | None = optional(AttackSummary.from_dict)
    inference_secrets: dict[str, AttackSummary] | None = optional(by_name(AttackSummary.from_dict))
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The JSON object, with "skipped" where the first attack that did not run would stand."""
        present, out = super().to_dict(), {}
        for f in fields(self):
            if self.skipped and f.name == self.skipped[0]:
                out["skipped"] = self.skipped
            if f.name in present and f.name != "skipped":
                out[f.name] = present[f.name]
        return out


@dataclass(kw_only=True)
class DistanceHistogram(Record):
    """Shares of synthetic (and holdout) rows per bin of their distance to the closest training row."""

    edges: list[float]
    synthetic: list[float]
    holdout: list[float] | None = optional()


@dataclass(kw_only=True)
class Privacy(Record):
    """Exact copies counted, the rows each part used, the Anonymeter attacks and the DCR histogram."""

    exact_copies: int  # synthetic rows equal to a training row
    subsampled: dict[str, list[int]]
    skipped: str | None = optional()  # what needs a holdout, when none was given
    equal_size_draws: int | None = optional()  # disjoint training samples the DCR share averages over
    equal_size_samples: int | None = optional()  # rows per training and holdout sample
    anonymeter: Anonymeter | None = optional(Anonymeter.from_dict)
    dcr_histogram: DistanceHistogram = nested(DistanceHistogram.from_dict)


@dataclass(kw_only=True)
class ModelScore(Record):
    """One model's metric trained on real and on synthetic rows, and synthetic / real where the real one is above 0."""

    real: float
    synthetic: float | None
    ratio: float | None = optional()


@dataclass(kw_only=True)
class Efficacy(Record):
    """The efficacy models' scores per model and metric, or why they could not be trained."""

    skipped: str | None = None
    task: str | None = None
    target: str | None = None
    primary_metric: str | None = None  # the metric efficacy.ratio_mean averages
    positive_class: str | None = None  # for ROC AUC, on a binary target
    models: dict[str, dict[str, ModelScore]] = field(default_factory=dict,
                                                     metadata={"load": by_name(by_name(ModelScore.from_dict))})
    ratio_left_out: dict[str, str] = field(default_factory=dict)  # model -> why it has no ratio
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows with a target value
    subsampled: dict[str, list[int]] | None = None

    def to_dict(self) -> dict:
        """The JSON object: the reason alone where the models were not trained."""
        return {"skipped": self.skipped} if self.skipped is not None else {
            k: v for k, v in super().to_dict().items() if k != "skipped"}


class Verdict(TypedDict):
    """A plain-language verdict on one area: its level (thresholds.GOOD, FAIR, POOR or UNKNOWN), a headline and a
    text; a plain dict, as `EvaluationResult.verdicts` has always given it."""

    level: str
    headline: str
    text: str


GROUPS = ("fidelity", "validity", "detection", "coverage", "privacy", "efficacy")  # the metric groups, in running order
# The groups whose details stand under their own key of the JSON's "details" (fidelity and validity fill its
# per-column entries, and fidelity its pairs and associations).
_KEYED = {"detection": Detection, "coverage": Coverage, "privacy": Privacy, "efficacy": Efficacy}


@dataclass(kw_only=True)
class Evaluation:
    """The flat scores and the typed details of one `evaluate` call; a group that did not run is None."""

    scores: dict[str, float]
    run: RunInfo
    fidelity: Fidelity | None = None
    validity: Validity | None = None
    detection: Detection | None = None
    coverage: Coverage | None = None
    privacy: Privacy | None = None
    efficacy: Efficacy | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    @property
    def subsampled(self) -> dict[str, dict[str, list[int]]]:
        """Part -> table -> [rows, rows used], for each part that recorded its rows ("pairs": fidelity's pair trends)."""
        parts = {"pairs": self.fidelity and self.fidelity.subsampled,
                 **{group: getattr(self, group) and getattr(self, group).subsampled for group in _KEYED}}
        return {part: rows for part, rows in parts.items() if rows}

    @property
    def details(self) -> dict:
        """The details as plain dicts and lists, as the result JSON holds them (a fresh copy at each call)."""
        run, fidelity, validity = self.run, self.fidelity, self.validity
        columns = {name: shape.to_dict() for name, shape in (fidelity.columns if fidelity else {}).items()}
        for name, entry in (validity.columns if validity else {}).items():
            columns.setdefault(name, {})["validity"] = entry.to_dict()
        out = {"columns": columns, "skipped_columns": run.skipped_columns, "kinds": run.kinds, "rows": run.rows.to_dict(),
               "target": run.target, "seed": run.seed, "limits": run.limits, "subsampled": self.subsampled,
               "skipped_groups": run.skipped_groups, "seconds": run.seconds, "guarantee": run.guarantee}
        if fidelity:
            out.update(pairs=[pair.to_dict() for pair in fidelity.pairs], associations=fidelity.associations.to_dict())
        for group in _KEYED:
            if getattr(self, group) is not None:
                out[group] = getattr(self, group).to_dict()
        out["verdicts"] = self.verdicts
        return plain(out)

    def to_dict(self) -> dict:
        """{'scores': ..., 'details': ...}, the result JSON."""
        return {"scores": dict(self.scores), "details": self.details}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The evaluation from its result JSON (`to_dict`'s form)."""
        details = data.get("details", {})
        columns = details.get("columns", {})
        groups: dict[str, Any] = {}
        if "pairs" in details:
            shapes = {name: {k: v for k, v in entry.items() if k != "validity"} for name, entry in columns.items()}
            groups["fidelity"] = Fidelity.from_dict({"columns": shapes, "pairs": details["pairs"],
                                                     "associations": details["associations"],
                                                     "subsampled": details.get("subsampled", {}).get("pairs")})
        if any("validity" in entry for entry in columns.values()):
            groups["validity"] = Validity.from_dict(
                {"columns": {name: entry["validity"] for name, entry in columns.items() if "validity" in entry}})
        for group, record in _KEYED.items():
            if group in details:
                groups[group] = record.from_dict(details[group])
        run = RunInfo.from_dict(details)
        verdicts = {area: Verdict(**verdict) for area, verdict in details.get("verdicts", {}).items()}
        return cls(scores=dict(data["scores"]), run=run, verdicts=verdicts, **groups)
