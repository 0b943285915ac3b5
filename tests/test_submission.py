"""The submission: every test row, in the test CSV's order, fallback rows counted, and the
written file checked against the test CSV."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eevflow.labels import TIMESTAMP_HEADER
from eevflow.submission import (
    SubmissionError,
    fill_missing,
    validate_submission,
    write_submission,
)

T = ["amusement", "anger"]


def _test_rows():
    return pd.DataFrame({
        "video_id": ["b"] * 3 + ["a"] * 2 + ["gone"] * 2,
        "timestamp_us": [0, 166667, 333333, 0, 166667, 0, 166667],
    })


def _pred():
    rows = _test_rows().iloc[:5].sample(frac=1.0, random_state=0)  # any order
    rows[T] = np.arange(10, dtype=np.float64).reshape(5, 2) / 10
    return rows


def test_fill_keeps_test_order_and_counts_fallback_rows(tmp_path):
    out, report = fill_missing(_test_rows(), _pred(), T, {"gone": "missing: file not found"})
    assert out[["video_id", "timestamp_us"]].equals(_test_rows())
    assert report.rows == 7 and report.predicted_rows == 5 and report.filled_rows == 2
    assert report.filled_videos == {"gone": "missing: file not found"}
    np.testing.assert_allclose(out.loc[5:, T].to_numpy(), [[0.4, 0.5]] * 2)
    pred = _pred().set_index(["video_id", "timestamp_us"])
    got = out.iloc[:5].set_index(["video_id", "timestamp_us"])
    pd.testing.assert_frame_equal(got[T], pred.loc[got.index, T])

    csv, rep = tmp_path / "s.csv", tmp_path / "s.fill.json"
    write_submission(out, _test_rows(), T, csv, report, rep)
    sub = pd.read_csv(csv)
    assert list(sub.columns) == ["Video ID", TIMESTAMP_HEADER, *T] and len(sub) == 7
    assert json.loads(rep.read_text())["filled_rows"] == 2


def test_duplicate_predictions_are_an_error():
    pred = pd.concat([_pred(), _pred().iloc[:1]])
    with pytest.raises(SubmissionError, match="twice"):
        fill_missing(_test_rows(), pred, T)


def _write(tmp_path, df):
    path = tmp_path / "sub.csv"
    df.to_csv(path, index=False)
    return path


def _good():
    df = _test_rows().rename(columns={"video_id": "Video ID", "timestamp_us": TIMESTAMP_HEADER})
    df[T] = 0.5
    return df


def test_validation_catches_reordered_missing_and_nan_rows(tmp_path):
    validate_submission(_write(tmp_path, _good()), _test_rows(), T)
    swapped = _good().iloc[[1, 0, 2, 3, 4, 5, 6]]
    with pytest.raises(SubmissionError, match="line 2"):
        validate_submission(_write(tmp_path, swapped), _test_rows(), T)
    with pytest.raises(SubmissionError, match="6 rows, the test CSV has 7"):
        validate_submission(_write(tmp_path, _good().iloc[:6]), _test_rows(), T)
    nan = _good()
    nan.loc[4, "anger"] = np.nan
    with pytest.raises(SubmissionError, match="line 6"):
        validate_submission(_write(tmp_path, nan), _test_rows(), T)
    with pytest.raises(SubmissionError, match="header"):
        validate_submission(_write(tmp_path, _good()[["Video ID", TIMESTAMP_HEADER, "anger",
                                                      "amusement"]]), _test_rows(), T)


def test_a_failed_validation_leaves_no_file(tmp_path):
    out, report = fill_missing(_test_rows(), _pred(), T)
    csv = tmp_path / "s.csv"
    with pytest.raises(SubmissionError):
        write_submission(out, _test_rows().iloc[::-1].reset_index(drop=True), T, csv, report,
                         tmp_path / "r.json")
    assert list(tmp_path.iterdir()) == []


def test_fill_zeros_is_the_winners_fallback():
    out, report = fill_missing(_test_rows(), _pred(), T, fill="zeros")
    filled = out[out["video_id"] == "gone"]
    assert report.filled_rows == len(filled) == 2 and (filled[T] == 0.0).all().all()
    assert report.fill_values == {t: 0.0 for t in T}
    with pytest.raises(ValueError, match=r"unknown fill 'median'; allowed values: \['mean_curve', 'mean', 'zeros'\]"):
        fill_missing(_test_rows(), _pred(), T, fill="median")


def test_fill_mean_curve_gives_the_training_curve_at_each_rows_time(tmp_path):
    from eevflow.label_prior import mean_label_curve, read_curve, write_curve

    train = pd.DataFrame({
        "video_id": ["x"] * 3 + ["y"] * 2 + ["z", "w"],
        "timestamp_us": [0, 166667, 333333, 0, 166667, 0, 0],
        "amusement": [0.2, 0.4, 0.9, 0.4, 0.6, 0.3, 0.3], "anger": [0.1, 0.1, 0.1, 0.3, 0.3,
                                                                    0.2, 0.2],
        "detected": [True] * 7,
    })
    curve = mean_label_curve(train, T, min_videos=2)
    # row 2 has one video (< 2): past the last supported row the value is held
    assert np.allclose(curve.values, [[0.3, 0.2], [0.5, 0.2]])
    write_curve(curve, T, tmp_path / "c.parquet")
    back = read_curve(tmp_path / "c.parquet", T)
    pred = _pred().astype({t: np.float32 for t in T})  # as the predict rule writes them
    out, report = fill_missing(_test_rows(), pred, T, fill="mean_curve", curve=back)
    gone = out[out["video_id"] == "gone"]
    assert np.allclose(gone[T].to_numpy(), [[0.3, 0.2], [0.5, 0.2]])
    assert report.fill == "mean_curve" and report.filled_rows == 2
    assert gone["amusement"].std() > 0  # not a constant: a per-video Pearson r exists
    with pytest.raises(ValueError, match="needs the training set's mean label curve"):
        fill_missing(_test_rows(), _pred(), T, fill="mean_curve")


def test_mean_curve_skips_undetected_rows_and_holds_past_its_end():
    from eevflow.label_prior import mean_label_curve

    train = pd.DataFrame({
        "video_id": ["x", "x", "y", "y"], "timestamp_us": [0, 166667, 0, 166667],
        "amusement": [0.2, 0.0, 0.6, 0.8], "anger": [0.2, 0.0, 0.2, 0.4],
        "detected": [True, False, True, True],
    })
    curve = mean_label_curve(train, T, min_videos=1)
    assert np.allclose(curve.values, [[0.4, 0.2], [0.8, 0.4]])  # x's undetected row left out
    assert np.allclose(curve.at(np.array([0, 166667, 10_000_000])), [[0.4, 0.2], [0.8, 0.4],
                                                                     [0.8, 0.4]])
