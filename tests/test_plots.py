"""The report's figures (eevflow/plots.py) and HTML pages (eevflow/report_pages.py)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from eevflow.plots import (PlotInputError, best_model, curve_videos, curves_figure,
                           pearson_bars, pick_thumbnails, save_figure, training_curves,
                           video_curves)
from eevflow.report_pages import markdown_html, markdown_page, text_page

TARGETS = ["amusement", "awe", "pain"]


def scores_table() -> pd.DataFrame:
    rows = []
    for model, val, test in (("tcn", 0.4, 0.5), ("linear", 0.6, 0.45), ("ens", 0.5, 0.55)):
        for split, m in (("val", val), ("test", test)):
            rows.append({"model": model, "split": split, "m_rho": m,
                         **{f"r_{t}": m + 0.1 * k for k, t in enumerate(TARGETS)}})
    rows.append({"model": "oracle", "split": "test", "m_rho": 0.9,
                 **{f"r_{t}": 0.9 for t in TARGETS}})
    return pd.DataFrame(rows)


def png(tmp_path, fig, name="f.png"):
    path = tmp_path / name
    save_figure(fig, path)
    data = path.read_bytes()
    image = Image.open(io.BytesIO(data))
    image.load()  # decodes: a valid PNG
    return data, image


def test_curves_figure_draws_lines_truth_and_thumbnails_and_is_byte_stable(tmp_path):
    t = np.arange(48) / 6
    pred = np.random.default_rng(0).random((48, 3))
    thumbs = [(s, np.full((20, 30, 3), 40 * i, np.uint8)) for i, s in enumerate((1.0, 4.0, 7.0))]
    fig = curves_figure(t, pred, TARGETS, truth=pred / 2, thumbnails=thumbs, title="v1")
    curves = fig.axes[1]
    assert len(curves.get_lines()) == 6  # each target: predicted and its dashed truth
    assert [l.get_linestyle() for l in curves.get_lines()[:2]] == ["-", "--"]
    assert [tx.get_text() for tx in curves.get_legend().get_texts()][:3] == TARGETS
    assert len(fig.axes[0].get_images()) == 3
    first, image = png(tmp_path, fig, "a.png")
    again, _ = png(tmp_path, curves_figure(t, pred, TARGETS, truth=pred / 2, thumbnails=thumbs,
                                           title="v1"), "b.png")
    assert hashlib.sha256(first).digest() == hashlib.sha256(again).digest()
    assert image.size == (1000, 550) and b"Software" not in first
    plain = curves_figure(t, pred, TARGETS)
    assert len(plain.axes) == 1 and len(plain.axes[0].get_lines()) == 3


@pytest.mark.parametrize("kwargs, match", [
    ({"pred": np.zeros((5, 2))}, "expected \\(T, K\\)"),
    ({"truth": np.zeros((4, 3))}, "truth has shape"),
    ({"thumbnails": [(0.0, np.zeros((4, 4), np.uint8))]}, "HxWx3 uint8"),
    ({"thumbnails": [(0.0, np.zeros((4, 4, 3), np.float32))]}, "HxWx3 uint8"),
])
def test_curves_figure_rejects_bad_input_clearly(kwargs, match):
    args = {"times_s": np.arange(5) / 6, "pred": np.zeros((5, 3)), "targets": TARGETS, **kwargs}
    with pytest.raises(PlotInputError, match=match):
        curves_figure(**args)
    with pytest.raises(PlotInputError, match="no rows"):
        curves_figure([], np.zeros((0, 3)), TARGETS)


def test_pearson_bars_one_panel_per_split_one_bar_per_model_and_expression(tmp_path):
    fig = pearson_bars(scores_table())
    val, test = fig.axes
    assert len(val.patches) == 3 * 3 and len(test.patches) == 4 * 3  # the oracle on test
    heights = [p.get_height() for p in val.patches[:3]]
    assert heights == pytest.approx([0.4, 0.5, 0.6])  # tcn's r per expression, in order
    assert "M_rho 0.550" in " ".join(t.get_text() for t in test.get_legend().get_texts())
    assert len(pearson_bars(scores_table(), splits=["val"]).axes) == 1
    with pytest.raises(PlotInputError, match="not all in the score table"):
        pearson_bars(scores_table()[lambda d: d["split"] == "val"], splits=["test"])
    with pytest.raises(PlotInputError, match="lacks the columns"):
        pearson_bars(pd.DataFrame({"model": ["a"], "split": ["val"]}))


def test_training_curves_draw_each_variant_and_name_those_without_epochs(tmp_path):
    hist = {"history": [{"epoch": e, "train_loss": 1 / (e + 1), "val_m_rho": 0.1 * e}
                        for e in range(4)], "best": {"epoch": 3, "val_m_rho": 0.3}}
    ridge = {"history": [{"alpha": 1.0, "val_m_rho": 0.5}], "best": {"epoch": "alpha=1"}}
    fig = training_curves({"tcn": hist, "linear": ridge, "imported": {}})
    loss, rho = fig.axes
    assert len(loss.get_lines()) == 1 and loss.get_yscale() == "log"
    assert len(rho.get_lines()) == 2  # the curve and the kept epoch's dot
    assert list(rho.get_lines()[1].get_xdata()) == [3]
    assert "no epochs (not drawn): linear, imported" in [t.get_text() for t in fig.texts]
    png(tmp_path, fig)
    with pytest.raises(PlotInputError, match="not a training history"):
        training_curves({"x": [1, 2]})


def test_best_model_is_by_test_without_the_oracle_else_by_val():
    assert best_model(scores_table()) == ("ens", "test")
    assert best_model(scores_table()[lambda d: d["split"] == "val"]) == ("linear", "val")
    with pytest.raises(PlotInputError, match="no scored model"):
        best_model(scores_table()[lambda d: d["model"] == "oracle"])


def test_curve_videos_and_their_rows_in_label_order():
    truth = pd.DataFrame({
        "video_id": ["b", "b", "b", "a", "c", "c"],
        "timestamp_us": [333333, 0, 166667, 0, 0, 166667],
        **{t: np.arange(6, dtype=float) for t in TARGETS},
    })
    assert curve_videos(truth, 5) == ["b", "c"]  # a: one row, not a curve
    assert curve_videos(truth, 1) == ["b"]
    assert curve_videos(truth, 5, predicted=["c", "a"]) == ["c"]  # b: excluded, not predicted
    pred = truth.assign(**{t: truth[t] * 10 for t in TARGETS}).iloc[::-1]
    times, p, t = video_curves(pred, truth, "b", TARGETS)
    assert times.tolist() == pytest.approx([0, 1 / 6, 2 / 6], abs=1e-6)
    assert t[:, 0].tolist() == [1, 2, 0] and p[:, 0].tolist() == [10, 20, 0]
    with pytest.raises(PlotInputError, match="none of its label rows"):
        video_curves(pred[pred["video_id"] != "b"], truth, "b", TARGETS)


def test_pick_thumbnails_spreads_frames_over_the_video():
    frames = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    times = np.arange(10) * 1_000_000
    picked = pick_thumbnails(times, frames, 3)
    assert [t for t, _ in picked] == [2.0, 4.0, 7.0]  # 2.25, 4.5, 6.75 rounded
    assert [int(img[0, 0, 0]) for _, img in picked] == [2, 4, 7]
    assert pick_thumbnails(times, frames, 0) == []
    assert len(pick_thumbnails(times[:1], frames, 4)) == 1


def test_markdown_pages_render_headings_tables_and_escape():
    md = ("# Scores <x>\n\nBest: `linear_av`, **0.6873**.\n\n| model | val M_rho |\n|---|---|\n"
          "| a&b | 0.5 |\n| c | |\n")
    body = markdown_html(md)
    assert "<h1>Scores &lt;x&gt;</h1>" in body
    assert "<p>Best: <code>linear_av</code>, <b>0.6873</b>.</p>" in body
    assert "<tr><th>model</th><th>val M_rho</th></tr>" in body
    assert '<tr><td>a&amp;b</td><td class="num">0.5</td></tr>' in body
    assert "<tr><td>c</td><td></td></tr>" in body
    assert markdown_page("T", md).startswith("<!DOCTYPE html>")
    assert "<pre>a: &#x27;{id}&#x27;\n</pre>" in text_page("Config", "a: '{id}'\n")
