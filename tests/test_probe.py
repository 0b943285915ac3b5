"""probe() classifies messy real-world media, and decode_video() handles the usable odd cases:
rotation, no audio stream, variable frame rate, odd and extreme frame sizes."""

from __future__ import annotations

import numpy as np
import pytest

import badmedia
from eevflow.decoding import decode_video, load_decoded
from eevflow.media import DECODABLE, probe

SIX_HZ = (np.arange(15) * 1e6 / 6).round().astype(np.int64)  # 2.5 s of label rows


def _decode(tmp_path, path, ts, frame_size=224):
    frames, audio, meta = tmp_path / "frames.npy", tmp_path / "audio.npy", tmp_path / "meta.json"
    info = decode_video(
        "v", path, ts, frames, audio, meta, frame_size=frame_size, sample_rate=16000
    )
    loaded = load_decoded(str(meta), str(frames), str(audio))
    assert loaded.info == info  # the new fields survive the JSON round trip
    return loaded


@pytest.mark.parametrize("kind", list(badmedia.KINDS))
def test_probe_classifies_each_kind(tmp_path, kind):
    path = tmp_path / f"{kind}.mp4"
    expect = badmedia.KINDS[kind](path)
    row = probe(kind, path)
    assert row.status == expect.status and expect.reason in row.reason, row
    assert row.usable == (row.status in DECODABLE)
    assert bool(row.reason) == (row.status != "ok")


def test_probe_fields_of_the_odd_but_usable_kinds(tmp_path):
    rows = {}
    for kind in ("rotated", "odd_size", "wide", "vfr", "no_audio"):
        badmedia.KINDS[kind](tmp_path / f"{kind}.mp4")
        rows[kind] = probe(kind, tmp_path / f"{kind}.mp4")
    rotated = rows["rotated"]
    assert (rotated.width, rotated.height, rotated.rotation) == (120, 160, 90)
    assert (rows["odd_size"].width, rows["odd_size"].height) == (175, 99)
    assert (rows["wide"].width, rows["wide"].height) == (320, 64)
    assert rows["vfr"].n_frames == 72 and abs(rows["vfr"].duration_s - 142 / 48) < 1e-3
    assert not rows["no_audio"].has_audio and rows["no_audio"].usable
    assert {r.codec for r in rows.values()} == {"h264"}


def test_probe_missing_file(tmp_path):
    row = probe("x", tmp_path / "nope.mp4")
    assert (row.status, row.reason, row.usable) == ("missing", "file not found", False)


def test_mp4_cut_at_a_box_boundary(tmp_path):
    path = badmedia.write_clip(tmp_path / "clip.mp4")  # index (moov) last
    data = path.read_bytes()
    moov = data.rindex(b"moov") - 4
    for cut, reason in (
        (moov, "no 'moov' box (the mp4 index): incomplete download"),
        (moov + 3, "truncated: 3 stray bytes after the last mp4 box"),
    ):
        path.write_bytes(data[:cut])
        row = probe("c", path)
        assert (row.status, row.reason) == ("corrupt", reason)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_video_decodes_upright(tmp_path, rotation):
    path = tmp_path / "rotated.mp4"
    badmedia.write_rotated(path, rotation)
    assert probe("r", path).rotation == rotation
    video = _decode(tmp_path, path, SIX_HZ[:3])
    assert (video.info.width, video.info.height, video.info.rotation) == (120, 160, rotation)
    # 120 x 160 as displayed -> 168 x 224 with 28 columns of padding left and right
    frame = video.frames[0].astype(int)
    assert frame[:, :28].max() == 0 and frame[:, -28:].max() == 0
    corners = [frame[:48, 32:66], frame[:48, -66:-32], frame[-48:, 32:66], frame[-48:, -66:-32]]
    assert corners[0].min() > 200  # the marker is top-left, as displayed
    assert all(abs(c.mean() - 64) < 8 for c in corners[1:])


def test_no_audio_stream_decodes_frames_and_silence(tmp_path):
    path = tmp_path / "silent.mp4"
    badmedia.write_no_audio(path)
    video = _decode(tmp_path, path, SIX_HZ)
    assert video.info.audio_source == "silence" and video.info.n_samples == 48000  # 3.0 s
    assert video.audio.shape == (48000,) and video.audio.dtype == np.float32
    assert not video.audio.any()
    shown = [badmedia.read_code(f) for f in video.frames]
    assert shown == (2 * np.arange(len(SIX_HZ))).tolist()  # 12 fps: row k shows frame 2k


def test_audio_source_is_the_stream_when_there_is_one(tmp_path):
    path = tmp_path / "good.mp4"
    badmedia.write_good(path)
    video = _decode(tmp_path, path, SIX_HZ, frame_size=64)
    assert video.info.audio_source == "stream" and np.abs(video.audio).max() > 0.1


def test_vfr_rows_show_the_frame_on_screen(tmp_path):
    path = tmp_path / "vfr.mp4"
    badmedia.write_vfr(path)
    pts = np.array(badmedia.vfr_pts())
    half_ticks = np.arange(2 * pts[-1] + 2) / 2  # every half tick of the 1/48 s time base
    ts = (half_ticks / 48 * 1e6).round().astype(np.int64)
    video = _decode(tmp_path, path, ts, frame_size=112)
    want = np.searchsorted(pts, half_ticks, side="right") - 1  # the last frame started
    np.testing.assert_array_equal(video.info.frame_indices, want)
    np.testing.assert_array_equal([badmedia.read_code(f) for f in video.frames], want)
    cfr = np.floor(half_ticks / 2).astype(int)  # what 24 fps constant frame rate would pick
    assert not np.array_equal(cfr, want)


@pytest.mark.parametrize(
    "writer, shown", [(badmedia.write_odd_size, (224, 127)), (badmedia.write_wide, (224, 45))]
)
def test_odd_and_extreme_sizes_are_letterboxed(tmp_path, writer, shown):
    path = tmp_path / "clip.mp4"
    writer(path)
    video = _decode(tmp_path, path, SIX_HZ)
    frames = np.asarray(video.frames)
    assert frames.shape == (len(SIX_HZ), 224, 224, 3)
    w, h = shown
    top = (224 - h) // 2
    assert frames[:, :top].max() == 0 and frames[:, top + h :].max() == 0
    codes = 2 * np.arange(len(SIX_HZ))
    assert [badmedia.read_code(f) for f in frames] == codes.tolist()
    # rows 1, 3, ... show frames 2, 6, ... whose stripe 1 is white from the picture's top to bottom
    assert frames[1::2, top + 1 : top + h - 1, 30:50].min() > 150


@pytest.mark.parametrize("kind", list(badmedia.KINDS))
def test_the_cheap_audio_check_agrees_with_the_whole_track_decode(tmp_path, kind):
    """probe.audio ends (the first frames, then the last seconds after a seek) measures what full
    (every audio frame) measures: the same status, reason and audio end on every kind."""
    path = tmp_path / f"{kind}.mp4"
    badmedia.KINDS[kind](path)
    ends, full = probe(kind, path, audio="ends"), probe(kind, path, audio="full")
    assert (ends.status, ends.reason, ends.has_audio) == (full.status, full.reason, full.has_audio)
    np.testing.assert_equal(ends.audio_duration_s, full.audio_duration_s)


def test_a_long_track_and_its_short_audio_are_measured_after_the_seek(tmp_path):
    """20 s of picture: the seek to 3 s before the audio's end skips most of the track, and the
    end found is the last frame's, as a whole decode finds it (audio of 20 s and of 12 s)."""
    pts = list(range(20 * badmedia.FPS))
    for name, audio_s, status in (("whole", None, "ok"), ("short", 12.0, "audio_short")):
        path = badmedia.write_clip(tmp_path / f"{name}.mp4", pts=pts, audio_s=audio_s)
        ends, full = probe(name, path), probe(name, path, audio="full")
        assert ends.status == full.status == status, (ends, full)
        assert ends.audio_duration_s == full.audio_duration_s
        assert ends.audio_duration_s == pytest.approx(audio_s or 20.0, abs=0.05)


def test_damaged_audio_in_the_middle_is_found_by_the_full_decode_only(tmp_path):
    """What the cheap check gives up: audio packets that do not decode between 2 s and 4 s of an
    8 s file. probe.audio: full decodes them and calls the file corrupt; ends reads the first
    frames and the last 3 s, finds the track's end, and leaves the damage to the decode job."""
    path = badmedia.write_garbled_audio_middle(tmp_path / "garbled_audio.mp4")
    full = probe("g", path, audio="full")
    assert full.status == "corrupt" and "audio stream does not decode at 2.0" in full.reason
    ends = probe("g", path, audio="ends")
    assert ends.status == "ok" and ends.audio_duration_s == pytest.approx(8.0, abs=0.05)
    with pytest.raises(ValueError, match=r"probe.audio must be one of \['ends', 'full'\]"):
        probe("g", path, audio="middle")
