"""The self-contained HTML report: inline CSS, plots as base64 PNGs, no external resources."""

from __future__ import annotations

from html import escape
from typing import Iterable

import numpy as np

from . import plots
from .records import Evaluation, Fidelity
from .thresholds import (ANONYMETER_POOR_RISK, CLOSE_QUANTILE, CLOSE_SHARE, COPY_AUC, COPY_POOR_EXCESS, COPY_SIGMAS,
                         DETECTION, DOMIAS_POOR_AUC, EFFICACY, FAIR, FIDELITY, GOOD, MEMBERSHIP,
                         MISSING_RATE_TOLERANCE, POOR, RARE_CHANCE, RARE_CHANCE_MARGIN, close_share_min_holdout,
                         copy_auc_full_rows)

MAX_HEATMAP_COLUMNS = 30
LEVEL_COLOURS = {GOOD: "#2e7d32", FAIR: "#b26a00", POOR: "#c62828"}
# Anonymeter's attacks in words a data protection officer reads: what the attacker does with the synthetic table.
ANONYMETER_ROWS = (
    ("singling_out", ("Singling out: a value or an extreme seen in the synthetic table (say, its largest income) "
                      "is held by exactly one person")),
    ("linkability", ("Linkability: two parties each holding half of a person's columns join their records through "
                     "the synthetic table (the same nearest synthetic row)")),
    ("inference", ("Inference: knowing all but one column of a person, the attacker guesses that column from the "
                   "most similar synthetic row")),
)
AREA_TITLES = {"fidelity": "Fidelity", "detection": "Detection", "efficacy": "ML efficacy", "privacy": "Privacy"}

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#222}
main{max-width:1120px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}p.lead{color:#555;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:12px}
.card{background:#fff;border-radius:8px;padding:14px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08);border-top:5px solid #999}
.card .area{font-size:13px;text-transform:uppercase;letter-spacing:.05em;color:#666}
.card .headline{font-size:24px;font-weight:600;margin:4px 0}.card .text{font-size:13px;color:#333}
.level{font-size:12px;font-weight:600;text-transform:uppercase}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:8px 0}
th,td{padding:4px 10px;border-bottom:1px solid #e5e5e5;text-align:left}th{background:#f0f1f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:8px}
.grid img,.wide img{background:#fff;border-radius:6px;max-width:100%}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px;font-size:13px;margin:10px 0}
.muted{color:#666;font-size:13px}details{margin:8px 0}summary{cursor:pointer;font-size:14px}
.bad{color:#c62828;font-weight:600}
.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin-right:4px}
"""


def _fmt(value: object, digits: int = 3) -> str:
    """A number for a table cell; an en dash when missing."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _table(header: Iterable[str], rows: Iterable[Iterable[object]], numeric_from: int = 1) -> str:
    """An HTML table; cells from column `numeric_from` on are right-aligned numbers."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            css = ' class="num"' if i >= numeric_from else ""
            cells.append(f"<td{css}>{cell if isinstance(cell, _Raw) else _fmt(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _img(png: str, alt: str) -> str:
    """An inline image from a base64 PNG."""
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{png}">'


def _points(share: float) -> str:
    """A difference of shares in percentage points, for the verdict note: 0.05 -> '5 points'."""
    return f"{share * 100:g} point" + ("" if share * 100 == 1 else "s")


def _how_verdicts_are_set() -> str:
    """The lines of thresholds.py in words, shown where the verdicts are read (docs/metrics.md has the full table)."""
    return (
        '<details class="note"><summary>How the verdicts are set</summary><ul>'
        f"<li><b>Fidelity</b>: mean of column-shape and pair-trend scores; good from {FIDELITY.good:g}, fair from "
        f"{FIDELITY.fair:g}. Pair trends are lenient: read fidelity together with detection.</li>"
        f"<li><b>Detection</b>: gradient-boosting AUC; good up to {DETECTION.good:g}, fair up to {DETECTION.fair:g}. "
        f"Far below 0.5 (under {COPY_AUC:g}; lower on tables of under about {round(copy_auc_full_rows(), -2)} rows, "
        "where chance alone goes that low) is poor: synthetic rows sitting on top of real ones are copies.</li>"
        "<li><b>ML efficacy</b>: models trained on synthetic rows over models trained on real rows, both tested on the "
        f"holdout; good from {EFFICACY.good:g}, fair from {EFFICACY.fair:g}.</li>"
        "<li><b>Privacy</b>: the worst of: DCR share and membership-inference AUC (good up to "
        f"{MEMBERSHIP.good:g}, fair up to {MEMBERSHIP.fair:g}); the share of rows closer to a training row than "
        f"{1 - CLOSE_QUANTILE:.0%} of unseen rows (good up to {CLOSE_SHARE.good:.0%}, fair up to {CLOSE_SHARE.fair:.0%}; "
        f"with a holdout of {close_share_min_holdout():,} rows or more); verbatim copies beyond the holdout's chance "
        f"matches (fair above {COPY_SIGMAS:g} binomial standard errors, or above {_points(RARE_CHANCE_MARGIN)} where "
        f"fewer than {RARE_CHANCE:.0%} match by chance; poor above {_points(COPY_POOR_EXCESS)}); DOMIAS's density-ratio "
        f"membership AUC (fair when its 95% interval lies above 0.5, poor above {DOMIAS_POOR_AUC:g}); Anonymeter's "
        "singling-out, linkability and inference risks (fair when a risk's 95% interval lies above 0, poor when the "
        f"risk is also above {ANONYMETER_POOR_RISK:g}). Without a holdout of unseen rows, or with one whose rows nearly "
        "all appear in the training table, privacy is not assessed. Good privacy is evidence, not a guarantee: this is "
        "not differential privacy.</li></ul></details>"
    )


def _summary(result: Evaluation) -> str:
    """Verdict cards per area and the headline scores."""
    cards = []
    for area, verdict in result.verdicts.items():
        colour = LEVEL_COLOURS.get(verdict["level"], "#999")
        cards.append(
            f'<div class="card" style="border-top-color:{colour}"><div class="area">{AREA_TITLES.get(area, area)}</div>'
            f'<div class="headline">{escape(verdict["headline"])}</div>'
            f'<div class="level" style="color:{colour}">{escape(verdict["level"])}</div>'
            f'<div class="text">{escape(verdict["text"])}</div></div>'
        )
    s = result.scores
    headline = [
        ("Column shapes (1 - KS / 1 - TVD)", "fidelity.column_shapes"),
        ("Column-pair trends", "fidelity.column_pair_trends"),
        ("Detection AUC, gradient boosting (0.5 ideal)", "detection.gbm_auc"),
        ("Detection AUC, logistic regression (0.5 ideal)", "detection.logreg_auc"),
        ("k-NN precision / recall", None),
        ("ML efficacy, synthetic / real (mean over models)", "efficacy.ratio_mean"),
        ("DCR share (0.5 ideal)", "privacy.dcr_share"),
        ("Exact copies of training rows", "privacy.exact_copies_share"),
        ("Membership-inference AUC (0.5 ideal)", "privacy.mia_auc"),
        ("Density-ratio membership attack, DOMIAS AUC (0.5 ideal)", "privacy.domias_auc"),
        (f"Rows closer to training than {1 - CLOSE_QUANTILE:.0%} of unseen rows ({CLOSE_QUANTILE:.0%} ideal)",
         "privacy.close_share"),
        ("Anonymeter risks: singling out / linkability / inference (0 ideal)", "anonymeter"),
        ("Values valid (in range / known category)", "validity.share"),
    ]
    rows = []
    for label, key in headline:
        if key is None:
            if "coverage.precision" in s:
                rows.append((label, _Raw(f'{s["coverage.precision"]:.3f} / {s["coverage.recall"]:.3f}')))
        elif key == "anonymeter":
            risks = [s.get(f"privacy.{name}_risk") for name, _ in ANONYMETER_ROWS]
            if any(r is not None for r in risks):
                rows.append((label, _Raw(" / ".join(_fmt(r) for r in risks))))
        elif key in s:
            rows.append((label, s[key]))
    return (f'<div class="cards">{"".join(cards)}</div>{_how_verdicts_are_set()}<h3>Headline scores</h3>'
            + _table(["score", "value"], rows))


def _subsampling(result: Evaluation) -> str:
    """A note listing every part that ran on a subsample."""
    lines = []
    for part, tables in result.subsampled.items():
        cut = [f"{name} {used:,} of {total:,} rows" for name, (total, used) in tables.items() if used < total]
        if cut:
            lines.append(f"<li><b>{escape(part)}</b>: {escape(', '.join(cut))}</li>")
    if not lines:
        return '<p class="muted">Every metric used all rows (no subsampling).</p>'
    return (
        '<div class="note">Some metrics ran on random subsamples (seeded, so the report is reproducible); '
        f"the caps are in <code>Limits</code>:<ul>{''.join(lines)}</ul></div>"
    )


def _chosen_columns(fidelity: Fidelity, target: str | None, limit: int) -> tuple[list[str], str]:
    """The columns to plot: the target first, then the lowest shape scores, at most `limit`."""
    columns = fidelity.columns
    order = sorted(columns, key=lambda n: (n != target, columns[n].score))
    chosen = order[:limit]
    note = ""
    if len(order) > limit:
        note = (
            f'<p class="muted">Showing {limit} of {len(order)} columns: '
            + ("the target, then " if target in chosen else "")
            + "those whose distributions differ most (lowest shape score).</p>"
        )
    return chosen, note


def _fidelity(result: Evaluation, max_columns: int) -> str:
    """Shape scores, per-column table and plots, association heatmaps, worst pairs."""
    fidelity, s = result.fidelity, result.scores
    if fidelity is None or not fidelity.columns:
        return ""
    columns = fidelity.columns
    validity = result.validity.columns if result.validity else {}
    out = ["<h2>Fidelity</h2>"]
    out.append(
        f'<p class="lead">Column shapes {_fmt(s.get("fidelity.column_shapes"))}, column-pair trends '
        f'{_fmt(s.get("fidelity.column_pair_trends"))} (1 = identical; SDMetrics definitions, on non-missing values).</p>'
    )
    names = list(columns)
    bars = plots.shape_bars(names, [columns[n].score for n in names])
    out.append('<div class="wide">' + _img(bars, "shape scores") + "</div>")
    rows = []
    for n, c in columns.items():
        share = validity[n].valid_share if n in validity else None
        rows.append((n, c.kind, c.metric, c.score, c.missing_real, c.missing_synthetic, share))
    out.append("<details><summary>Per-column table</summary>")
    out.append(_table(["column", "kind", "metric", "score", "missing real", "missing synthetic", "valid share"], rows, numeric_from=3))
    out.append("</details>")
    skipped = result.run.skipped_columns
    if skipped:
        out.append(f'<p class="muted">Left out: {escape(", ".join(skipped))} (identifier columns).</p>')
    chosen, note = _chosen_columns(fidelity, result.run.target, max_columns)
    key = (
        f'<p class="muted"><span class="swatch" style="background:{plots.REAL_COLOUR}"></span>real (filled) &nbsp; '
        f'<span class="swatch" style="background:{plots.SYNTHETIC_COLOUR}"></span>synthetic (outline / second bar)</p>'
    )
    out.append("<h3>Distributions, real vs synthetic</h3>" + key + note)
    out.append('<div class="grid">' + "".join(_img(plots.column_plot(n, columns[n]), n) for n in chosen) + "</div>")
    out.append(_associations(fidelity))
    return "".join(out)


def _associations(fidelity: Fidelity) -> str:
    """Heatmaps of the association matrices and a table of the pairs that differ most."""
    assoc = fidelity.associations
    if len(assoc.columns) < 2:
        return ""
    names = assoc.columns
    real = np.array(assoc.real, dtype=float)
    syn = np.array(assoc.synthetic, dtype=float)
    note = ""
    if len(names) > MAX_HEATMAP_COLUMNS:
        error = np.nanmean(np.abs(syn - real), axis=1)
        keep = np.sort(np.argsort(-np.nan_to_num(error, nan=-1.0), kind="stable")[:MAX_HEATMAP_COLUMNS])
        names = [names[i] for i in keep]
        real, syn = real[np.ix_(keep, keep)], syn[np.ix_(keep, keep)]
        note = f'<p class="muted">Showing the {MAX_HEATMAP_COLUMNS} columns whose associations differ most.</p>'
    out = ["<h3>Associations: real, synthetic and difference</h3>"]
    out.append(f'<p class="muted">{escape(assoc.measure)}.</p>{note}')
    out.append('<div class="wide">' + _img(plots.heatmaps(names, real, syn), "association heatmaps") + "</div>")
    pairs = [p for p in fidelity.pairs if p.score is not None]
    worst = sorted(pairs, key=lambda p: p.score)[:10]
    if worst:
        rows = [(" × ".join(p.columns), p.metric, p.real, p.synthetic, p.score) for p in worst]
        out.append("<details><summary>The 10 pairs that differ most</summary>")
        out.append(_table(["pair", "metric", "real", "synthetic", "score"], rows, numeric_from=2) + "</details>")
    return "".join(out)


def _detection(result: Evaluation) -> str:
    """C2ST AUCs and k-NN precision/recall."""
    s = result.scores
    out = []
    if "detection.gbm_auc" in s:
        folds = result.detection.folds if result.detection else None
        out.append("<h2>Detection</h2>")
        out.append(
            f'<p class="lead">ROC AUC of classifiers trained to tell real from synthetic rows ({folds}-fold stratified '
            "cross-validation, equal numbers of each). 0.5 means they cannot; 1.0 means every row is told apart.</p>"
        )
        rows = [
            ("gradient boosting", s["detection.gbm_auc"], s["detection.gbm_score"]),
            ("logistic regression", s["detection.logreg_auc"], s["detection.logreg_score"]),
        ]
        out.append(_table(["classifier", "ROC AUC", "score = 1 - (2·max(AUC, 0.5) - 1)"], rows))
    if "coverage.precision" in s:
        k = result.coverage.k if result.coverage else None
        out.append("<h2>Coverage</h2>")
        out.append(
            f'<p class="lead">k-NN precision (share of synthetic rows inside the {k}-NN ball of some real row: realism) and '
            "recall (share of real rows inside the ball of some synthetic row: diversity). Both 1 for a perfect generator.</p>"
        )
        out.append(_table(["precision", "recall"], [(s["coverage.precision"], s["coverage.recall"])], numeric_from=0))
    return "".join(out)


def _privacy(result: Evaluation) -> str:
    """Privacy scores next to the holdout baseline, and the DCR histogram."""
    s, privacy = result.scores, result.privacy
    if "privacy.dcr_median" not in s:
        return ""
    out = ["<h2>Privacy</h2>"]
    guarantee = result.run.guarantee
    if guarantee:
        out.append(
            f'<p class="lead"><b>Differential privacy:</b> the generator was trained with ({guarantee["epsilon"]:.3g}, '
            f'{guarantee["delta"]:.2g})-differential privacy: whatever one person\'s row holds, the model (and every table '
            f'drawn from it) is at most e<sup>{guarantee["epsilon"]:.3g}</sup> times more likely with the row than without '
            f'it, except with probability {guarantee["delta"]:.2g}. Its parts: the column statistics '
            f'{guarantee["epsilon_preprocessing"]:.3g}, the training {guarantee["epsilon_training"]:.3g} '
            f'({guarantee["steps"]} DP-SGD steps, noise multiplier {guarantee["noise_multiplier"]:.3g}, Opacus\' '
            f'{escape(str(guarantee["accountant"]).upper())} accountant).</p>')
    out.append(
        '<p class="lead">Distances to the closest training record (DCR) in TabDDPM\'s embedding. A private generator places '
        "synthetic rows no closer to training rows than unseen real (holdout) rows are.</p>"
    )
    rows = [
        ("median DCR", s.get("privacy.dcr_median"), s.get("privacy.dcr_median_holdout")),
        ("median nearest-neighbour distance ratio", s.get("privacy.nndr_median"), s.get("privacy.nndr_median_holdout")),
        ("share of exact copies of training rows", s.get("privacy.exact_copies_share"), s.get("privacy.exact_copies_share_holdout")),
    ]
    out.append(_table(["measure", "synthetic", "holdout (baseline)"], rows))
    extra = []
    if "privacy.dcr_share" in s:
        extra.append(("DCR share: synthetic rows closer to a training row than to a holdout row (0.5 ideal)", s["privacy.dcr_share"]))
    if "privacy.mia_auc" in s:
        extra.append(("membership-inference AUC by distance to the closest synthetic row (0.5 ideal)", s["privacy.mia_auc"]))
    if "privacy.domias_auc" in s:
        extra.append(("DOMIAS: how well an attacker holding the synthetic table and real rows of the same population tells "
                      "training rows from unseen ones by where the synthetic table is denser than the population (AUC; 0.5: "
                      f"no better than guessing; 95% interval {s['privacy.domias_auc_low']:.3f}-{s['privacy.domias_auc_high']:.3f})",
                      s["privacy.domias_auc"]))
    if "privacy.holdout_copies_share" in s:
        extra.append(("share of synthetic rows equal to a holdout row (real records kept out of training)", s["privacy.holdout_copies_share"]))
        extra.append(("the same share for training rows: chance matches, the baseline for the line above", s["privacy.holdout_copies_share_train"]))
    if extra:
        out.append(_table(["measure", "value"], extra))
    out.append(_anonymeter(s))
    if privacy and privacy.skipped:
        out.append(f'<p class="muted">{escape(privacy.skipped)}.</p>')
    if privacy:
        out.append('<div class="wide">' + _img(plots.dcr_histogram(privacy.dcr_histogram), "DCR histogram") + "</div>")
    return "".join(out)


def _anonymeter(s: dict[str, float]) -> str:
    """Anonymeter's attacks: success on training rows, on unseen rows and by guessing, and the risk."""
    rows = []
    for name, text in ANONYMETER_ROWS:
        if f"privacy.{name}_risk" not in s:
            continue
        low, high = s[f"privacy.{name}_low"], s[f"privacy.{name}_high"]
        risk = f"{s[f'privacy.{name}_risk']:.3f} ({low:.3f}-{high:.3f})"
        rows.append((text, s[f"privacy.{name}_attack_rate"], s[f"privacy.{name}_control_rate"],
                     s[f"privacy.{name}_baseline_rate"], _Raw(f'<span class="bad">{risk}</span>' if low > 0 else risk)))
    if not rows:
        return ""
    return ("<h3>Attacks that use the synthetic table (Anonymeter)</h3>"
            '<p class="muted">Each attack runs on training rows, on unseen real rows (the holdout) and by random '
            "guessing; the numbers are the shares of attempts that succeed. Success on unseen rows is what the "
            "synthetic table tells about anyone in the population, which is its purpose; only success beyond it on "
            "training rows gives the people in the training data away. The risk is that excess as a share of what "
            "was left to gain, (training - unseen) / (1 - unseen): 0 means no one in the training data is more "
            "exposed than someone who was not in it; 0.1 means that of the attempts that fail on people outside the "
            "training data, one in ten succeeds on people in it. A risk whose 95% interval lies above 0 (in red) "
            "counts against privacy (Giomi et al., PoPETs 2023).</p>"
            + _table(["attack", "success on training rows", "success on unseen rows", "success by guessing",
                      "risk (95% interval)"], rows))


def _efficacy(result: Evaluation) -> str:
    """Models trained on real vs synthetic rows, scored on the holdout."""
    efficacy = result.efficacy
    if efficacy is None or efficacy.skipped is not None:
        reason = result.run.skipped_groups.get("efficacy") or (efficacy.skipped if efficacy else None)
        return f'<h2>ML efficacy</h2><p class="muted">Not computed: {escape(reason)}.</p>' if reason else ""
    out = ["<h2>ML efficacy</h2>"]
    out.append(
        f'<p class="lead">Task: {escape(efficacy.task)} of <b>{escape(str(efficacy.target))}</b>. Each model is trained '
        "once on the real training rows and once on the synthetic rows, and both are scored on the real holdout. "
        f'Ratio = synthetic / real; the headline averages the {escape(efficacy.primary_metric)} ratio over models.</p>'
    )
    rows = []
    for model, metrics in efficacy.models.items():
        for metric, row in metrics.items():
            ratio = row.ratio
            low = ratio is not None and ratio < EFFICACY.fair and metric != "rmse"  # below the verdict's fair line
            cell = _Raw(f'<span class="bad">{ratio:.3f}</span>') if low else ratio
            rows.append((model.replace("_", " "), metric, row.real, row.synthetic, cell))
    out.append(_table(["model", "metric", "trained on real", "trained on synthetic", "ratio"], rows, numeric_from=2))
    return "".join(out)


def _validity(result: Evaluation) -> str:
    """Columns with values outside the real range or category set, or with differing missing rates."""
    columns = result.validity.columns if result.validity else {}
    rows = []
    for name, v in columns.items():
        if (1.0 if v.valid_share is None else v.valid_share) < 1.0 or v.missing_rate_diff > MISSING_RATE_TOLERANCE:
            detail = ""
            if v.unseen_categories:
                detail = "unseen: " + ", ".join(v.unseen_categories[:5])
            else:
                parts = [f"{count} {label}" for count, label in ((v.unparsable, "unparsable (no number or date)"),
                                                                 (v.infinite, "infinite")) if count]
                if v.below or v.above:
                    parts.append(f"{v.below or 0} below, {v.above or 0} above the real range")
                detail = "; ".join(parts)
            rows.append((name, v.valid_share, v.missing_real, v.missing_synthetic, detail))
    # The section stands wherever columns were evaluated, even when validity itself did not run.
    if not columns and not (result.fidelity and result.fidelity.columns):
        return ""
    out = ["<h2>Validity</h2>"]
    s = result.scores
    out.append(
        f'<p class="lead">Share of synthetic values inside the real min/max or category set: {_fmt(s.get("validity.share"))}; '
        f'mean absolute difference of missing rates: {_fmt(s.get("validity.missing_rate_diff_mean"))}.</p>'
    )
    if rows:
        out.append(_table(["column", "valid share", "missing real", "missing synthetic", "detail"], rows))
    else:
        out.append('<p class="muted">Every synthetic value is in range, and missing rates match within '
                   f'{_points(MISSING_RATE_TOLERANCE)}.</p>')
    return "".join(out)


def _all_scores(result: Evaluation) -> str:
    """Every score, collapsed."""
    rows = [(k, v) for k, v in result.scores.items()]
    return "<details><summary>All scores</summary>" + _table(["name", "value"], rows) + "</details>"


def render_summary(result: Evaluation) -> str:
    """The verdict cards and headline scores alone, styled, for a notebook cell (no plots, no matplotlib)."""
    cards = [f"<style>{CSS.replace('body{', '.tabdiffusion-summary{')}</style>", '<div class="tabdiffusion-summary">',
             _summary(result), "</div>"]
    return "".join(cards)


def render(result: Evaluation, max_columns: int = 24) -> str:
    """The report as one HTML document."""
    plots._figure_class()  # fail early with the install hint when matplotlib is missing
    run = result.run
    sizes = ", ".join(f"{name} {count:,} rows" for name, count in run.rows.to_dict().items() if count is not None)
    body = [
        "<h1>Synthetic data quality report</h1>",
        f'<p class="lead">{escape(sizes)}; {len(run.kinds)} columns evaluated'
        + (f", target <b>{escape(str(run.target))}</b>" if run.target else "")
        + f". Seed {escape(str(run.seed))}.</p>",
        _summary(result),
        _subsampling(result),
        _fidelity(result, max_columns),
        _detection(result),
        _privacy(result),
        _efficacy(result),
        _validity(result),
        _all_scores(result),
        '<p class="muted">Generated by tabdiffusion.evaluate(); metric definitions are in docs/metrics.md.</p>',
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Synthetic data quality report</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>"
    )
