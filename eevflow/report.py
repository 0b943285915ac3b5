"""The score table: M_rho per model and split, per-target Pearson, counts of what was excluded."""

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
) -> dict:
    """Score one model on one split. Truth rows without a prediction are not scored; their videos
    are counted as ``n_videos_unscored``."""
    merged = truth[KEYS + targets].merge(
        pred[KEYS + targets], on=KEYS, how="inner", suffixes=("", "__pred")
    )
    y = merged[targets].to_numpy(np.float64)
    p = merged[[f"{t}__pred" for t in targets]].to_numpy(np.float64)
    res = metrics.score(merged["video_id"].to_numpy(), y, p, policy, ignore_undetected)
    ccc = metrics.ccc_per_target(merged["video_id"].to_numpy(), y, p, ignore_undetected)
    row = {
        "m_rho": res.m_rho,
        "ccc": float(np.nanmean(ccc)) if np.isfinite(ccc).any() else float("nan"),
        "n_videos": res.n_videos,
        "n_videos_unscored": int(truth["video_id"].nunique() - merged["video_id"].nunique()),
        "n_rows": res.n_rows_used,
        "n_constant_pairs": res.n_constant_pairs,
    }
    row.update({f"r_{t}": float(v) for t, v in zip(targets, res.per_target)})
    return row


def describe_model(
    name: str, variants: dict, ensembles: dict, weights: dict[str, dict[str, float]] | None = None
) -> dict:
    """The Table-1 columns: features, dropout, positional encoding (or the ensemble's weights:
    the chosen ones from ``weights`` when given, else the config's)."""
    if name in variants:
        s = variants[name]
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


def markdown(table: pd.DataFrame, targets: list[str], excluded: dict[str, dict[str, int]]) -> str:
    """Paper-style Markdown: one row per model, M_rho per split, then per-target Pearson."""
    splits = [s for s in ("val", "test") if s in set(table["split"])]
    wide = table.pivot(index="model", columns="split", values="m_rho")
    first = table.drop_duplicates("model").set_index("model")
    lines = [
        "# Scores (M_rho: mean over videos of the mean over expressions of Pearson's r)",
        "",
        "| model | feature | dropout | PE | " + " | ".join(f"{s} M_rho" for s in splits) + " |",
        "|---|---|---|---|" + "---|" * len(splits),
    ]
    for model in first.index:
        r = first.loc[model]
        pe = "" if pd.isna(r["positional_encoding"]) else r["positional_encoding"]
        dp = "" if pd.isna(r["dropout"]) else f"{r['dropout']:g}"
        feat = r["feature"] + (" (shuffled labels)" if r["shuffled_labels"] else "")
        vals = " | ".join(f"{wide.loc[model, s]:.4f}" for s in splits)
        lines.append(f"| {model} | {feat} | {dp} | {pe} | {vals} |")
    for split in splits:
        sub = table[table["split"] == split].set_index("model")
        lines += [
            "",
            f"## Per-expression Pearson's r ({split})",
            "",
            "| model | " + " | ".join(targets) + " | videos | constant pairs |",
            "|---|" + "---|" * (len(targets) + 2),
        ]
        for model, r in sub.iterrows():
            vals = " | ".join(f"{r[f'r_{t}']:.3f}" for t in targets)
            lines.append(f"| {model} | {vals} | {r['n_videos']} | {r['n_constant_pairs']} |")
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
