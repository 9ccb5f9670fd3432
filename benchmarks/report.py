"""Render docs/benchmarks.md from the results JSON files (never edit the Markdown's numbers by hand).

    python -m benchmarks.report                       # all benchmarks/results/*.json -> docs/benchmarks.md
    python -m benchmarks.report a.json b.json -o out.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .tabddpm_data import COMPLETE

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DOCS = ROOT.parent / "docs" / "benchmarks.md"
TARGETS = ROOT / "targets.toml"
TOLERANCE = 0.015
# Datasets whose files differ from the paper's (shared/datasets/tabddpm/<name>/REBUILT.md explains each).
REBUILT = {
    "insurance": "rebuilt with a new split: the paper's Real score is not expected (REBUILT.md)",
    "default": "rebuilt with a new split (REBUILT.md)",
    "cardio": "paper's split; categorical columns re-aligned from raw data (REBUILT.md)",
}
NEW_SPLIT = {"insurance", "default"}
PAPER_COLUMNS = (("real", "Real"), ("tabddpm", "TabDDPM"), ("smote", "SMOTE"), ("tvae", "TVAE"),
                 ("ctabgan_plus", "CTAB-GAN+"), ("ctabgan", "CTAB-GAN"))
LABELS = {"real": "Real", "tabdiffusion": "tabdiffusion", "tdflow": "tabdiffusion flow preset", "tabddpm": "tabdiffusion tabddpm preset", "smote": "SMOTE",
          "tvae": "TVAE (SDV)", "ctgan": "CTGAN (SDV)", "gaussiancopula": "GaussianCopula (SDV)",
          "argn": "TabularARGN (MOSTLY AI)"}
SHORT = {"real": "Real", "tabdiffusion": "td default", "tdflow": "td flow", "tabddpm": "td tabddpm", "smote": "SMOTE", "tvae": "TVAE",
         "ctgan": "CTGAN", "gaussiancopula": "GC", "argn": "ARGN"}
FIDELITY = (("fidelity.column_shapes_error", "shape error"), ("fidelity.column_pair_trends_error", "trend error"),
            ("detection.gbm_auc", "detection AUC (GBM)"), ("privacy.dcr_share", "DCR share"),
            ("privacy.dcr_median", "median DCR"), ("privacy.exact_copies_share", "exact copies"))


def _fmt(stats: dict | None, digits: int = 4, std: bool = True) -> str:
    if not stats or stats.get("mean") is None:
        return "–"
    text = f"{stats['mean']:.{digits}f}"
    if std and stats.get("n", 1) > 1:
        text += f" ± {stats['std']:.{digits}f}"
    return text


def _num(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _order(path: Path) -> tuple:
    name = path.stem
    rank = 0 if name.endswith("-full") else 1 if "real" in name else 2 if name.endswith("-quick") else 3
    return rank, name


def _title(path: Path, results: dict) -> str:
    methods = [m for m in results["methods"] if m != "real"]
    if path.stem == "tabddpm-strong":
        return "Strong detector and the strongest peer (TabularARGN), train-size sets"
    if path.stem == "tabddpm-efficacy":
        return "Efficacy at the paper's set sizes, and at the train size against SMOTE (the current default)"
    if results["settings"].get("rows"):
        return f"Smoke run ({path.name})"
    if not methods:
        return "Real-row check (CatBoost on the real train split)"
    if results["settings"].get("quick"):
        return "Quick run (--quick)"
    return "Full run"


def _coverage(results: dict) -> str:
    names = [n for n in results["datasets"] if n in COMPLETE]
    generated = [n for n in results["datasets"] if n not in COMPLETE]
    missing = [n for n in COMPLETE if n not in names]
    methods = ", ".join(results["methods"])
    extra = f"; generated tables: {', '.join(generated)}" if generated else ""
    if results["settings"].get("rows"):
        return f"**Smoke run** on {results['settings']['rows']}-row subsamples: not comparable with the paper."
    if missing:
        return (f"**Partial**: {len(names)} of the {len(COMPLETE)} complete datasets ({', '.join(names) or 'none'})"
                f"{extra}; methods: {methods}.")
    return f"All {len(COMPLETE)} complete datasets{extra}; methods: {methods}."


def _header(path: Path, results: dict) -> list[str]:
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    lines = [
        f"## {_title(path, results)}",
        "",
        f"Source: `{path.relative_to(ROOT.parent) if path.is_relative_to(ROOT.parent) else path}`. "
        + _coverage(results),
        "",
        f"- Command: `{results['command']}`",
        (f"- Date: {results['date']}; assembled from cached cells (`--cached-only`) computed by earlier invocations "
         "of the command (runs split over sessions)" if results.get("assembled_from_cache") else
         f"- Date: {results['date']}; wall time of the command {results.get('seconds', 0) / 60:.1f} min "
         "(cells cached by earlier invocations count as zero)"),
        f"- Machine: {_machine_text(m)}",
        f"- Versions: {versions}",
        "- Settings: " + _settings_text(results),
        f"- Protocol: {results['protocol']}",
    ]
    if results.get("skipped"):
        lines.append("- Skipped: " + "; ".join(f"{k}: {v}" for k, v in results["skipped"].items()))
    not_run = [f"{method} on {name}" for name, entry in results["datasets"].items()
               for method, info in entry["methods"].items() if info.get("status") == "not run"]
    if not_run:
        lines.append(f"- Not run yet ({len(not_run)} dataset/method pairs; the command computes them): "
                     + ", ".join(not_run))
    for mark, origin, pairs in _kept_marks(results).values():
        lines.append(f"- {mark} Kept from the results file dated {origin['date']} (`--keep-from`: no cached cell here; "
                     f"the entries as that file had them, computed on {_machine_text(origin['machine'])}): "
                     f"{len(pairs)} dataset/method pairs, named with their commits in the next line")
    accepted = _accepted_cells(results)
    if accepted:
        lines.append("- Computed with an earlier commit's code (cached cells the command accepts with `--accept-code`, "
                     "or kept entries; `git diff <commit> -- tabdiffusion benchmarks` shows what changed since): "
                     + "; ".join(accepted))
    return lines + [""]


def _kept_origin(results: dict, info: dict) -> dict | None:
    """Where a kept entry was computed: its own record, or (files that stored only a path) the file-level one."""
    origin = info.get("kept_from")
    return origin if isinstance(origin, dict) or not origin else results.get("kept_from")


def _origin_key(origin: dict | None) -> str | None:
    return origin and f"{origin.get('date')} {origin['machine'].get('cpu')} {origin['machine'].get('git_commit')}"


def _kept_marks(results: dict) -> dict[str, tuple[str, dict, list[str]]]:
    """Per origin of kept entries, oldest first: its mark (‡, or ‡1, ‡2, ... for several), record and entries."""
    groups: dict[str, tuple[dict, list[str]]] = {}
    for name, entry in results["datasets"].items():
        for method, info in entry["methods"].items():
            origin = _kept_origin(results, info)
            if origin:
                groups.setdefault(_origin_key(origin), (origin, []))[1].append(f"{method} on {name}")
    keys = sorted(groups, key=lambda k: str(groups[k][0].get("date")))
    return {k: ("‡" if len(keys) == 1 else f"‡{i + 1}", *groups[k]) for i, k in enumerate(keys)}


def _mark(results: dict, info: dict, marks: dict) -> str:
    """' ‡' (or ' ‡2') for an entry kept from an earlier results file, '' for one computed by this file's command."""
    key = _origin_key(_kept_origin(results, info))
    return f" {marks[key][0]}" if key else ""


def _machine_text(m: dict) -> str:
    """CPU, cores, memory, platform and the git commit of a results file's machine record."""
    return (f"{m['cpu']}, {m['cores']} cores, {m.get('memory_gib')} GiB; {m['platform']}; git {m.get('git_commit')}"
            + (f" with local changes to {', '.join(m['git_changes'])}" if m.get("git_changes") else ""))


def _accepted_cells(results: dict) -> list[str]:
    """'method on datasets at commit' for every method with cells from an earlier commit's code."""
    found: dict[tuple[str, str], list[str]] = {}
    for name, entry in results["datasets"].items():
        for method, info in entry["methods"].items():
            for commit in info.get("code_commits", []):
                if commit != "current":
                    found.setdefault((method, commit), []).append(name)
    return [f"{method} on {', '.join(names)} at {commit}" for (method, commit), names in found.items()]


def _fits(info: dict) -> str:
    """' (N fits)' for an entry that averages over N > 1 fits of its generator (`--fit-seeds`), else ''."""
    return f" ({len(info['fit_seeds'])} fits)" if len(info.get("fit_seeds", [])) > 1 else ""


def _settings_text(results: dict) -> str:
    s = results["settings"]
    real_seeds = s.get("real_catboost_seeds", s["catboost_seeds"])
    common = f"{s['threads']} threads" + (f" ({s['torch_threads']} for torch)" if s.get("torch_threads") else "")
    common += f"; evaluate row cap {s['evaluate_rows']}" if s.get("evaluate") else "; evaluate off"
    if not [m for m in results["methods"] if m != "real"]:
        return f"{real_seeds} CatBoost seeds; {common}"
    sample_budget = "unbounded" if s["sample_budget"] is None else f"{s['sample_budget']:g} s"
    return (f"fit budget {s['budget']:g} s per generator; sampling budget {sample_budget} per synthetic set "
            f"(tabdiffusion samplers only); {s['catboost_seeds']} CatBoost seeds x {s['sample_seeds']} sampling seeds "
            f"per method ({s.get('paper_catboost_seeds', s['catboost_seeds'])} CatBoost seeds per paper-size set, "
            f"{real_seeds} for Real); sizes {', '.join(s['sizes'])}; max rows "
            f"{s['max_rows'] or 'none'}; {common}" + (f"; steps overridden to {s['steps']}" if s.get("steps") else "")
            + "; one fit per generator (fit seed 0) where an entry does not say \"(N fits)\": those average over "
            "N fits (`--fit-seeds`)")


def _efficacy_table(results: dict, size: str) -> list[str]:
    methods = [m for m in results["methods"] if m not in results.get("skipped", {})]
    if size != "train":  # only methods that drew sets of this size (SDV baselines draw the train size only)
        methods = [m for m in methods if m != "real" and any(
            size in entry["methods"].get(m, {}).get("sizes", {}) for entry in results["datasets"].values())]
    head = ["dataset", "metric"] + (["rows"] if size == "paper" else []) + [SHORT[m] for m in methods]
    head += [f"paper {label}" for _, label in PAPER_COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    flagged = False
    for name, entry in results["datasets"].items():
        row = [name + (" †" if name in REBUILT else ""), entry["metric"]]
        if size == "paper":
            row.append(str(entry["paper"].get("num_samples") or "–"))
        for method in methods:
            info = entry["methods"].get(method, {})
            sized = info.get("sizes", {}).get(size)
            if info.get("status") != "ok" or not sized:
                row.append("–" if info.get("status", "ok") == "ok" else info["status"])  # ok: no set of this size
                continue
            cell = _fmt(sized["score"]) + _fits(info)
            if sized.get("truncated"):
                cell += f" ({sized['rows']['mean']:.0f} rows)*"
                flagged = True
            row.append(cell)
        paper = entry["paper"]["scores"]
        row += [_num(paper.get(key, {}).get("score")) for key, _ in PAPER_COLUMNS]
        lines.append("| " + " | ".join(row) + " |")
    if flagged:
        lines += ["", "\\* the sampling budget ran out before the requested rows; CatBoost trained on the rows shown."]
    return lines


def _real_check(results: dict) -> list[str]:
    lines = ["| dataset | metric | ours (mean ± std) | paper Real | difference | within 0.015 | note |",
             "|---|---|---|---|---|---|---|"]
    for name, entry in results["datasets"].items():
        real = entry["methods"].get("real", {})
        stats = real.get("sizes", {}).get("train", {}).get("score")
        paper = entry["paper"]["scores"].get("real", {}).get("score")
        if not stats or paper is None:
            lines.append(f"| {name} | {entry['metric']} | {_fmt(stats)} | {_num(paper)} | – | – | |")
            continue
        diff = stats["mean"] - paper
        within = abs(diff) <= TOLERANCE
        verdict = ("yes" if within else "**no**") if name not in NEW_SPLIT else ("yes (new split)" if within else "n/a (new split)")
        lines.append(f"| {name} | {entry['metric']} | {_fmt(stats)} (n={stats['n']}) | {paper:.4f} | {diff:+.4f} | "
                     f"{verdict} | {REBUILT.get(name, '')} |")
    return lines


def _fidelity_table(results: dict) -> list[str]:
    head = ["dataset", "method"] + [label for _, label in FIDELITY] + ["paper median DCR"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    any_scores = False
    for name, entry in results["datasets"].items():
        for method in results["methods"]:
            info = entry["methods"].get(method, {})
            scores = info.get("evaluate")
            if info.get("status") != "ok" or not scores:
                continue
            any_scores = True
            paper = entry["paper"]["scores"].get(method, {}).get("median_dcr")
            label = "Real (val rows)" if method == "real" else SHORT[method] + _fits(info)
            row = [name, label] + [_fmt(scores.get(key), 3, std=False) for key, _ in FIDELITY] + [_num(paper, 3)]
            lines.append("| " + " | ".join(row) + " |")
    return lines if any_scores else ["No evaluate() scores in this run."]


BASELINES = ("tabddpm", "smote", "tvae", "ctgan", "gaussiancopula", "argn")
PEER = "argn"  # the strongest open peer: the strong-detector target is to score below it on every table


def _mean(stats: dict | None) -> float | None:
    return None if not stats else stats.get("mean")


def targets(section: str = "default") -> dict:
    """One section of the default preset's targets (benchmarks/targets.toml): `default` (quality), `privacy` or
    `efficacy` (as restated with the strong detector)."""
    import tomllib

    return tomllib.loads(TARGETS.read_text())[section]


# Anonymeter's attacks as evaluate names its scores (evaluation/verdicts.ANONYMETER_ATTACKS; not imported, so that
# rendering the docs does not load the evaluation package).
ATTACKS = {"singling_out": "singling out", "linkability": "linkability", "inference": "attribute inference"}


def _interval(evaluated: dict, name: str, bounds: str, digits: int = 3) -> str:
    """The score privacy.<name> with its 95% interval privacy.<bounds>_low to _high, e.g. '0.512 (0.490 to 0.530)';
    '–' where it was not measured."""
    value, low, high = (_mean(evaluated.get(f"privacy.{key}")) for key in (name, f"{bounds}_low", f"{bounds}_high"))
    if value is None:
        return "–"
    return f"{value:.{digits}f}" + ("" if low is None else f" ({low:.{digits}f} to {high:.{digits}f})")


def _attacks_table(results: dict, method: str = "tabdiffusion") -> list[str]:
    """`method`'s privacy attacks per table (evaluate: DOMIAS, Anonymeter's three risks, DCR share, exact copies)
    and the privacy targets (targets.toml [privacy]): DOMIAS and DCR share at most their bounds, every Anonymeter
    risk's interval reaching 0, on every table."""
    goal = targets("privacy")
    rows = {name: entry["methods"][method]["evaluate"] for name, entry in results["datasets"].items()
            if "privacy.domias_auc" in (entry["methods"].get(method, {}).get("evaluate") or {})}
    if not rows:
        return []
    head = ["dataset", "DOMIAS AUC (95% interval)"] + [f"{label} risk (95% interval)" for label in ATTACKS.values()] + [
        "DCR share", "exact copies (holdout's own)", "targets"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    met = {"domias": [], "anonymeter": [], "dcr": []}
    for name, scores in rows.items():
        domias, dcr = _mean(scores["privacy.domias_auc"]), _mean(scores["privacy.dcr_share"])
        lows = [_mean(scores.get(f"privacy.{attack}_low")) for attack in ATTACKS]
        checks = {"domias": domias <= goal["domias_auc"], "dcr": dcr <= goal["dcr_share"],
                  "anonymeter": all(low is not None and low <= 0 for low in lows)}
        for key, held in checks.items():
            met[key].append(held)
        missed = [key for key, held in checks.items() if not held]
        lines.append("| " + " | ".join(
            [name, _interval(scores, "domias_auc", "domias_auc")]
            + [_interval(scores, f"{attack}_risk", attack) for attack in ATTACKS]
            + [_num(dcr, 3), f"{_num(_mean(scores.get('privacy.exact_copies_share')), 4)} "
               f"({_num(_mean(scores.get('privacy.exact_copies_share_holdout')), 4)})",
               "ok" if not missed else "**miss: " + ", ".join(missed) + "**"]) + " |")
    tables = len(rows)
    return lines + ["", f"Targets: DOMIAS AUC at most {goal['domias_auc']:g} on {sum(met['domias'])} of {tables} tables; "
                    f"every Anonymeter risk at its baseline (95% interval reaching 0) on {sum(met['anonymeter'])} of "
                    f"{tables}; DCR share at most {goal['dcr_share']:g} on {sum(met['dcr'])} of {tables} (target: every "
                    "table for each)."]


def _targets_table(results: dict, method: str = "tabdiffusion") -> list[str]:
    """The default's per-dataset quality targets (targets.toml) for `method`, checked against this results file:
    pass/fail per column."""
    goal = targets()
    tolerance, auc_goal, dcr_goal = goal["efficacy_tolerance"], goal["detection_auc"], goal["dcr_share"]
    head = ["dataset", "efficacy - paper TabDDPM", "Real - paper TabDDPM", "detection AUC (best baseline)",
            "shape error (Real val)", "trend error (Real val)", "DCR share", "exact copies (test; Real val)", "fit s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    tally = {"efficacy >= -tolerance": [], "efficacy > 0": [], "detection": [], "dcr": [], "copies": [], "fit": []}
    shapes, trends, above_real = [], [], []
    for name, entry in results["datasets"].items():
        info = entry["methods"].get(method, {})
        if info.get("status") != "ok":
            continue
        scores = info.get("evaluate", {})
        ours = _mean(info.get("sizes", {}).get("train", {}).get("score"))
        paper = entry["paper"]["scores"].get("tabddpm", {}).get("score")
        cells = [name + (" †" if name in REBUILT else "") + _fits(info)]
        if ours is not None and paper is not None:
            diff = ours - paper
            tally["efficacy >= -tolerance"].append(diff >= -tolerance)
            tally["efficacy > 0"].append(diff > 0)
            cells.append(f"{diff:+.4f} {'ok' if diff >= -tolerance else '**miss**'}")
        else:
            cells.append("–")
        # Our Real row: CatBoost on the real train split. Where paper - tolerance lies above it, the efficacy target asks
        # for a synthetic set of the train size that trains a better model than the real rows themselves.
        real = _mean(entry["methods"].get("real", {}).get("sizes", {}).get("train", {}).get("score"))
        if real is not None and paper is not None:
            cells.append(f"{real - paper:+.4f}")
            if real < paper - tolerance:
                above_real.append(name)
        else:
            cells.append("–")
        real_scores = entry["methods"].get("real", {}).get("evaluate", {})
        auc = _mean(scores.get("detection.gbm_auc"))
        others = [_mean(entry["methods"].get(m, {}).get("evaluate", {}).get("detection.gbm_auc")) for m in BASELINES
                  if m in entry["methods"] and m != method]
        others = [a for a in others if a is not None]
        if auc is not None:
            ok = auc <= auc_goal or (others and auc < min(others))
            tally["detection"].append(bool(ok))
            best = f" ({min(others):.3f})" if others else ""
            cells.append(f"{auc:.3f}{best} {'ok' if ok else '**miss**'}")
        else:
            cells.append("–")
        for key, store in (("fidelity.column_shapes_error", shapes), ("fidelity.column_pair_trends_error", trends)):
            value = _mean(scores.get(key))
            if value is not None:
                store.append(value)
            cells.append(f"{_num(value)} ({_num(_mean(real_scores.get(key)))})")
        dcr = _mean(scores.get("privacy.dcr_share"))
        if dcr is not None:
            tally["dcr"].append(dcr <= dcr_goal)
        cells.append(_num(dcr, 3) + ("" if dcr is None else " ok" if dcr <= dcr_goal else " **miss**"))
        # Exact copies are compared with the real holdout's own exact-match rate: the holdout of the same
        # evaluate call (the test split), strictly (evaluate's privacy verdict allows 0.01 more). Real val's rate is
        # shown too; a cell without the holdout rate is not counted.
        copies = _mean(scores.get("privacy.exact_copies_share"))
        holdout_copies = _mean(scores.get("privacy.exact_copies_share_holdout"))
        real_copies = _mean(real_scores.get("privacy.exact_copies_share"))
        copies_ok = None if copies is None or holdout_copies is None else copies <= holdout_copies
        if copies_ok is not None:
            tally["copies"].append(copies_ok)
        cells.append(f"{_num(copies, 5)} ({_num(holdout_copies, 5)}; {_num(real_copies, 5)})"
                     + ("" if copies_ok is None else " ok" if copies_ok else " **miss**"))
        fit = _mean(info.get("fit_seconds"))
        if fit is not None:
            tally["fit"].append(fit <= goal["fit_seconds"])
        cells.append(_num(fit, 0))
        lines.append("| " + " | ".join(cells) + " |")
    if len(lines) == 2:
        return [f"No {method} results in this run."]
    def count(key: str) -> str:
        return f"{sum(tally[key])} of {len(tally[key])}"

    def average(values: list[float]) -> str:
        return f"{sum(values) / len(values):.5f}" if values else "–"
    share = goal["efficacy_above_share"]
    lines += ["", f"Targets met: efficacy at least the paper's TabDDPM - {tolerance:g} on {count('efficacy >= -tolerance')} "
              f"datasets and above it on {count('efficacy > 0')} (target: all, and above on "
              f"{'3/4' if share == 0.75 else f'{share:.0%}'}); detection AUC "
              f"<= {auc_goal:g} or below every baseline here on {count('detection')}; mean shape error "
              f"{average(shapes)} (target < {goal['shape_error']:g}) and mean trend error {average(trends)} (target < "
              f"{goal['trend_error']:g}); DCR share <= {dcr_goal:g} on {count('dcr')}; "
              f"exact copies no more than the test split's own on {count('copies')}; fit <= {goal['fit_seconds']:g} s on {count('fit')}. "
              "Baselines that did not run in this file do not count in the detection column."]
    if above_real:
        lines += ["", f"On {', '.join(above_real)} the paper's TabDDPM score minus 0.005 is above the Real row (the "
                  "same CatBoost trained on the real train split): there the efficacy target asks a synthetic set of the "
                  "train size to train a better model than the real rows do. The paper's own sets were up to 8x larger "
                  "(see the paper-size table)."]
    ratios, mixed_runs = [], False
    marks = _kept_marks(results)
    for name, entry in results["datasets"].items():
        ours, preset = entry["methods"].get(method, {}), entry["methods"].get("tabddpm", {})
        if ours.get("status") == "ok" and preset.get("status") == "ok":
            full = _full_fit_seconds(preset) or (preset.get("fit_seconds") or {}).get("mean")
            if full and (ours.get("fit_seconds") or {}).get("mean"):
                ours_mark, preset_mark = _mark(results, ours, marks), _mark(results, preset, marks)
                mixed = ours_mark != preset_mark
                mixed_runs |= mixed
                ratios.append(f"{name} {full / ours['fit_seconds']['mean']:.0f}x"
                              + (f" (preset{preset_mark or ' here'}, default{ours_mark or ' here'})" if mixed else ""))
    if ratios:
        lines += ["", "Fit wall time of `preset=\"tabddpm\"` at the paper's configuration (30,000 steps; extrapolated "
                  "from its budget-stopped fit at its mean step time) over the default's: " + ", ".join(ratios)
                  + ". Its quality at that configuration is the paper's TabDDPM column (reproduced on a GPU: "
                  "docs/experiments.md, \"What more compute buys\")."
                  + (" Where the two fits come from different runs (kept entries, marked as in the header), the "
                     "ratio also compares machines." if mixed_runs else "")]
    lines += ["", "Real val: the real validation split scored against the train split as if it were synthetic: what "
              "fresh real rows score. Val has about a quarter of train's rows, so its sampling noise in the shape and "
              "trend errors is about twice that of a train-size set."]
    return lines


def _strong_auc(info: dict) -> float | None:
    """A method's mean strong-detector AUC over its cells, or None where it was not measured."""
    return _mean((info.get("strong_detection") or {}).get("auc"))


def _strong_table(results: dict, method: str = "tabdiffusion") -> list[str]:
    """The strong detector's AUC (benchmarks/detector.py) of every method per table, the columns that give `method`'s
    rows away, and its targets: below the peer's AUC on every table, at most 0.70 on three quarters of them."""
    methods = [m for m in results["methods"]
               if any(_strong_auc(e["methods"].get(m, {})) is not None for e in results["datasets"].values())]
    if not methods:
        return []
    goal = 0.70
    head = ["dataset"] + [("Real (val rows)" if m == "real" else SHORT[m]) for m in methods] + [
        f"{SHORT[method]}: top columns (importance %)", f"{SHORT[method]} below {SHORT[PEER]}", f"{SHORT[method]} <= {goal:g}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    below, under = [], []
    for name, entry in results["datasets"].items():
        cells = [name] + [_num(_strong_auc(entry["methods"].get(m, {})), 3) for m in methods]
        ours, peer = _strong_auc(entry["methods"].get(method, {})), _strong_auc(entry["methods"].get(PEER, {}))
        if ours is None:
            lines.append("| " + " | ".join(cells + ["not run"] * 3) + " |")
            continue
        importance = entry["methods"][method]["strong_detection"].get("importance", {})
        cells.append(", ".join(f"{column} {share:.0f}" for column, share in list(importance.items())[:3]))
        if peer is None:
            cells.append("–")
        else:
            below.append(ours < peer)
            cells.append("ok" if ours < peer else "**miss**")
        under.append(ours <= goal)
        cells.append("ok" if ours <= goal else "**miss**")
        lines.append("| " + " | ".join(cells) + " |")
    tables = len(results["datasets"])
    lines += ["", f"Targets: {SHORT[method]} below {LABELS[PEER]} on {sum(below)} of {len(below)} tables where both ran "
              f"(target: all {tables}); at most {goal:g} on {sum(under)} of {len(under)} where it ran (target: three "
              f"quarters of {tables})."]
    return lines


def _efficacy_targets(results: dict, method: str = "tabdiffusion") -> list[str]:
    """The efficacy targets of targets.toml [efficacy] for `method`, on the tables where it drew both set sizes: at the
    paper's size against the paper's TabDDPM, at the train size against SMOTE in this file."""
    goal = targets("efficacy")
    head = ["dataset", "paper size: ours", "paper TabDDPM", "difference", "train size: ours", "SMOTE (this run)",
            "difference"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    within, above, level = [], [], []
    for name, entry in results["datasets"].items():
        sizes = entry["methods"].get(method, {}).get("sizes", {})
        paper = _mean((sizes.get("paper") or {}).get("score"))
        train = _mean((sizes.get("train") or {}).get("score"))
        smote = _mean((entry["methods"].get("smote", {}).get("sizes", {}).get("train") or {}).get("score"))
        reference = (entry["paper"]["scores"].get("tabddpm") or {}).get("score")
        if paper is None or train is None or smote is None or reference is None:
            continue
        within.append(paper >= reference - goal["paper_tolerance"])
        above.append(paper > reference)
        level.append(train >= smote - goal["smote_tolerance"])
        lines.append(f"| {name} | {paper:.4f} | {reference:.4f} | {paper - reference:+.4f}"
                     f"{'' if within[-1] else ' **miss**'} | {train:.4f} | {smote:.4f} | {train - smote:+.4f}"
                     f"{'' if level[-1] else ' **miss**'} |")
    if not within:
        return []
    tables = len(within)
    return lines + ["", f"Targets on these {tables} tables: at the paper's set size, at least the paper's TabDDPM minus "
                    f"{goal['paper_tolerance']:g} on {sum(within)} of {tables} and above it on {sum(above)} (target: "
                    f"every table, and above on {goal['paper_above_share']:.0%}); at the train size, at least SMOTE "
                    f"minus {goal['smote_tolerance']:g} on {sum(level)} of {tables} (target: every table)."]


def _full_fit_seconds(info: dict) -> float | None:
    """A budget-stopped fit's wall time extrapolated to all its planned steps (its mean step time so far)."""
    fit = info.get("fit")
    fit = fit[0] if isinstance(fit, list) else fit
    seconds = (info.get("fit_seconds") or {}).get("mean")
    if not fit or not seconds or not fit.get("steps") or fit.get("steps_planned", 0) <= fit["steps"]:
        return None
    return seconds * fit["steps_planned"] / fit["steps"]


def _timing_table(results: dict) -> list[str]:
    marks = _kept_marks(results)
    lines = ["| dataset | method | fit s | reached | sample s (train size) | rows/s | CatBoost s per fit |",
             "|---|---|---|---|---|---|---|"]
    for name, entry in results["datasets"].items():
        for method in results["methods"]:
            info = entry["methods"].get(method, {})
            if info.get("status") != "ok":
                continue
            fit = info.get("fit")
            fit = fit[0] if isinstance(fit, list) else fit
            reached = "–"
            if fit and "steps" in fit:
                reached = f"{fit['steps']} / {fit['steps_planned']} steps"
                full = _full_fit_seconds(info)
                if full is not None:
                    reached += f" (all: ~{full:,.0f} s)" if full < 3600 else f" (all: ~{full / 3600:.1f} h)"
            elif fit and "epochs" in fit:
                reached = f"{fit['epochs']} / {fit['epochs_planned']} epochs"
            train = info.get("sizes", {}).get("train", {})
            sample = train.get("sample_seconds")
            rows = train.get("rows", {}).get("mean")
            rate = rows / sample["mean"] if sample and sample["mean"] > 0 and rows else None
            lines.append(
                f"| {name} | {SHORT[method]}{_mark(results, info, marks)} | {_fmt(info.get('fit_seconds'), 1, std=False)} | {reached} | "
                f"{_fmt(sample, 1, std=False)} | {'–' if rate is None else f'{rate:,.0f}'} | "
                f"{_fmt(train.get('catboost_seconds'), 1, std=False)} |"
            )
    if marks:
        lines += [""] + [f"{mark} Kept from the results file dated {origin['date']}, computed on "
                         f"{_machine_text(origin['machine'])}." for mark, origin, _ in marks.values()]
        lines += ["", "Compare times only between rows with the same mark; unmarked rows are cells of this file's "
                  "own command (see its header)."]
    return lines


def _errors(results: dict) -> list[str]:
    lines = []
    for name, entry in results["datasets"].items():
        for method, info in entry["methods"].items():
            for error in dict.fromkeys(info.get("errors", [])):
                lines.append(f"- {name} / {method}: `{error[:300]}`")
    return (["", "Errors (cells not cached; a rerun retries them):", ""] + lines) if lines else []


def _measured(paths: list[Path]) -> dict[str, tuple[float, float, float]]:
    """Per complete dataset: CatBoost seconds per fit on the real train split, paper rows / train rows, evaluate s."""
    measured = {}
    for path in paths:
        results = json.loads(path.read_text())
        if results["settings"].get("rows"):
            continue
        for name, entry in results["datasets"].items():
            real = entry["methods"].get("real", {})
            seconds = real.get("sizes", {}).get("train", {}).get("catboost_seconds")
            if seconds and name in COMPLETE:
                ratio = (entry["paper"].get("num_samples") or entry["rows"]["train"]) / entry["rows"]["train"]
                measured[name] = (seconds["mean"], ratio, (real.get("evaluate_seconds") or {}).get("mean", 15.0))
    return measured


def estimate_hours(measured: dict, budget: float, catboost_seeds: int, sizes: tuple[str, ...],
                   sample_seeds: int = 2, real_seeds: int = 5, paper_seeds: int = 1) -> float:
    """Wall hours of a run over `measured`'s datasets with all six methods (upper bound for sampling).

    Per dataset: 4 budget-bounded fits (tabdiffusion, tabddpm, TVAE, CTGAN); one full sampling budget per
    sampling seed and size for the tabddpm preset; CatBoost on every synthetic set (paper-size sets for tabdiffusion,
    tabddpm and SMOTE only), its time taken as proportional to the set's rows from the real row's seconds per fit;
    evaluate once per synthetic train-size set.
    """
    # Paper-size sets: tabdiffusion, tabddpm, SMOTE. Only the tabddpm preset's 1000-step sampler fills its sampling
    # budget on a CPU; the default samples a train-size set in seconds.
    generators, paper_generators, slow_samplers, total = 6, 3, 1, 0.0
    for seconds, ratio, evaluate_seconds in measured.values():
        sets = generators * sample_seeds
        total += 4 * budget + slow_samplers * sample_seeds * len(sizes) * budget
        total += seconds * real_seeds + sets * seconds * catboost_seeds
        if "paper" in sizes:
            total += paper_generators * sample_seeds * seconds * paper_seeds * ratio
        total += (sets + 1) * evaluate_seconds
    return total / 3600


def estimate(paths: list[Path]) -> list[str]:
    """Lines estimating the wall time of full runs from the CatBoost times measured on the real train splits."""
    measured = _measured(paths)
    if len(measured) < len(COMPLETE):
        return []
    options = [("`--budget 300` (the command above; 1 CatBoost seed per paper-size set)", 300.0, 3, ("train", "paper")),
               ("`--budget 300 --sizes train`", 300.0, 3, ("train",)),
               ("`--budget 120 --sizes train --catboost-seeds 2`", 120.0, 2, ("train",)),
               ("`--budget 60 --sizes train --catboost-seeds 1` (a few hours: 2 sampling seeds x 1 CatBoost seed)",
                60.0, 1, ("train",))]
    lines = ["Estimated wall time of a run over all 13 datasets with all methods on the machine of the real-row check, "
             "from its measured CatBoost seconds per fit (CatBoost time taken as proportional to rows, sampling "
             "budgets fully used, 2 sampling seeds):", ""]
    lines += [f"- {label}: about {estimate_hours(measured, b, c, z):.0f} h" for label, b, c, z in options]
    lines += ["", "Most of it is CatBoost with the paper's tuned parameters (up to 2000 iterations; buddy and gesture "
              "take minutes per fit) on synthetic sets of the paper's num_samples rows (up to 8x the train split); "
              "cores shared with other jobs make it slower. Cells are cached, so a run can be split over sessions "
              "(e.g. `--datasets adult,buddy`) and resumed after an interruption; the same command with `--cached-only` "
              "then assembles every cached cell into one results file without computing anything.", ""]
    return lines


def render_one(path: Path) -> list[str]:
    results = json.loads(path.read_text())
    lines = _header(path, results)
    generators = [m for m in results["methods"] if m != "real"]
    sizes = results["settings"]["sizes"]
    if generators:
        lines += ["### ML efficacy, synthetic set of the real train size (the honest comparison)", "",
                  "Mean ± std over all (sampling seed, CatBoost seed) pairs; Real: over CatBoost seeds. "
                  "Paper columns: the published numbers (10 CatBoost seeds x 5 sampling seeds, "
                  "synthetic sets of the paper's num_samples).", ""]
        lines += _efficacy_table(results, "train") + [""]
        if "paper" in sizes:
            lines += ["### ML efficacy, synthetic set of the paper's num_samples rows (the paper's setting)", "",
                      "num_samples is TabDDPM's tuned setting, so only tabdiffusion, the tabddpm preset and SMOTE draw "
                      "sets of this size; the SDV baselines are compared at the train size.", ""]
            lines += _efficacy_table(results, "paper") + [""]
    lines += ["### Real row against the paper", ""] + _real_check(results) + [""]
    lines += ["### Fidelity and privacy (tabdiffusion's evaluate)", "",
              "Synthetic set of the real train size (mean over sampling seeds) scored against the real train split, holdout = real test split; row caps "
              f"{results['settings'].get('evaluate_rows')} for neighbours and detection. Errors: lower is better; "
              "detection AUC 0.5 = indistinguishable; DCR share ~0.5 = no closer to train than to holdout. "
              "'Real (val rows)' scores the real val split as if it were synthetic: the reference a perfect "
              "generator would reach. The paper's median DCR uses another feature scaling: compare only its ordering.",
              ""] + _fidelity_table(results) + [""]
    strong = _strong_table(results)
    if strong:
        lines += ["### Strong detector (CatBoost, up to 20,000 rows per side)", "",
                  "CatBoost (300 iterations, depth 6, native categorical features), 5-fold stratified cross-validation "
                  "on n real train rows against n synthetic rows of the train-size set, n = min(train rows, 20,000); "
                  "mean AUC over folds and sampling seeds (benchmarks/detector.py). 0.5: the detector cannot tell them "
                  "apart. The headline detection score; evaluate()'s GBM on at most "
                  f"{results['settings'].get('evaluate_rows')} rows per side is in the fidelity table.", ""]
        lines += strong + [""]
    restated = _efficacy_targets(results)
    if restated:
        lines += ["### Efficacy targets: the paper's set sizes and SMOTE at the train size", "",
                  "Mean CatBoost score (the paper's protocol) of tabdiffusion's paper-size set against the paper's "
                  "published TabDDPM, and of its train-size set against SMOTE's in this run.", ""]
        lines += restated + [""]
    attacks = _attacks_table(results)
    if attacks:
        lines += ["### Privacy attacks on the default (value protection on)", "",
                  "evaluate()'s attacks on the train-size set, with the train split as members and the test split as "
                  "non-members (docs/privacy.md says what each measures): DOMIAS's membership-inference AUC (0.5: no "
                  "better than guessing) and Anonymeter's singling-out, linkability and attribute-inference risks (0: "
                  "the attack does no better on training rows than on unseen ones), each with its 95% interval; the "
                  "DCR share and exact copies as in the fidelity table.", ""]
        lines += attacks + [""]
    if "tabdiffusion" in generators:
        lines += ["### Quality targets for the default (tabdiffusion)", "",
                  "ML efficacy on the train-size set against the paper's TabDDPM score; detection against the "
                  "baselines in this file (GBM C2ST); exact copies against the holdout's own exact-match rate (the test "
                  "rows that equal a train row, from the same evaluate call; Real val's rate shown beside it).", ""]
        lines += _targets_table(results) + [""]
    lines += ["### Time on this machine", "", "Fit: wall seconds of one fit (budget-bounded); sample: seconds to "
              "draw the train-size set; CatBoost: mean seconds of one CatBoost fit on that set.", ""]
    lines += _timing_table(results) + _errors(results) + [""]
    return lines


def render(paths: list[Path]) -> str:
    intro = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python -m benchmarks.report` from benchmarks/results/*.json. Do not edit by hand. -->",
        "",
        "Generated from the results files listed in each section; rerun the section's command to reproduce it, then "
        "`python -m benchmarks.report` to regenerate this page. The protocol is the TabDDPM paper's (Kotelnikov et al., "
        "ICML 2023; yandex-research/tab-ddpm `scripts/eval_catboost.py`): fit a generator on the train split, train the "
        "paper's tuned CatBoost on synthetic rows, early-stop on the real val split, score the real test split (macro "
        "F1 for classification, R2 for regression). Datasets marked † differ from the paper's files "
        "(shared/datasets/tabddpm/<name>/REBUILT.md).",
        "",
        "Full run (all 13 complete datasets, all methods):",
        "",
        "```bash",
        "# SDV 2.0 (TVAE, CTGAN, GaussianCopula; skipped with a note if absent) needs pandas<3: give it its own environment",
        "python -m venv .venv-sdv && .venv-sdv/bin/pip install torch==2.13.0 \"pandas<3\" -e \".[baselines]\"",
        "# MOSTLY AI's TabularARGN (argn; skipped with a note if absent) runs in a worker in its own environment",
        "python -m venv .venv-argn && .venv-argn/bin/pip install torch==2.13.0 && .venv-argn/bin/pip install mostlyai-engine pyarrow",
        ".venv-argn/bin/pip uninstall -y torchvision torchaudio   # pulled in, mismatched with the CPU torch build, unused",
        ".venv-sdv/bin/python -m benchmarks.tabddpm --datasets all --methods all --budget 300   # --torch-threads 1 on shared cores",
        "```",
        "",
    ]
    if paths and not any(path.stem.endswith("-full") for path in paths):
        intro += ["**No full run is recorded yet.** The sections below are what has been run: see each one's "
                  "coverage line.", ""]
    if not paths:
        return "\n".join(intro + ["No results yet."]) + "\n"
    intro += estimate(paths)
    body: list[str] = []
    for path in sorted(paths, key=_order):
        body += render_one(path)
    return "\n".join(intro + body + _task_sections()).rstrip() + "\n"


def _task_sections() -> list[str]:
    """The conditional generation, imputation, oversampling, class-fidelity, value-protection and DP-utility
    benchmarks (results/conditional/, results/oversampling/, results/privacy/), where they have been run."""
    from . import class_fidelity, conditional, dp_utility, imputation, oversampling, scale_report, value_protection

    lines = []
    for module in (conditional, imputation, oversampling, class_fidelity, value_protection, dp_utility):
        if module.RESULTS.exists():
            lines += module.render(json.loads(module.RESULTS.read_text()))
    return lines + scale_report.render()


def write_docs(out: Path = DOCS, paths: list[Path] | None = None) -> Path:
    """Regenerate `out` from `paths` (default: every benchmarks/results/*.json)."""
    paths = sorted(RESULTS.glob("*.json")) if paths is None else paths
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(paths))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="*", help="results JSON files (default: benchmarks/results/*.json)")
    parser.add_argument("-o", "--out", default=str(DOCS))
    args = parser.parse_args(argv)
    out = write_docs(Path(args.out), [Path(p) for p in args.results] if args.results else None)
    print(out)


if __name__ == "__main__":
    main()
