"""validation.weights_holdout: which validation videos choose the models, which the weights."""

import pandas as pd
import pytest

from eevflow.validation import describe, split_rows, weights_holdout

IDS = [f"vid{i:08d}" for i in range(10)]


def test_no_holdout_reuses_every_video():
    assert weights_holdout(IDS, 0.0) == []
    labels = pd.DataFrame({"video_id": IDS * 2, "timestamp_us": range(20)})
    for part in ("selection", "weights"):
        rows, held = split_rows(labels, 0.0, part)
        assert rows.equals(labels) and held == []
    assert "the same ones that chose the members" in describe(0.0, [], 10)


def test_holdout_size_order_independence_and_stability():
    held = weights_holdout(IDS, 0.3)
    assert len(held) == 3 and set(held) <= set(IDS)
    assert weights_holdout(list(reversed(IDS)), 0.3) == held  # a function of the IDs alone
    assert weights_holdout(IDS + IDS[:4], 0.3) == held  # duplicates do not count
    assert weights_holdout(IDS, 0.01) and len(weights_holdout(IDS, 0.01)) == 1  # at least one
    assert len(weights_holdout(IDS, 0.99)) == 9  # never all: selection keeps one
    # adding a video changes the held-out set by at most one video
    grown = weights_holdout([*IDS, "vidnew00000"], 0.3)
    assert len(set(held) ^ set(grown)) <= 2


def test_parts_partition_the_rows_and_follow_the_label_file_ids():
    labels = pd.DataFrame({"video_id": sorted(IDS * 3), "timestamp_us": range(30)})
    sel, held = split_rows(labels, 0.5, "selection")
    wts, held2 = split_rows(labels, 0.5, "weights")
    assert held == held2 and len(held) == 5
    assert set(sel["video_id"]).isdisjoint(wts["video_id"])
    assert len(sel) + len(wts) == len(labels) and set(wts["video_id"]) == set(held)
    # rows that lost a video (e.g. probe exclusions) still split by the label file's IDs
    fewer = labels[labels["video_id"] != held[0]]
    _, held3 = split_rows(fewer, 0.5, "weights", labels["video_id"].unique())
    assert held3 == held
    assert "5 held-out validation videos" in describe(0.5, held, 10)
    assert "other 5" in describe(0.5, held, 10)


def test_bad_fractions_and_too_few_videos_are_clear_errors():
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        weights_holdout(IDS, 1.0)
    with pytest.raises(ValueError, match="at least 2 validation videos"):
        weights_holdout(IDS[:1], 0.5)
    with pytest.raises(ValueError, match="part must be"):
        split_rows(pd.DataFrame({"video_id": IDS}), 0.5, "test")
