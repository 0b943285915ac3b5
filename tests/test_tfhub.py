"""TF Hub extractors through the real loading code (``hub.load`` with the real handle URLs), with no
network: tiny SavedModels with the real modules' call signatures and output sizes are placed at
``$TFHUB_CACHE_DIR/<sha1 of the URL>/``, and the extractors run on a decoded H.264 + AAC clip."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from dataclasses import replace

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_hub")

from conftest import write_video  # noqa: E402

from eevflow.features import build_extractor  # noqa: E402
from eevflow.features.options import (  # noqa: E402
    EFFICIENTNET_B0_URL,
    RESNET_V2_50_URL,
    TRILL_DISTILLED_URL,
    VGGISH_URL,
    YAMNET_URL,
)
from eevflow.features.tfhub import (  # noqa: E402
    HubLoadError,
    cached_module_dir,
    frame_average,
    load_handle,
    pad_for_frames,
    resolve_handle,
)
from eevflow.decoding import Decoded, decode_video, load_decoded  # noqa: E402

try:
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
except RuntimeError:  # TensorFlow already initialised by another test module
    pass

SR = 16000
N_STATS = 4


def _stats(x, axis):
    """[..., 4]: mean, RMS, max |x|, mean |diff| along ``axis``: cheap, input-dependent."""
    return tf.stack(
        [
            tf.reduce_mean(x, axis),
            tf.sqrt(tf.reduce_mean(tf.square(x), axis) + 1e-12),
            tf.reduce_max(tf.abs(x), axis),
            tf.reduce_mean(tf.abs(x[..., 1:] - x[..., :-1]), axis),
        ],
        -1,
    )


def _projection(dim, seed):
    return tf.Variable(tf.random.stateless_normal([N_STATS, dim], seed=[seed, 7]), trainable=False)


class FakeTrill(tf.Module):
    """TRILL-distilled v3's call: ``(samples [batch, n], sample_rate) -> {'embedding': [batch,
    time, 2048]}``, one 0.1 s frame per ``time`` step; feature 0 echoes ``sample_rate``."""

    def __init__(self):
        super().__init__()
        self.w = _projection(2048, 1)

    @tf.function(
        input_signature=[tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([], tf.int32)]
    )
    def __call__(self, samples, sample_rate):
        frames = tf.signal.frame(samples, 1600, 1600, pad_end=True)  # [batch, time, 1600]
        emb = tf.tanh(tf.einsum("btk,kd->btd", _stats(frames, -1), self.w))
        rate = tf.cast(sample_rate, tf.float32) * tf.ones_like(emb[..., :1])
        return {"embedding": tf.concat([rate, emb[..., 1:]], -1), "layer19": emb[..., :512]}


class FakeVGGish(tf.Module):
    """VGGish v1's call: ``waveform [n] -> [N, 128]``, 0.96 s frames with no overlap (each 15600
    samples of the waveform: 96 STFT hops plus the 25 ms window)."""

    def __init__(self):
        super().__init__()
        self.w = _projection(128, 2)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, waveform):
        frames = tf.signal.frame(waveform, 15600, 15360)
        return tf.tanh(_stats(frames, -1) @ self.w)


class FakeYAMNet(tf.Module):
    """YAMNet v1's call: ``waveform [n] -> (scores [N, 521], embeddings [N, 1024], log_mel [M,
    64])``, frames of 0.96 s every 0.48 s, padded to one frame at least."""

    def __init__(self):
        super().__init__()
        self.w = _projection(1024, 3)
        self.c = _projection(521, 4)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def __call__(self, waveform):
        n = tf.shape(waveform)[0]
        short = tf.maximum(15600 - n, 0)
        waveform = tf.pad(waveform, [[0, short]])
        frames = tf.signal.frame(waveform, 15600, 7680)
        stats = _stats(frames, -1)
        log_mel = tf.zeros([1 + (tf.shape(waveform)[0] - 400) // 160, 64])
        return tf.sigmoid(stats @ self.c), tf.tanh(stats @ self.w), log_mel


class FakeImageFeatureVector(tf.Module):
    """The image feature-vector call: ``(images [batch, H, W, 3], training=False) -> [batch,
    dim]``. Features 0-2 echo the per-image min, max and mean pixel value it received."""

    def __init__(self, dim, seed):
        super().__init__()
        self.w = _projection(dim - 3, seed)

    @tf.function
    def __call__(self, images, training=False):
        flat = tf.reshape(images, [tf.shape(images)[0], -1])
        echo = tf.stack(
            [tf.reduce_min(flat, 1), tf.reduce_max(flat, 1), tf.reduce_mean(flat, 1)], 1
        )
        return tf.concat([echo, tf.tanh(_stats(flat, -1) @ self.w)], 1)


def _save(module, path, *traces):
    for args, kwargs in traces:
        module.__call__.get_concrete_function(*args, **kwargs)
    tf.saved_model.save(module, str(path))
    return path


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("savedmodels")
    image = tf.TensorSpec([None, None, None, 3], tf.float32)
    image_traces = [((image,), {"training": False}), ((image,), {"training": True})]
    return {
        TRILL_DISTILLED_URL: _save(FakeTrill(), root / "trill"),
        VGGISH_URL: _save(FakeVGGish(), root / "vggish"),
        YAMNET_URL: _save(FakeYAMNet(), root / "yamnet"),
        EFFICIENTNET_B0_URL: _save(FakeImageFeatureVector(1280, 5), root / "effnet", *image_traces),
        RESNET_V2_50_URL: _save(FakeImageFeatureVector(2048, 6), root / "resnet", *image_traces),
    }


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, saved_models):
    """A TFHUB_CACHE_DIR holding each SavedModel under the SHA-1 of its handle URL."""
    cache = tmp_path_factory.mktemp("tfhub_cache")
    for url, path in saved_models.items():
        shutil.copytree(path, cache / hashlib.sha1(url.encode("utf8")).hexdigest())
    return cache


@pytest.fixture(autouse=True)
def offline(monkeypatch, hub_cache, tmp_path):
    """Every test: TFHUB_CACHE_DIR set (tensorflow_hub reads it at call time), an empty
    KAGGLEHUB_CACHE, network refused (urllib for tensorflow_hub, requests for kagglehub)."""
    import requests

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(hub_cache))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub_cache"))
    monkeypatch.delenv("TFHUB_MODEL_LOAD_FORMAT", raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    def no_requests(*args, **kwargs):
        raise requests.exceptions.ConnectionError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", no_requests)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Decoded:
    """A real 4 s H.264 + AAC clip (440 Hz tone), decoded at 6 Hz: 24 rows, 16 kHz audio."""
    d = tmp_path_factory.mktemp("video")
    path = write_video(d / "clip.mp4", seconds=4.0, fps=12, size=(160, 120))
    ts = (np.arange(24) * 1e6 / 6).round().astype(np.int64)
    files = {k: d / f"{k}.{e}" for k, e in (("frames", "npy"), ("audio", "npy"), ("meta", "json"))}
    decode_video("clip", path, ts, files["frames"], files["audio"], files["meta"])
    return load_decoded(str(files["meta"]), str(files["frames"]), str(files["audio"]))


def _audio_ext(**options):
    return build_extractor("a", {"backend": "tfhub_audio", "modality": "audio", **options})


def _image_ext(**options):
    return build_extractor("v", {"backend": "tfhub_image", "modality": "visual", **options})


def _with_audio(video: Decoded, audio: np.ndarray) -> Decoded:
    return replace(video, audio=audio.astype(np.float32))


# --------------------------------------------------------------------------- handles


def test_resolve_handle_kinds(tmp_path, saved_models, hub_cache):
    url = resolve_handle(TRILL_DISTILLED_URL)
    expected = hub_cache / hashlib.sha1(TRILL_DISTILLED_URL.encode()).hexdigest()
    assert url.kind == "url" and url.path == str(expected) == cached_module_dir(TRILL_DISTILLED_URL)
    local = resolve_handle(str(saved_models[VGGISH_URL]))
    assert local.kind == "directory" and local.path == str(saved_models[VGGISH_URL])
    for bad in ("", None, "google/vggish/1", str(tmp_path / "missing"), "ftp://x/y"):
        with pytest.raises(ValueError, match="handle"):
            resolve_handle(bad)
    with pytest.raises(ValueError, match="not a SavedModel"):
        resolve_handle(str(tmp_path))  # a directory without saved_model.pb


def test_url_loads_from_the_cache_without_network():
    module = load_handle(VGGISH_URL)
    assert module(tf.zeros([SR * 2])).shape == (2, 128)


def test_uncached_url_raises_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "empty_cache"))
    with pytest.raises(HubLoadError) as exc:
        load_handle(YAMNET_URL)
    msg = str(exc.value)
    assert YAMNET_URL in msg and "TFHUB_CACHE_DIR" in msg
    assert hashlib.sha1(YAMNET_URL.encode()).hexdigest() in msg
    assert isinstance(exc.value.__cause__, Exception)  # the library's error stays chained


def test_broken_cached_model_raises_a_clear_error(monkeypatch, tmp_path):
    bad = tmp_path / hashlib.sha1(VGGISH_URL.encode()).hexdigest()
    bad.mkdir()
    (bad / "saved_model.pb").write_bytes(b"not a protobuf")
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    with pytest.raises(HubLoadError, match="exists but did not load"):
        load_handle(VGGISH_URL)


def test_missing_handle_fails_when_the_extractor_is_built(tmp_path):
    with pytest.raises(ValueError, match="neither an http"):
        _audio_ext(handle=str(tmp_path / "no_such_model"))
    with pytest.raises(ValueError, match=r"extractors\.\w+\.model: 'vggish' is not allowed; "
                       r"allowed values: \['efficientnet_b0', 'resnet_v2_50', "
                       r"'inception_resnet_v2'\]"):
        _image_ext(model="vggish")


# --------------------------------------------------------------------------- audio


def test_trill_equal_chunks_one_row_per_chunk(video):
    ext = _audio_ext()  # trill-distilled v3, equal_chunks, the winner's settings
    assert ext.handle == TRILL_DISTILLED_URL and ext.dim == 2048
    assert ext.window_mode == "equal_chunks" and ext.output_key == "embedding"
    emb = ext.embed(video)
    n = len(video.timestamps_us)
    assert emb.shape == (n, 2048) and emb.dtype == np.float32 and np.isfinite(emb).all()
    assert np.all(emb[:, 0] == SR)  # sample_rate=16000 reached the module
    assert ext.metadata()["dim"] == "2048" and "trill-distilled/3" in ext.version

    # Chunk k of the padded track is row k's audio: changing it changes row k only.
    chunk = -(-len(video.audio) // n)
    k = 7
    audio = video.audio.copy()
    audio[k * chunk : (k + 1) * chunk] = np.random.default_rng(0).uniform(-1, 1, chunk)
    changed = np.abs(ext.embed(_with_audio(video, audio)) - emb).max(axis=1) > 1e-6
    assert changed.tolist() == [i == k for i in range(n)]


def test_trill_averages_the_frames_of_a_chunk(video):
    emb = _audio_ext(batch_size=5).embed(video)
    chunk = -(-len(video.audio) // len(emb))
    padded = np.pad(video.audio, (0, chunk * len(emb) - len(video.audio))).reshape(len(emb), -1)
    module = load_handle(TRILL_DISTILLED_URL)
    raw = module(samples=tf.constant(padded), sample_rate=SR)["embedding"].numpy()
    assert raw.shape[1] > 1  # several frames per chunk: the extractor averages them
    np.testing.assert_allclose(emb, raw.mean(axis=1), rtol=1e-5, atol=1e-6)


def test_trill_label_window_option(video):
    ext = _audio_ext(window="label_window")
    emb = ext.embed(video)
    assert emb.shape == (len(video.timestamps_us), 2048)
    k, start = 5, round(video.timestamps_us[5] * SR / 1e6)
    audio = video.audio.copy()
    audio[start + 1 : start + SR // 6 - 1] = 0.9  # label windows share a sample at rounding
    changed = np.abs(ext.embed(_with_audio(video, audio)) - emb).max(axis=1) > 1e-6
    assert changed.tolist() == [i == k for i in range(len(emb))]


@pytest.mark.parametrize("model, dim, hop", [("vggish", 128, 15360), ("yamnet", 1024, 7680)])
def test_whole_track_models_average_overlapping_frames(video, model, dim, hop):
    ext = _audio_ext(model=model)
    emb = ext.embed(video)
    n = len(video.timestamps_us)
    assert emb.shape == (n, dim) and ext.dim == dim and np.isfinite(emb).all()

    module = load_handle({"vggish": VGGISH_URL, "yamnet": YAMNET_URL}[model])
    target = pad_for_frames(len(video.audio), 15600, hop)
    padded = np.pad(video.audio, (0, target - len(video.audio)))
    out = module(tf.constant(padded))
    frames = (out[1] if model == "yamnet" else out).numpy()
    starts = np.round(video.timestamps_us * SR / 1e6).astype(np.int64)
    ends = starts + round(SR / 6)
    for i in range(n):  # row i: mean of the frames whose 0.96 s span meets [start, end)
        hit = [f for f in range(len(frames)) if f * hop < ends[i] and f * hop + 15360 > starts[i]]
        np.testing.assert_allclose(emb[i], frames[hit].mean(0), rtol=1e-5, atol=1e-6)

    # Audio late in the track changes only the rows whose frames hear it.
    audio = video.audio.copy()
    audio[3 * SR :] = np.random.default_rng(1).uniform(-1, 1, len(audio) - 3 * SR)
    changed = np.abs(ext.embed(_with_audio(video, audio)) - emb).max(axis=1) > 1e-6
    assert not changed[: int(2 * 6)].any() and changed[-1]


def test_frame_average_and_padding_helpers():
    frames = np.arange(8, dtype=np.float32).reshape(4, 2)  # 4 frames of 10 samples, hop 10
    starts, ends = np.array([0, 5, 12, 35, 90]), np.array([5, 15, 18, 40, 95])
    out = frame_average(frames, np.arange(4) * 10, 10, starts, ends)
    np.testing.assert_array_equal(out[:, 0], [0, 1, 2, 6, 6])  # rows past the end: last frame
    assert pad_for_frames(100, 15600, 7680) == 15600
    assert pad_for_frames(15601, 15600, 7680) == 15600 + 7680
    assert pad_for_frames(15600 + 7680, 15600, 7680) == 15600 + 7680


def test_audio_needs_16k(video):
    info = replace(video.info, sample_rate=22050)
    with pytest.raises(ValueError, match="16000 Hz"):
        _audio_ext().embed(replace(video, info=info))


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize("model, url, dim", [
    ("efficientnet_b0", EFFICIENTNET_B0_URL, 1280),
    ("resnet_v2_50", RESNET_V2_50_URL, 2048),
])
def test_image_models_get_frames_in_unit_range(video, model, url, dim):
    ext = _image_ext(model=model, batch_size=5)  # 24 frames in batches of 5 (last one short)
    assert ext.handle == url and ext.dim == dim
    emb = ext.embed(video)
    frames = np.asarray(video.frames, np.float32)
    assert emb.shape == (len(frames), dim) and emb.dtype == np.float32
    np.testing.assert_allclose(emb[:, 0], frames.min(axis=(1, 2, 3)) / 255, atol=1e-6)
    np.testing.assert_allclose(emb[:, 1], frames.max(axis=(1, 2, 3)) / 255, atol=1e-6)
    np.testing.assert_allclose(emb[:, 2], frames.mean(axis=(1, 2, 3)) / 255, atol=1e-5)
    assert emb[:, 1].max() <= 1.0 and emb[:, 1].max() > 0.5  # [0, 1], not [0, 255]
    # One row per frame, independent of the batch size.
    np.testing.assert_allclose(_image_ext(model=model, batch_size=24).embed(video), emb, atol=1e-6)


def test_image_local_directory_handle(video, saved_models):
    ext = _image_ext(handle=str(saved_models[EFFICIENTNET_B0_URL]))
    assert ext.resolved.kind == "directory" and "saved_model_checksum=" in ext.version
    np.testing.assert_allclose(ext.embed(video), _image_ext().embed(video), atol=1e-6)


def test_wrong_dim_is_reported(video):
    with pytest.raises(ValueError, match=r"set the extractor's `dim:`"):
        _image_ext(model="resnet_v2_50", dim=1280).embed(video)


# --------------------------------------------------------------------------- config


def test_config_schema_accepts_the_tfhub_backends():
    import copy
    from pathlib import Path

    import yaml

    from eevflow.config import ConfigError, validate_config

    repo = Path(__file__).resolve().parents[1]
    schema = repo / "schemas" / "config.schema.yaml"
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    cfg["extractors"].update(
        trill={"backend": "tfhub_audio", "modality": "audio", "window": "equal_chunks"},
        yamnet={"backend": "tfhub_audio", "modality": "audio", "model": "yamnet",
                "handle": YAMNET_URL, "output_key": 1, "dim": 1024, "batch_size": 8},
        effnet_b0={"backend": "tfhub_image", "modality": "visual", "model": "efficientnet_b0",
                   "handle": "/models/effnet_b0", "output_key": "default", "batch_size": 16},
    )
    out = validate_config(cfg, schema)
    for name in ("trill", "yamnet", "effnet_b0"):
        opts = out["extractors"][name]
        if not (opts["handle"] or "").startswith("/"):
            build_extractor(name, opts)  # the schema's options are the extractor's options
    bad = copy.deepcopy(cfg)
    bad["extractors"]["trill"]["model"] = "wav2vec"
    with pytest.raises(ConfigError, match="extractors.trill.model"):
        validate_config(bad, schema)
