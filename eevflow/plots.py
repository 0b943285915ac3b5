"""The report's figures (matplotlib, Agg backend): per-expression Pearson per model, training
curves per variant, and one video's predicted (and true) curves over time.

Every figure has a fixed size and dpi, and :func:`save_figure` writes PNGs without the software
and date metadata, so that the same inputs give the same bytes on every run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # no display: job scripts, tests and the CLI all draw off-screen

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from eevflow.io import atomic_path  # noqa: E402

DPI = 100
# PNG text chunks matplotlib would otherwise write (its version): dropped, for stable bytes
PNG_METADATA = {"Software": None}


class PlotInputError(ValueError):
    """A figure's input is not what it should be (shapes, columns, empty data)."""


def curves_figure(times_s, pred, targets, truth=None, thumbnails=None, title=None) -> Figure:
    """One video's predicted curves over time: one line per target (with a legend), the true
    curves dashed in the same colour when ``truth`` is given, and a strip of thumbnails along
    the time axis when ``thumbnails`` are given.

    Args:
        times_s: (T,) times in seconds, increasing.
        pred: (T, K) predicted values, column k for ``targets[k]``.
        targets: the K target names, in column order.
        truth: None, or (T, K) true values at the same times.
        thumbnails: None, or a list of ``(time_s, image)`` with ``image`` an HxWx3 uint8 array;
            each is drawn above the curves at its time.
        title: the figure's title (e.g. the video ID and model), or None.

    Returns:
        a matplotlib Figure (not shown; save it with :func:`save_figure`, then ``plt.close``).

    Raises:
        PlotInputError: shapes that do not agree, no rows, or a thumbnail that is not HxWx3 uint8.
    """
    times = np.asarray(times_s, dtype=float).reshape(-1)
    pred = np.asarray(pred, dtype=float)
    targets = [str(t) for t in targets]
    if pred.ndim != 2 or pred.shape != (len(times), len(targets)):
        raise PlotInputError(
            f"pred has shape {pred.shape}; expected (T, K) = ({len(times)}, {len(targets)}) "
            "for the times and targets given"
        )
    if len(times) == 0:
        raise PlotInputError("no rows to plot (times_s is empty)")
    if truth is not None:
        truth = np.asarray(truth, dtype=float)
        if truth.shape != pred.shape:
            raise PlotInputError(f"truth has shape {truth.shape}; pred has {pred.shape}")
    thumbs = list(thumbnails or [])
    for t, img in thumbs:
        img = np.asarray(img)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise PlotInputError(
                f"thumbnail at {t} s is {img.dtype} of shape {img.shape}; expected HxWx3 uint8"
            )
    fig = Figure(figsize=(10, 5.5 if thumbs else 4.5), dpi=DPI)
    if thumbs:
        strip, ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 3]})
    else:
        strip, ax = None, fig.subplots()
    colors = _colors(len(targets))
    for k, name in enumerate(targets):
        ax.plot(times, pred[:, k], color=colors[k], lw=1.2, label=name)
        if truth is not None:
            ax.plot(times, truth[:, k], color=colors[k], lw=1.0, ls="--")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("score")
    lo, hi = float(times.min()), float(times.max())
    ax.set_xlim(lo, hi if hi > lo else lo + 1.0)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if truth is not None:
        handles.append(matplotlib.lines.Line2D([], [], color="0.3", ls="--"))
        labels.append("(dashed: true)")
    ax.legend(handles, labels, fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)
    if strip is not None:
        strip.set_yticks([])
        strip.tick_params(labelbottom=False)
    if title:
        fig.suptitle(str(title), fontsize=10)
    fig.tight_layout()
    if strip is not None:  # after the layout: the strip's size in pixels keeps each aspect
        _thumbnail_strip(strip, thumbs, ax.get_xlim())
    return fig


def _thumbnail_strip(ax, thumbs, xlim) -> None:
    """Each thumbnail centred on its time, as wide as its share of the axis allows."""
    lo, hi = xlim
    box = ax.get_window_extent()
    share = (hi - lo) / max(len(thumbs), 1) * 0.95
    for t, img in thumbs:
        h, w = np.asarray(img).shape[:2]
        # as wide as the strip's height at the image's aspect, at most its share of the axis
        width = min(share, box.height * w / max(h, 1) * (hi - lo) / max(box.width, 1.0))
        ax.imshow(img, extent=(t - width / 2, t + width / 2, 0.0, 1.0), aspect="auto",
                  interpolation="bilinear")
    ax.set_ylim(0.0, 1.0)
    ax.set_xlim(lo, hi)


def pearson_bars(scores, splits=None, title=None) -> Figure:
    """Per-expression Pearson's r of each model (grouped bars, one group per expression), one
    panel per split.

    Args:
        scores: the score table (results/scores/scores.csv: a path or its DataFrame), with
            columns ``model``, ``split``, ``m_rho`` and one ``r_<target>`` per target.
        splits: the splits to draw, in order; None: those in the table (val, then test).
        title: the figure's title, or None.
    """
    table = pd.read_csv(scores) if isinstance(scores, (str, os.PathLike)) else pd.DataFrame(scores)
    missing = {"model", "split", "m_rho"} - set(table.columns)
    r_cols = [c for c in table.columns if c.startswith("r_")]
    if missing or not r_cols:
        raise PlotInputError(
            f"the score table lacks the columns {sorted(missing) or ['r_<target>']}"
        )
    present = [s for s in ("val", "test") if s in set(table["split"])]
    splits = list(splits) if splits is not None else present
    if not splits or any(s not in present for s in splits):
        raise PlotInputError(f"splits {splits} not all in the score table (it has {present})")
    targets = [c[2:] for c in r_cols]
    fig = Figure(figsize=(14, 3.6 * len(splits) + 0.6), dpi=DPI)
    axes = np.atleast_1d(fig.subplots(len(splits), 1, squeeze=False)[:, 0])
    for ax, split in zip(axes, splits):
        rows = table[table["split"] == split]
        models = list(rows["model"])
        colors = _colors(len(models))
        x = np.arange(len(targets), dtype=float)
        width = 0.85 / max(len(models), 1)
        for i, (_, row) in enumerate(rows.iterrows()):
            values = row[r_cols].to_numpy(dtype=float)
            ax.bar(x - 0.425 + (i + 0.5) * width, np.nan_to_num(values), width,
                   color=colors[i], label=f"{row['model']} (M_rho {row['m_rho']:.3f})")
        ax.axhline(0.0, color="0.2", lw=0.6)
        ax.set_xticks(x)
        ax.set_xticklabels(targets, rotation=30, ha="right", fontsize=8)
        ax.set_xlim(-0.5, len(targets) - 0.5)
        ax.set_ylim(min(-0.2, float(np.nanmin(rows[r_cols].to_numpy(dtype=float))) - 0.05), 1.0)
        ax.set_ylabel(f"Pearson's r ({split})")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if title:
        fig.suptitle(str(title), fontsize=10)
    fig.tight_layout()
    return fig


def training_curves(histories: Mapping[str, dict] | Sequence[dict], title=None) -> Figure:
    """Training loss and validation M_rho per epoch of each variant (the train job's history
    JSON, results/models/<variant>/training.json: ``history`` rows with ``epoch``,
    ``train_loss`` and ``val_m_rho``; its ``best`` marked with a dot).

    Args:
        histories: variant -> its parsed training.json, or a list of them (named by their
            ``variant`` key). Models without epochs (the ridge ``linear`` family's history
            rows are per alpha; imported pretrained models) are named under the panels.
        title: the figure's title, or None.
    """
    if not isinstance(histories, Mapping):
        histories = {h.get("variant", f"variant {i}"): h for i, h in enumerate(histories)}
    fig = Figure(figsize=(12, 4.6), dpi=DPI)
    loss_ax, rho_ax = fig.subplots(1, 2)
    colors = _colors(len(histories))
    not_drawn = []
    for color, (name, hist) in zip(colors, histories.items()):
        if not isinstance(hist, Mapping):
            raise PlotInputError(f"{name}: not a training history (a JSON object)")
        rows = [r for r in hist.get("history") or [] if isinstance(r, Mapping)
                and isinstance(r.get("epoch"), int)]  # imported models: no history
        if not rows:
            not_drawn.append(str(name))
            continue
        epochs = [r["epoch"] for r in rows]
        loss = [r.get("train_loss", np.nan) for r in rows]
        rho = [r.get("val_m_rho", np.nan) for r in rows]
        loss_ax.plot(epochs, np.asarray(loss, dtype=float), color=color, lw=1.2, label=name)
        rho_ax.plot(epochs, np.asarray(rho, dtype=float), color=color, lw=1.2, label=name)
        best = hist.get("best") or {}
        if isinstance(best.get("epoch"), int) and best.get("val_m_rho") is not None:
            rho_ax.plot([best["epoch"]], [best["val_m_rho"]], "o", color=color, ms=4)
    loss_ax.set_title("training loss", fontsize=10)
    loss_ax.set_xlabel("epoch")
    if any(line.get_ydata().size and np.nanmin(line.get_ydata()) > 0
           for line in loss_ax.get_lines()):
        loss_ax.set_yscale("log")  # variants' losses differ in scale (target_scale)
    rho_ax.set_title("validation M_rho (dot: the epoch kept)", fontsize=10)
    rho_ax.set_xlabel("epoch")
    for ax in (loss_ax, rho_ax):
        ax.grid(alpha=0.3)
    if rho_ax.get_lines():
        rho_ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if not_drawn:
        fig.text(0.01, 0.01, "no epochs (not drawn): " + ", ".join(not_drawn), fontsize=8)
    if title:
        fig.suptitle(str(title), fontsize=10)
    fig.tight_layout(rect=(0, 0.04 if not_drawn else 0, 1, 1))
    return fig


def best_model(scores, oracle: str = "oracle") -> tuple[str, str]:
    """(model, split) of the score table's best model by M_rho on test when the table scores
    test, else on val; ties go to the first row. The oracle row (no predictions) is left out."""
    table = pd.read_csv(scores) if isinstance(scores, (str, os.PathLike)) else pd.DataFrame(scores)
    if not {"model", "split", "m_rho"} <= set(table.columns):
        raise PlotInputError("the score table lacks the columns model, split and m_rho")
    table = table[table["model"] != oracle]
    for split in ("test", "val"):
        rows = table[table["split"] == split].dropna(subset=["m_rho"])
        if len(rows):
            return str(rows.iloc[int(np.argmax(rows["m_rho"].to_numpy(float)))]["model"]), split
    raise PlotInputError("the score table has no scored model on test or val")


def curve_videos(truth: pd.DataFrame, n: int, predicted: Sequence[str] | None = None) -> list[str]:
    """The first ``n`` videos of the truth table (label-file order) with at least 2 rows, of
    those in ``predicted`` when given (a video download_check excluded has no prediction)."""
    if predicted is not None:
        truth = truth[truth["video_id"].isin(set(predicted))]
    counts = truth.groupby("video_id", sort=False).size()
    return [str(v) for v in counts.index[counts.to_numpy() >= 2][:n]]


def video_curves(pred: pd.DataFrame, truth: pd.DataFrame, video: str, targets: Sequence[str]):
    """(times_s, pred (T, K), truth (T, K)) of one video, on the truth's rows in time order."""
    keys = ["video_id", "timestamp_us"]
    t = truth[truth["video_id"] == video].sort_values("timestamp_us")
    joined = t[keys].merge(pred[pred["video_id"] == video], on=keys, how="left",
                           validate="one_to_one")
    missing = [c for c in targets if c not in joined.columns or c not in t.columns]
    if missing:
        raise PlotInputError(f"{video}: no column for the targets {missing}")
    if joined[list(targets)].isna().all(axis=None):
        raise PlotInputError(f"{video}: the predictions hold none of its label rows")
    times = t["timestamp_us"].to_numpy(np.int64) / 1e6
    return times, joined[list(targets)].to_numpy(float), t[list(targets)].to_numpy(float)


def pick_thumbnails(times_us, frames, n: int) -> list[tuple[float, np.ndarray]]:
    """``n`` frames evenly spread over a decoded video's rows (its frames at ``times_us``), as
    :func:`curves_figure` takes them."""
    rows = len(times_us)
    if n <= 0 or rows == 0:
        return []
    idx = np.unique(np.linspace(0, rows - 1, num=min(n, rows) + 2).round().astype(int)[1:-1])
    if idx.size == 0:
        idx = np.array([0])
    return [(float(times_us[i]) / 1e6, np.ascontiguousarray(frames[i])) for i in idx]


def _colors(n: int) -> list:
    cmap = plt.get_cmap("tab20" if n > 10 else "tab10")
    return [cmap(i % cmap.N) for i in range(n)]


def save_figure(fig: Figure, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG at ``path`` atomically (eevflow.io.atomic_path), without the
    metadata that would change between runs, then release the figure."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata=PNG_METADATA)
    plt.close(fig)
