"""The clip stream (eevflow.clips) and the S3D MIL-NCE backend (s3d_clip) through the real loading
code: a tiny SavedModel with the real module's ``video`` signature at the real handle's TF Hub
cache folder, a real H.264 video whose frame i has brightness 5 i, decoded by the clip stream."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from conftest import write_video
from eevflow.clips import (
    ClipSettings, ClipVideo, decode_clip_shard, grid_times_us, hold, iter_clip_videos,
    stride_rows, window_indices,
)
from eevflow.options import OptionError

URL = "https://tfhub.dev/deepmind/mil-nce/s3d/1"
FPS, SECONDS, STEP = 10, 5.0, 5  # 50 video frames at 10 fps, frame i grey level 5 i


# ------------------------------------------------------------------------- windows (no media)

def test_grid_covers_the_video_at_fps():
    assert grid_times_us(1.0, 10).tolist() == [k * 100_000 for k in range(10)]
    assert len(grid_times_us(1.05, 10)) == 11 and len(grid_times_us(0.01, 10)) == 1
    assert grid_times_us(float("nan"), 10).tolist() == [0]


def test_windows_are_centred_on_the_row_time():
    w = window_indices(np.array([3.0, 3.04, 5.55]), n_grid=100, fps=10, frames=32)
    assert w.shape == (3, 32)
    assert w[0, 0] == 30 - 16 and w[0, 16] == 30 and w[0, -1] == 30 + 15
    assert w[1, 16] == 30 and w[2, 16] == 56  # round(t * fps) is the centre frame
    assert (np.diff(w, axis=1) == 1).all()


def test_windows_are_shifted_inside_at_both_ends():
    w = window_indices(np.array([0.0, 0.5, 9.9, 20.0]), n_grid=100, fps=10, frames=32)
    assert w[0].tolist() == list(range(32)) and w[1].tolist() == list(range(32))
    assert w[2].tolist() == list(range(68, 100)) and w[3].tolist() == list(range(68, 100))


def test_short_video_repeats_its_last_frame():
    w = window_indices(np.array([0.0, 0.7]), n_grid=5, fps=10, frames=8)
    assert w.tolist() == [[0, 1, 2, 3, 4, 4, 4, 4]] * 2
    with pytest.raises(ValueError, match="at least one frame"):
        window_indices(np.array([0.0]), n_grid=0, fps=10, frames=8)


def test_stride_holds_the_previous_clip():
    assert stride_rows(10, 4).tolist() == [0, 4, 8]
    held = hold(np.array([[1.0], [2.0], [3.0]]), 10, 4)
    assert held[:, 0].tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]
    assert hold(np.eye(3), 3, 1).tolist() == np.eye(3).tolist()
    with pytest.raises(ValueError, match="stride 4"):
        hold(np.zeros((2, 1)), 10, 4)
    with pytest.raises(ValueError, match="at least 1"):
        stride_rows(3, 0)


def test_clip_settings_validate_with_their_paths():
    assert ClipSettings.from_dict({}).fps == 10.0
    with pytest.raises(OptionError, match="clips.fps"):
        ClipSettings.from_dict({"fps": 0}, ("clips",))
    with pytest.raises(OptionError, match="clips.store"):
        ClipSettings.from_dict({"store": "none"}, ("clips",))


# ------------------------------------------------------------------------- model and media

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_hub")


class FakeS3D(tf.Module):
    """The S3D MIL-NCE ``video`` signature: ``[B, T, H, W, 3]`` in [0, 1] -> ``{video_embedding
    [B, 512], mixed_5c [B, 1024]}``. Features 0..T-1 of both echo each frame's mean x 255; the
    rest are a fixed projection of clip statistics."""

    def __init__(self):
        super().__init__()
        self.w = tf.Variable(tf.random.stateless_normal([3, 1024 - 64], seed=[3, 7]))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32)])
    def video(self, frames):
        means = tf.reduce_mean(frames, [2, 3, 4]) * 255.0  # [B, T]
        echo = tf.pad(means[:, :64], [[0, 0], [0, 64 - tf.minimum(tf.shape(means)[1], 64)]])
        stats = tf.stack([tf.reduce_mean(frames, [1, 2, 3, 4]), tf.math.reduce_std(
            frames, [1, 2, 3, 4]), tf.reduce_max(frames, [1, 2, 3, 4])], 1)
        rest = tf.tanh(stats @ self.w)
        return {"video_embedding": tf.concat([echo, rest[:, : 512 - 64]], 1),
                "mixed_5c": tf.concat([echo, rest], 1)}


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("tfhub_cache")
    m = FakeS3D()
    tf.saved_model.save(m, str(cache / hashlib.sha1(URL.encode()).hexdigest()),
                        signatures={"video": m.video})
    return cache


@pytest.fixture(autouse=True)
def offline(monkeypatch, hub_cache, tmp_path):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_cache))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub_cache"))
    monkeypatch.setenv("EEVFLOW_HUB_OFFLINE", "1")
    monkeypatch.delenv("TFHUB_MODEL_LOAD_FORMAT", raising=False)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """(decoded shard, clip shard) of one 5 s video at 10 fps, labels at 6 Hz."""
    from eevflow.decoded_shard import decode_shard

    d = tmp_path_factory.mktemp("clips")
    h, w = 64, 64  # square: no letterbox padding, a frame's mean is its grey level
    path = write_video(d / "vid.mp4", seconds=SECONDS, fps=FPS, size=(w, h), audio=False,
                       frame_fn=lambda i: np.full((h, w, 3), STEP * i, np.uint8))
    ts = np.round(np.arange(30) * 1e6 / 6).astype(np.int64)
    decode_shard(d / "decoded", [("vid", str(path))], {"vid": ts}, frame_size=32, store="raw")
    settings = ClipSettings.from_dict({"frame_size": 32, "store": "raw", "threads": 1})
    decode_clip_shard(d / "clips", [("vid", str(path))], {"vid": SECONDS}, settings)
    return d / "decoded", d / "clips"


def _ext(**options):
    from eevflow.features import build_extractor

    return build_extractor("s3d", {"backend": "s3d_clip", "modality": "visual", **options})


def _video(shards) -> ClipVideo:
    (video,) = list(iter_clip_videos(*shards))
    return video


def _expected_windows(n_rows, frames=32, n_grid=50):
    centre = np.round(np.arange(n_rows) / 6 * FPS).astype(int)
    start = np.clip(centre - frames // 2, 0, n_grid - frames)
    return start[:, None] + np.arange(frames)


def test_clip_stream_decodes_every_grid_frame(shards):
    video = _video(shards)
    assert len(video.timestamps_us) == 30 and video.fps == FPS
    assert video.grid.timestamps_us == grid_times_us(SECONDS, FPS).tolist()
    # grid frame k is video frame k (grey level 5 k, within H.264's +-2)
    means = np.asarray(video.frames).mean(axis=(1, 2, 3))
    assert (np.round(means / STEP) == np.arange(50)).all()


def test_s3d_embeds_the_window_of_each_row_in_row_order(shards):
    emb = _ext().embed(_video(shards))
    assert emb.shape == (30, 512) and emb.dtype == np.float32
    # the echoed per-frame means are those of the row's window, frame for frame
    grey = np.round(emb[:, :32] / STEP)
    assert (grey == _expected_windows(30)).all()
    assert (emb[:, 32:64] == 0).all() and np.isfinite(emb).all()


def test_s3d_options_frames_stride_output(shards):
    video = _video(shards)
    wide = _ext(output="mixed_5c", frames=8, batch_size=3).embed(video)
    assert wide.shape == (30, 1024)
    assert (np.round(wide[:, :8] / STEP) == _expected_windows(30, 8)).all()
    full = _ext(frames=8).embed(video)
    strided = _ext(frames=8, stride=4).embed(video)
    assert np.allclose(strided, full[(np.arange(30) // 4) * 4], atol=1e-5)
    assert not np.allclose(strided, full, atol=1e-5)


def test_missing_model_names_the_handle_and_folder(monkeypatch, tmp_path, shards):
    from eevflow.features.hub_handles import HubLoadError

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "empty"))
    with pytest.raises(HubLoadError) as err:
        _ext().embed(_video(shards))
    folder = str(tmp_path / "empty" / hashlib.sha1(URL.encode()).hexdigest())
    assert URL in str(err.value) and folder in str(err.value)


def test_damaged_model_names_the_handle_and_folder(monkeypatch, tmp_path, shards):
    from eevflow.features.hub_handles import HubLoadError

    bad = tmp_path / hashlib.sha1(URL.encode()).hexdigest()
    bad.mkdir()
    (bad / "saved_model.pb").write_bytes(b"not a protobuf")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    with pytest.raises(HubLoadError) as err:
        _ext().embed(_video(shards))
    assert URL in str(err.value) and str(bad) in str(err.value)


def test_a_model_without_the_video_signature_is_named(tmp_path, shards):
    from eevflow.features.hub_handles import HubLoadError

    m = tf.Module()
    m.f = tf.function(lambda x: x, input_signature=[tf.TensorSpec([None], tf.float32)])
    tf.saved_model.save(m, str(tmp_path / "other"), signatures={"serving_default": m.f})
    with pytest.raises(HubLoadError, match="no 'video' signature"):
        _ext(handle=str(tmp_path / "other")).embed(_video(shards))


def test_label_row_frames_are_refused_clearly(shards):
    from eevflow.decoded_shard import load_video

    with pytest.raises(TypeError, match="reads the clip stream.*came as label-row frames"):
        _ext().embed(load_video(shards[0], "vid", "visual"))


def test_mismatched_shards_are_refused(shards, tmp_path):
    import shutil

    other = tmp_path / "clips"
    shutil.copytree(shards[1], other)
    index = (other / "index.json").read_text().replace('"vid"', '"other"')
    (other / "index.json").write_text(index)
    with pytest.raises(ValueError, match="hold different videos"):
        list(iter_clip_videos(shards[0], other))
    assert os.path.isdir(shards[1])
