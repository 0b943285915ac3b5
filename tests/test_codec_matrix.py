"""Codec matrix: every label row shows the frame on screen at its time, exactly, and the sound is in
sync within 20 ms, on each codec, container and timing quirk of tests/mediamatrix.py, decoded by
the workflow's decode code (eevflow.decoded_shard.decode_shard, as the decode job runs it), read
back from both stores that keep media (raw .npy, and compressed: JPEG rows and 16-bit FLAC)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import badmedia
import mediamatrix
from eevflow.decoded_shard import decode_shard, iter_shard, read_index
from eevflow.media import probe

CASES = list(mediamatrix.CASES)
SYNC_MS = 20.0


def shown_codes(frames: np.ndarray) -> np.ndarray:
    """The index each decoded 224 x 224 row shows (16:9 letterboxed: 224 x 126, 49 rows of pad)."""
    return np.array([badmedia.read_code(f[52:-52]) for f in frames])


@pytest.fixture(scope="module")
def matrix(tmp_path_factory):
    d = tmp_path_factory.mktemp("matrix")
    written = mediamatrix.write_cases(d / "videos")
    stamps = {c: truth.label_times_us() for c, (_, truth) in written.items()}
    videos = [(c, str(path)) for c, (path, _) in written.items()]
    decode_shard(d / "shard-000", videos, stamps)
    decode_shard(d / "compressed" / "shard-000", videos, stamps, store="compressed")
    return d, written


SHARD = {"raw": "shard-000", "compressed": "compressed/shard-000"}


@pytest.mark.parametrize("case", CASES)
def test_probe_passes_each_case_for_pyav(matrix, case):
    _, written = matrix
    path, truth = written[case]
    row = probe(case, path)
    assert row.status == "ok", row
    assert row.decoder == "pyav" and row.container and row.codec
    last = float(truth.starts[truth.last] - truth.starts[truth.first])
    assert row.duration_s > last
    # the default cheap audio check (probe.audio: ends) finds the end a whole-track decode finds,
    # also in Matroska/WebM (no stream duration: the container's), behind edit lists and late starts
    full = probe(case, path, audio="full")
    assert (full.status, full.audio_duration_s) == ("ok", row.audio_duration_s)
    assert row.audio_duration_s >= truth.seconds


@pytest.mark.parametrize("store", ["raw", "compressed"])
@pytest.mark.parametrize("case", CASES)
def test_every_row_shows_the_frame_on_screen(matrix, case, store):
    d, written = matrix
    _, truth = written[case]
    video = next(v for v in iter_shard(d / SHARD[store], "visual") if v.info.video_id == case)
    want = np.array([truth.frame_at(t) for t in video.timestamps_us])
    shown = shown_codes(np.asarray(video.frames))
    np.testing.assert_array_equal(shown, want)
    # the decoder's own account agrees: index in presentation order from the first frame in the file
    np.testing.assert_array_equal(np.array(video.info.frame_indices) + truth.first, want)
    assert video.info.decoder == "pyav"
    assert not np.array_equal(shown[1:], want[:-1]) or len(set(want)) == 1  # a shift is caught
    assert (np.roll(want, 1) != want).any()


@pytest.mark.parametrize("store", ["raw", "compressed"])
@pytest.mark.parametrize("case", CASES)
def test_sound_is_in_sync_within_20_ms(matrix, case, store):
    d, written = matrix
    _, truth = written[case]
    video = next(v for v in iter_shard(d / SHARD[store], "audio") if v.info.video_id == case)
    changes = mediamatrix.tone_change_times(video.audio, video.info.sample_rate, truth)
    assert changes, "no tone change inside the file to measure"
    errors_ms = [None if got is None else 1000 * (got - want) for want, got in changes]
    assert all(e is not None and abs(e) <= SYNC_MS for e in errors_ms), errors_ms
    # the audio covers the picture (padded when shorter)
    assert len(video.audio) >= round(truth.seconds * video.info.sample_rate)


def test_quirk_accounting(matrix):
    d, written = matrix
    infos = {v.info.video_id: v.info for v in iter_shard(d / "shard-000", "visual")}
    # the delayed video track: the rows before 1.5 s show its first frame, and say so
    delayed = infos["editlist_delay_mp4"]
    assert delayed.rows_before_first_frame == int(np.ceil(1.5 * 6)) == 9
    assert infos["start_offset_mkv"].start_time_s == pytest.approx(1.5, abs=2e-3)
    assert infos["cut_nonkey_mp4"].frame_indices[0] == 0  # frames before the cut are hidden
    assert {i.rows_before_first_frame for c, i in infos.items() if c != "editlist_delay_mp4"} == {0}
    assert all(i.rows_past_end == 0 for i in infos.values())
    assert read_index(d / "shard-000") == CASES


def test_decord_backend_uses_decord_only_where_exact(matrix, tmp_path):
    """``decode.backend: decord`` decodes plain H.264 MP4 with decord and every other file with
    PyAV, and every row is still the frame on screen."""
    _, written = matrix
    stamps = {c: truth.label_times_us() for c, (_, truth) in written.items()}
    videos = [(c, str(path)) for c, (path, _) in written.items()]
    decode_shard(tmp_path / "shard", videos, stamps, backend="decord")
    used = {}
    for video in iter_shard(tmp_path / "shard", "visual"):
        truth = written[video.info.video_id][1]
        want = np.array([truth.frame_at(t) for t in video.timestamps_us])
        np.testing.assert_array_equal(shown_codes(np.asarray(video.frames)), want)
        used[video.info.video_id] = video.info.decoder
    assert {c for c, how in used.items() if how == "decord"} == {"h264_mp4", "h264_4k_mp4"}
    rows = {c: probe(c, p, backend="decord") for c, (p, _) in written.items()}
    assert {c for c, r in rows.items() if r.decoder == "decord"} == {"h264_mp4", "h264_4k_mp4"}
    assert "codec hevc" in rows["hevc_bframes_mp4"].decoder_note
    assert "not a keyframe at time 0" in rows["cut_nonkey_mp4"].decoder_note


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent (pytest) across exec.
PEAK_RSS_CHILD = """
import json, re, sys
import numpy as np
from eevflow.decoding import decode_video
def hwm():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
ts = (np.arange(12) * 1e6 / 6).round().astype(np.int64)
before = hwm()
decode_video("4k", sys.argv[1], ts, sys.argv[2] + "/f.npy", sys.argv[2] + "/a.npy",
             sys.argv[2] + "/m.json")
print(json.dumps({"before_mib": before, "peak_mib": hwm()}))
"""


def test_4k_decode_peak_memory(matrix, tmp_path):
    """A 3840 x 2160 file decodes in bounded memory (one picture at a time); reported."""
    _, written = matrix
    path = written["h264_4k_mp4"][0]
    out = subprocess.run([sys.executable, "-c", PEAK_RSS_CHILD, str(path), str(tmp_path)],
                         check=True, capture_output=True, text=True)
    rss = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"4K decode: peak RSS {rss['peak_mib']:.0f} MiB (imports {rss['before_mib']:.0f} MiB)")
    assert rss["peak_mib"] < 1024, rss


def test_decode_refuses_unordered_label_times(matrix, tmp_path):
    from eevflow.decoding import decode_video

    path = matrix[1]["h264_mp4"][0]
    with pytest.raises(ValueError, match="not strictly increasing"):
        decode_video("x", path, np.array([0, 500_000, 500_000]), tmp_path / "f.npy",
                     tmp_path / "a.npy", tmp_path / "m.json")
    assert not list(tmp_path.iterdir())


def test_label_times_of_a_real_frame_table():
    """The truth tables themselves: exact arithmetic on a 29.97 fps boundary."""
    t = mediamatrix.Truth(tuple(mediamatrix.F(i * 1001, 30000) for i in range(40)), 0, 39)
    assert t.frame_at(500_000) == 14  # frame 15 starts at 0.5005 s: 0.5 ms after, not on screen
    assert t.frame_at(500_001) == 15
    assert pd.Series([t.frame_at(v) for v in (0, 32_866, 32_867)]).tolist() == [0, 0, 1]
