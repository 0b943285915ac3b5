"""A shard's videos decoded by one job into one folder, read back by the extractors in order."""

from __future__ import annotations

import numpy as np
import pytest

import badmedia
from conftest import write_video
from eevflow.decoded_shard import (
    DecodeError,
    decode_shard,
    decoded_rows,
    iter_shard,
    read_index,
    shard_store,
    video_files,
)

SIX_HZ = np.round(np.arange(12) * 1e6 / 6).astype(np.int64)  # 2 s of label rows


@pytest.fixture
def clips(tmp_path):
    """Three real clips: distinct grey levels (a at 40, b at 120) and one without audio."""
    a = write_video(tmp_path / "a.mp4", frame_fn=lambda i: np.full((120, 160, 3), 40, np.uint8))
    b = write_video(tmp_path / "b.mp4", frame_fn=lambda i: np.full((120, 160, 3), 120, np.uint8))
    c = tmp_path / "c.mp4"
    badmedia.write_no_audio(c)
    return {"vid_a": a, "vid_b": b, "vid_c": c}


@pytest.mark.parametrize("store", ["raw", "compressed", "none"])
def test_every_video_of_the_shard_is_decoded_into_its_own_files_in_order(tmp_path, clips, store):
    out = tmp_path / "decoded" / "train" / "shard-000"
    order = ["vid_b", "vid_c", "vid_a"]
    stamps = {"vid_a": SIX_HZ, "vid_b": SIX_HZ[:6], "vid_c": SIX_HZ[:3]}
    infos = decode_shard(out, [(v, clips[v]) for v in order], stamps, frame_size=32, store=store)
    assert [i.video_id for i in infos] == order == read_index(out)
    assert shard_store(out) == store
    visual = list(iter_shard(out, "visual"))
    assert [v.info.video_id for v in visual] == order
    assert [len(v.frames) for v in visual] == [6, 3, 12]  # one frame per label row
    assert all(v.audio is None for v in visual)
    # each video's frames are its own picture (grey 120 for b, 40 for a), letterboxed
    centre = {v.info.video_id: int(np.median(v.frames[:, 16, 16, 1])) for v in visual}
    assert abs(centre["vid_b"] - 120) < 8 and abs(centre["vid_a"] - 40) < 8
    audio = {v.info.video_id: v for v in iter_shard(out, "audio")}
    assert audio["vid_a"].audio.dtype == np.float32 and np.abs(audio["vid_a"].audio).max() > 0.1
    assert audio["vid_c"].info.audio_source == "silence" and not audio["vid_c"].audio.any()
    assert decoded_rows(out) == 6 + 3 + 12
    kept = {p.name for v in order for p in (out / v).iterdir()}
    assert kept == {"raw": {"meta.json", "frames.npy", "audio.npy"},
                    "compressed": {"meta.json", "frames.arrow", "audio.flac"},
                    "none": {"meta.json"}}[store]
    assert all(set(video_files(out, v, store)) <= {"meta", "frames", "audio"} for v in order)


def test_an_empty_shard_is_a_finished_shard_with_no_videos(tmp_path):
    out = tmp_path / "shard-007"
    assert decode_shard(out, [], {}) == []
    assert read_index(out) == [] and list(iter_shard(out, "audio")) == []
    assert decoded_rows(out) == 0


def test_a_video_that_fails_names_itself_and_leaves_no_index(tmp_path, clips):
    out = tmp_path / "shard-001"
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    videos = [("vid_a", clips["vid_a"]), ("vid_bad", garbage)]
    with pytest.raises(DecodeError, match=r"vid_bad \(.*garbage\.mp4\): decode failed"):
        decode_shard(out, videos, {"vid_a": SIX_HZ, "vid_bad": SIX_HZ}, frame_size=32)
    with pytest.raises(FileNotFoundError, match="did not finish"):
        read_index(out)  # the first video's files are there, but the shard is not finished
    assert decoded_rows(out) is None


def test_bad_shard_requests_are_refused(tmp_path, clips):
    with pytest.raises(DecodeError, match="vid_a: no label rows"):
        decode_shard(tmp_path / "s", [("vid_a", clips["vid_a"])], {})
    with pytest.raises(ValueError, match="listed twice"):
        decode_shard(tmp_path / "s", [("vid_a", clips["vid_a"])] * 2, {"vid_a": SIX_HZ})
    for bad in ("..", "", "a/b"):
        with pytest.raises(ValueError, match="not a video ID that can name a folder"):
            video_files(tmp_path, bad)
    with pytest.raises(ValueError, match="modality"):
        next(iter_shard(tmp_path, "text"))
