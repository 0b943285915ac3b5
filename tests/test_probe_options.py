"""The statuses a user decides about and their options: audio that ends early
(probe.short_audio), label rows after the video's end (probe.labels_past_end), an unsupported
codec, the frame path each video takes (decode.backend), and the dataset report naming them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import badmedia
from eevflow.decoding import decode_video
from eevflow.manifest import (
    ProbeOptions,
    check_videos,
    dataset_report,
    report_markdown,
    usable_statuses,
)
from eevflow.past_end import drop_past_end, past_end_mask, rows_past_end

SIX_HZ = (np.arange(18) * 1e6 / 6).round().astype(np.int64)  # 3 s of label rows


@pytest.fixture
def videos(tmp_path):
    d = tmp_path / "videos"
    d.mkdir()
    badmedia.write_good(d / "good.mp4")
    badmedia.write_short_audio(d / "short.mp4")
    badmedia.write_unsupported_codec(d / "alien.mkv")
    return d


def test_usable_statuses_follow_the_options():
    assert usable_statuses() == ("ok", "no_audio", "audio_short")
    assert usable_statuses("exclude", "keep") == ("ok", "audio_short")
    assert usable_statuses("silence", "exclude") == ("ok", "no_audio")
    assert ProbeOptions(short_audio="exclude", no_audio="exclude").usable == ("ok",)
    with pytest.raises(ValueError, match=r"labels_past_end: .trim. is not allowed; allowed values: \[.keep., .drop., .exclude.\]"):
        ProbeOptions(labels_past_end="trim")


def test_short_audio_is_kept_and_padded_with_silence(videos, tmp_path):
    df = check_videos(["short"], str(videos), [".mp4"]).set_index("video_id")
    row = df.loc["short"]
    assert row.status == "audio_short" and "ends at 1.0" in row.reason
    assert row.audio_duration_s == pytest.approx(1.0, abs=0.05)
    assert row.duration_s == pytest.approx(3.0, abs=1e-6)
    f = {k: tmp_path / f"{k}.{e}" for k, e in (("frames", "npy"), ("audio", "npy"), ("meta", "json"))}
    info = decode_video("short", row.path, SIX_HZ, f["frames"], f["audio"], f["meta"])
    audio = np.load(f["audio"])
    assert len(audio) == 48000  # 3 s at 16 kHz: the picture's length
    assert info.audio_padded_samples == pytest.approx(32000, abs=400)
    assert np.abs(audio[-30000:]).max() == 0.0  # the padding is silence
    assert np.abs(audio[4000:12000]).max() > 0.1  # the tone is there before it


def test_unsupported_codec_names_codec_and_container(videos):
    df = check_videos(["alien"], str(videos), [".mkv"]).set_index("video_id")
    assert df.loc["alien", "status"] == "unsupported_codec"
    assert "'matroska,webm'" in df.loc["alien", "reason"]
    assert "no decoder" in df.loc["alien", "reason"]


def test_labels_past_the_end_are_counted_and_handled_by_policy(videos):
    long_labels = {"good": (np.arange(6 * 23) * 1e6 / 6).round().astype(np.int64)}  # 23 s of rows
    kept = check_videos(["good"], str(videos), [".mp4"], label_times=long_labels).iloc[0]
    # 3 s video + 0.5 s tolerance: rows after 3.5 s are past the end
    want = int((long_labels["good"] / 1e6 > 3.5).sum())
    assert (kept.status, kept.rows, kept.rows_past_end) == ("ok", 138, want) and want == 116
    excl = check_videos(
        ["good"], str(videos), [".mp4"], ProbeOptions(labels_past_end="exclude"), long_labels
    ).iloc[0]
    assert excl.status == "labels_past_end"
    assert excl.reason == (
        "116 of 138 label rows are after the video's end (3.00 s; the last label is at 22.83 s)"
    )
    tolerant = check_videos(
        ["good"], str(videos), [".mp4"],
        ProbeOptions(labels_past_end="exclude", labels_past_end_tolerance_s=30.0), long_labels,
    ).iloc[0]
    assert (tolerant.status, tolerant.rows_past_end) == ("ok", 0)
    within = check_videos(["good"], str(videos), [".mp4"], label_times={"good": SIX_HZ}).iloc[0]
    assert (within.rows, within.rows_past_end) == (18, 0)


def test_rows_past_end_and_the_drop_policy(tmp_path):
    assert rows_past_end(np.array([0, 3_400_000, 3_600_000]), 3.0, 0.5) == 1
    assert rows_past_end(np.array([10**9]), float("nan"), 0.5) == 0
    manifest = pd.DataFrame({"video_id": ["a", "b"], "duration_s": [2.0, float("nan")]})
    path = tmp_path / "m.parquet"
    manifest.to_parquet(path)
    labels = pd.DataFrame({
        "video_id": ["a"] * 4 + ["b"] * 2 + ["c"],
        "timestamp_us": [0, 2_400_000, 2_600_000, 9_000_000, 0, 99_000_000, 5_000_000],
        "detected": True,
    })
    mask = past_end_mask(labels, manifest, 0.5)
    assert mask.tolist() == [False, False, True, True, False, False, False]
    drop = {"policy": "drop", "tolerance_s": 0.5}
    unlabelled = drop_past_end(labels, [str(path)], drop, "unlabel")
    assert unlabelled["detected"].tolist() == (~mask).tolist() and len(unlabelled) == 7
    removed = drop_past_end(labels, [str(path)], drop, "remove")
    assert removed["timestamp_us"].tolist() == [0, 2_400_000, 0, 99_000_000, 5_000_000]
    keep = {"policy": "keep", "tolerance_s": 0.5}
    assert drop_past_end(labels, [str(path)], keep, "remove") is labels
    with pytest.raises(ValueError, match="unlabel or remove"):
        drop_past_end(labels, [str(path)], drop, "trim")


def test_decoder_recorded_per_video(videos):
    pyav = check_videos(["good"], str(videos), [".mp4"]).iloc[0]
    assert (pyav.decoder, pyav.decoder_note, pyav.container) == (
        "pyav", "", "mov,mp4,m4a,3gp,3g2,mj2"
    )
    decord = check_videos(["good"], str(videos), [".mp4"], ProbeOptions(backend="decord")).iloc[0]
    assert decord.decoder == "decord"


def test_dataset_report_names_the_quirks(videos):
    long_labels = {"good": (np.arange(6 * 10) * 1e6 / 6).round().astype(np.int64),
                   "short": SIX_HZ}
    options = ProbeOptions(labels_past_end="drop")
    m = check_videos(["good", "short", "alien"], str(videos), [".mp4", ".mkv"], options,
                     long_labels)
    report = dataset_report({"test": m}, options)
    assert report["splits"]["test"]["used"] == 2
    assert report["splits"]["test"]["by_decoder"] == {"pyav": 2}
    assert list(report["audio_short"]["test"]) == ["short"]
    assert report["labels_past_end"]["test"] == {
        "good": {"rows_past_end": 38, "rows": 60, "duration_s": 3.0}
    }
    assert report["excluded"]["test"]["alien"].startswith("unsupported_codec: ")
    md = report_markdown(report)
    assert "## test: audio ends early (kept, padded with silence: probe.short_audio)" in md
    assert "probe.labels_past_end: drop; predicted, but neither trained on nor scored" in md
    assert "- `good`: 38 of 60 rows after 3.00 s" in md
    excluded = dataset_report({"test": m}, ProbeOptions(short_audio="exclude"))
    assert "short" in excluded["excluded"]["test"] and not excluded["audio_short"]["test"]
