"""The score table: M_rho and mean CCC per model and split, per-target Pearson and CCC, counts of
what was excluded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eevflow import metrics

KEYS = ["video_id", "timestamp_us"]


def score_predictions(
    truth: pd.DataFrame,
    pred: pd.DataFrame,
    targets: list[str],
    policy: str,
    ignore_undetected: bool,
    unscorable: str = "exclude",
) -> dict:
    """Score one model on one split. Truth rows without a prediction are not scored; their videos
    are counted as ``n_videos_unscored``. Videos with fewer than 2 scorable rows (truth rows with a
    prediction, less the undetected ones when ``ignore_undetected``) are treated as ``unscorable``
    says (:mod:`eevflow.metrics`), counted as ``n_unscorable_videos`` and named, with their reason,
    in ``unscorable_videos`` (video id -> reason, the row's one non-scalar entry: not a column).
    ``ccc`` and ``ccc_<target>``: Lin's CCC over the same rows (``metrics.ccc_score``: averaged
    like M_rho; unscorable videos and pairs constant on both sides left out)."""
    merged = truth[KEYS + targets].merge(
        pred[KEYS + targets], on=KEYS, how="inner", suffixes=("", "__pred")
    )
    y = merged[targets].to_numpy(np.float64)
    p = merged[[f"{t}__pred" for t in targets]].to_numpy(np.float64)
    res = metrics.score(
        merged["video_id"].to_numpy(), y, p, policy, ignore_undetected, unscorable=unscorable
    )
    ccc = metrics.ccc_score(merged["video_id"].to_numpy(), y, p, ignore_undetected)
    row = {
        "m_rho": res.m_rho,
        "ccc": ccc.mean,
        "n_videos": res.n_videos,
        "n_videos_unscored": int(truth["video_id"].nunique() - merged["video_id"].nunique()),
        "n_rows": res.n_rows_used,
        "n_constant_pairs": res.n_constant_pairs,
        "n_unscorable_videos": res.n_unscorable_videos,
        "unscorable_videos": dict(res.unscorable_videos),
    }
    row.update({f"r_{t}": float(v) for t, v in zip(targets, res.per_target)})
    row.update({f"ccc_{t}": float(v) for t, v in zip(targets, ccc.per_target)})
    return row


#: the score table's row of the noise-free label signal (``data.test_oracle``), test split only
ORACLE = "oracle"
ORACLE_INFO = {
    "kind": "oracle",
    "feature": "the noise-free label signal (the ceiling)",
    "dropout": None,
    "positional_encoding": None,
    "shuffled_labels": False,
}


def ceiling_line(table: pd.DataFrame) -> list[str]:
    """The best test model's M_rho as a share of the oracle's (empty without an oracle row)."""
    test = table[table["split"] == "test"]
    if ORACLE not in set(test["model"]):
        return []
    oracle = float(test.loc[test["model"] == ORACLE, "m_rho"].iloc[0])
    models = test[(test["model"] != ORACLE) & ~test["shuffled_labels"].astype(bool)]
    if models.empty:
        return []
    best = models.loc[models["m_rho"].idxmax()]
    share = f"{100 * best['m_rho'] / oracle:.0f}%" if oracle > 0 else "n/a"
    return [
        "",
        f"`{ORACLE}` scores the noise-free label signal against the labels: the ceiling of "
        f"M_rho on this data. Best model on test: `{best['model']}`, M_rho {best['m_rho']:.4f} = "
        f"{share} of the oracle's {oracle:.4f}.",
    ]


def describe_model(
    name: str, variants: dict, ensembles: dict, weights: dict[str, dict[str, float]] | None = None
) -> dict:
    """The Table-1 columns: features, dropout, positional encoding (or the ensemble's weights:
    the chosen ones from ``weights`` when given, else the config's)."""
    if name in variants:
        s = variants[name]
        family = s["model"].get("type", "tcn")
        if family == "linear":  # the ridge baseline: its context instead of a PE column
            lags = ",".join(f"{x:g}" for x in s["model"].get("lags_s", []))
            means = ",".join(f"{x:g}" for x in s["model"].get("past_means_s", []))
            pe = f"ridge: lags {lags or '-'} s, means {means or '-'} s"
        else:
            pe = s["model"].get("positional_encoding", "timestamp")
        return {
            "kind": "variant",
            "feature": "+".join(s["features"]),
            "dropout": s["model"].get("dropout"),
            "positional_encoding": pe,
            "shuffled_labels": bool(s["training"].get("shuffle_labels", False)),
        }
    members = (weights or {}).get(name) or ensembles[name]["members"]
    how = ensembles[name].get("select_weights", "fixed")
    return {
        "kind": "ensemble",
        "feature": " + ".join(f"{w:.2f}*{m}" for m, w in members.items())
        + (" (weights chosen on val)" if how == "val_grid" else ""),
        "dropout": None,
        "positional_encoding": None,
        "shuffled_labels": False,
    }


def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def unscorable_section(unscorable: dict[str, dict[str, dict]], scoring: dict) -> list[str]:
    """Markdown lines naming every unscorable video per split (``unscorable``: split -> model ->
    {video id: reason}), its reason, the models it was unscorable for and the option applied."""
    option, policy = scoring["unscorable"], scoring["constant_policy"]
    if option == "exclude":
        applied = "left out of M_rho, the per-expression r and the video counts"
    else:
        value = {"minus_one": "r = -1 on every expression (the winner's code)",
                 "epsilon": "r = 0 on every expression", "skip": "skipped, so left out too"}
        applied = f"scored by `scoring.constant_policy: {policy}`: {value[policy]}"
    undetected = ", less the undetected ones" if scoring["ignore_undetected"] else ""
    lines = [
        "",
        "## Unscorable videos (fewer than 2 scorable rows)",
        "",
        f"Scorable rows: a video's truth rows with a prediction{undetected}. Pearson's r exists",
        f"for none of such a video's expressions; `scoring.unscorable: {option}`: {applied}.",
        "CCC leaves such a video out whatever the option.",
        "",
    ]
    rows = []
    for split, by_model in unscorable.items():
        seen: dict[tuple, list[str]] = {}
        for model, videos in by_model.items():
            for vid, why in videos.items():
                seen.setdefault((vid, why), []).append(model)
        for (vid, why), models in seen.items():
            who = "all" if len(models) == len(by_model) else ", ".join(models)
            rows.append(f"| {split} | {_cell(vid)} | {_cell(why)} | {_cell(who)} |")
    if not rows:
        return lines + ["None."]
    return lines + ["| split | video | reason | models |", "|---|---|---|---|", *rows]


def ensemble_weights_markdown(weight_files: dict[str, dict]) -> str:
    """The ensembles' weights and which validation videos chose them (``weights.json`` of each
    ensemble, from rule ensemble); empty without ensembles."""
    if not weight_files:
        return ""
    lines = ["", "## Ensemble weights", "", "| ensemble | weights | chosen by |", "|---|---|---|"]
    for name, w in weight_files.items():
        weights = ", ".join(f"{m} {x:.2f}" for m, x in w["weights"].items())
        how = w.get("weight_videos", w.get("select_weights", ""))
        lines.append(f"| {name} | {_cell(weights)} | {_cell(how)} |")
    return "\n".join(lines) + "\n"


def _per_target(title: str, sub: pd.DataFrame, targets: list[str], prefix: str,
                extra: list[str], extra_cells) -> list[str]:
    """A Markdown section: one row per model of ``sub``, its ``<prefix>_<target>`` values, then
    the ``extra`` columns that ``extra_cells(row)`` fills."""
    lines = ["", f"## {title}", "", "| model | " + " | ".join([*targets, *extra]) + " |",
             "|---|" + "---|" * (len(targets) + len(extra))]
    for model, r in sub.iterrows():
        vals = [f"{r[f'{prefix}_{t}']:.3f}" for t in targets] + [str(c) for c in extra_cells(r)]
        lines.append(f"| {model} | " + " | ".join(vals) + " |")
    return lines


def markdown(
    table: pd.DataFrame,
    targets: list[str],
    excluded: dict[str, dict[str, int]],
    unscorable: dict[str, dict[str, dict]],
    scoring: dict,
) -> str:
    """Paper-style Markdown: one row per model, M_rho and mean CCC per split, then per-target
    Pearson and CCC, the unscorable videos (``unscorable``: split -> model -> {video id: reason})
    and the videos not ``ok`` in download_check."""
    splits = [s for s in ("val", "test") if s in set(table["split"])]
    wide = table.pivot(index="model", columns="split", values="m_rho")
    wide_ccc = table.pivot(index="model", columns="split", values="ccc")
    first = table.drop_duplicates("model").set_index("model")
    lines = [
        "# Scores (M_rho: mean over videos of the mean over expressions of Pearson's r)",
        "",
        "CCC: Lin's concordance correlation coefficient (OMG-Emotion's metric) on the same rows,",
        "averaged the same way; it also penalises a prediction's bias and scale, which r ignores.",
        "",
        "| model | feature | dropout | PE | " + " | ".join(f"{s} M_rho" for s in splits)
        + "".join(f" | {s} CCC" for s in splits) + " |",
        "|---|---|---|---|" + "---|" * (2 * len(splits)),
    ]
    for model in first.index:
        r = first.loc[model]
        pe = "" if pd.isna(r["positional_encoding"]) else r["positional_encoding"]
        dp = "" if pd.isna(r["dropout"]) else f"{r['dropout']:g}"
        feat = r["feature"] + (" (shuffled labels)" if r["shuffled_labels"] else "")
        vals = " | ".join(
            "" if pd.isna(w.loc[model, s]) else f"{w.loc[model, s]:.4f}"
            for w in (wide, wide_ccc) for s in splits
        )
        lines.append(f"| {model} | {feat} | {dp} | {pe} | {vals} |")
    lines += ceiling_line(table)
    for split in splits:
        sub = table[table["split"] == split].set_index("model")
        lines += _per_target(f"Per-expression Pearson's r ({split})", sub, targets, "r",
                             ["videos", "constant pairs", "unscorable"],
                             lambda r: [r["n_videos"], r["n_constant_pairs"],
                                        r["n_unscorable_videos"]])
        lines += _per_target(f"Per-expression CCC ({split})", sub, targets, "ccc", ["mean"],
                             lambda r: [f"{r['ccc']:.4f}"])
    lines += unscorable_section(unscorable, scoring)
    lines += [
        "",
        "## Videos not `ok` in download_check",
        "",
        "`no_audio` videos are scored on their frames with a silent audio track (unless",
        "`probe.no_audio: exclude`); the other statuses are excluded. Every video and reason:",
        "`manifest/report.md`.",
        "",
        "| split | status | videos |",
        "|---|---|---|",
    ]
    for split, counts in excluded.items():
        for status, n in sorted(counts.items()):
            lines.append(f"| {split} | {status} | {n} |")
    return "\n".join(lines) + "\n"
