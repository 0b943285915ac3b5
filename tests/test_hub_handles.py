"""Model hub handles with no network: Kaggle Models handles through kagglehub's real cache lookup
(a pre-seeded ``$KAGGLEHUB_CACHE`` layout), tfhub.dev URLs falling back to their mapped Kaggle
handle, the errors of missing and damaged models, and Inception-ResNet-v2 (299 px input) in the
``tfhub_image`` backend. Tiny SavedModels with the real call signatures are built here."""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_hub")
pytest.importorskip("kagglehub")

from conftest import write_video  # noqa: E402
from test_tfhub import FakeImageFeatureVector, FakeVGGish, _save  # noqa: E402

from eevflow.decoding import decode_video, load_decoded  # noqa: E402
from eevflow.features import build_extractor  # noqa: E402
from eevflow.features.hub_handles import (  # noqa: E402
    HubLoadError,
    load_handle,
    parse_kaggle_handle,
    resolve_handle,
)
from eevflow.features.hub_map import TFHUB_TO_KAGGLE, UNVERIFIED  # noqa: E402
from eevflow.features.options import (  # noqa: E402
    EFFICIENTNET_B0_URL,
    HUB_AUDIO_MODELS,
    HUB_IMAGE_MODELS,
    INCEPTION_RESNET_V2_URL,
    VGGISH_URL,
)

VGGISH_KAGGLE = "google/vggish/tensorFlow2/vggish/1"


class FakeInceptionResNetV2(tf.Module):
    """The image feature-vector call, ``images [batch, H, W, 3] -> [batch, 1536]``; features 0-4
    echo the height and width it received, then the per-image min, max and mean pixel value."""

    def __init__(self):
        super().__init__()
        self.inner = FakeImageFeatureVector(1536 - 2, 9)

    @tf.function
    def __call__(self, images, training=False):
        shape = tf.cast(tf.shape(images), tf.float32)
        hw = tf.ones([tf.shape(images)[0], 2]) * shape[1:3]
        return tf.concat([hw, self.inner(images, training=training)], 1)


IMAGE = tf.TensorSpec([None, None, None, 3], tf.float32)
IMAGE_TRACES = [((IMAGE,), {"training": False}), ((IMAGE,), {"training": True})]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub_models")
    return {
        "vggish": _save(FakeVGGish(), root / "vggish"),
        "effnet": _save(FakeImageFeatureVector(1280, 5), root / "effnet", *IMAGE_TRACES),
        "irv2": _save(FakeInceptionResNetV2(), root / "irv2", *IMAGE_TRACES),
    }


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Empty TF Hub and kagglehub caches; urllib (tensorflow_hub) and requests (kagglehub)
    refused, counting the attempts."""
    import requests

    calls = []
    tfhub, kaggle = tmp_path / "tfhub_cache", tmp_path / "kagglehub_cache"
    tfhub.mkdir()
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tfhub))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(kaggle))
    monkeypatch.delenv("TFHUB_MODEL_LOAD_FORMAT", raising=False)
    monkeypatch.delenv("EEVFLOW_HUB_OFFLINE", raising=False)

    def no_urllib(*args, **kwargs):
        calls.append(args)
        raise urllib.error.URLError("network disabled in tests")

    def no_requests(*args, **kwargs):
        calls.append(args)
        raise requests.exceptions.ConnectionError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_urllib)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", no_requests)
    return {"tfhub": tfhub, "kaggle": kaggle, "calls": calls}


def seed_kaggle(cache, handle: str, model_dir, marker=True):
    """kagglehub's layout: models/<owner>/<model>/<framework>/<variation>/<version>/ + marker."""
    owner, model, framework, variation, version = handle.split("/")
    base = cache / "models" / owner / model / framework / variation
    shutil.copytree(model_dir, base / version)
    if marker:
        (base / f"{version}.complete").touch()
    return base / version


def seed_tfhub(cache, url, model_dir):
    shutil.copytree(model_dir, cache / hashlib.sha1(url.encode()).hexdigest())


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A real 2 s H.264 clip decoded at 6 Hz: 12 rows of 224 x 224 letterboxed frames."""
    d = tmp_path_factory.mktemp("video")
    path = write_video(d / "clip.mp4", seconds=2.0, fps=12, size=(160, 120))
    ts = (np.arange(12) * 1e6 / 6).round().astype(np.int64)
    files = {k: d / f"{k}.{e}" for k, e in (("frames", "npy"), ("audio", "npy"), ("meta", "json"))}
    decode_video("clip", path, ts, files["frames"], files["audio"], files["meta"])
    return load_decoded(str(files["meta"]), str(files["frames"]), str(files["audio"]))


def _image_ext(**options):
    return build_extractor("v", {"backend": "tfhub_image", "modality": "visual", **options})


# --------------------------------------------------------------------------- handles


def test_handle_forms_resolve(offline):
    k = resolve_handle("kaggle:google/vggish/TensorFlow2/vggish/1")
    assert k.kind == "kaggle" and str(k.kaggle) == VGGISH_KAGGLE  # one framework spelling
    assert k.path == str(offline["kaggle"] / "models/google/vggish/tensorFlow2/vggish/1")
    assert k.kaggle.marker() == str(offline["kaggle"] / "models/google/vggish/tensorFlow2/"
                                    "vggish/1.complete")
    for url in ("https://www.kaggle.com/models/google/vggish/TensorFlow2/vggish/1",
                "https://www.kaggle.com/models/google/vggish/frameworks/tensorFlow2/variations/"
                "vggish/versions/1?tfhub-redirect=true",
                "https://www.kaggle.com/api/v1/models/google/vggish/tensorFlow2/vggish/1/download"):
        r = resolve_handle(url)
        assert r.kind == "kaggle" and r.kaggle == k.kaggle and r.path == k.path
    u = resolve_handle(VGGISH_URL)
    assert u.kind == "url" and str(u.kaggle) == VGGISH_KAGGLE
    assert resolve_handle("https://example.org/some/model/1").kaggle is None
    for bad, why in (("kaggle:google/vggish/tensorFlow2/vggish", "5 parts"),
                     ("kaggle:google/vggish/tensorFlow2/vggish/latest", "positive integer"),
                     ("https://www.kaggle.com/datasets/x/y", "not a model URL"),
                     ("google/vggish/tensorFlow2/vggish/1", "kaggle:owner")):
        with pytest.raises(ValueError, match=why):
            resolve_handle(bad)


def test_the_map_covers_every_hub_model_and_parses():
    urls = {m["handle"] for m in (*HUB_AUDIO_MODELS.values(), *HUB_IMAGE_MODELS.values())}
    urls |= {"https://tfhub.dev/deepmind/mil-nce/s3d/1",
             "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4",
             "https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3"}
    assert urls <= set(TFHUB_TO_KAGGLE) and UNVERIFIED <= set(TFHUB_TO_KAGGLE)
    for url, handle in TFHUB_TO_KAGGLE.items():
        assert str(parse_kaggle_handle(handle)) == handle  # versioned, canonical spelling
        assert handle.split("/")[2] == ("tensorFlow1" if "mil-nce" in url else "tensorFlow2")


def test_kaggle_handle_loads_from_the_kagglehub_cache_without_network(offline, models):
    seed_kaggle(offline["kaggle"], VGGISH_KAGGLE, models["vggish"])
    for handle in ("kaggle:" + VGGISH_KAGGLE,
                   "https://www.kaggle.com/models/google/vggish/TensorFlow2/vggish/1"):
        module = load_handle(handle)
        assert module(tf.zeros([16000 * 2])).shape == (2, 128)
    assert offline["calls"] == []  # kagglehub found it in its cache: no request at all


def test_uncached_tfhub_url_loads_through_its_kaggle_handle(offline, models, video):
    assert not any(offline["tfhub"].iterdir())
    seed_kaggle(offline["kaggle"], TFHUB_TO_KAGGLE[EFFICIENTNET_B0_URL], models["effnet"])
    ext = _image_ext()  # the default handle: the tfhub.dev URL
    assert ext.handle == EFFICIENTNET_B0_URL
    emb = ext.embed(video)
    assert emb.shape == (len(video.frames), 1280) and offline["calls"] == []
    np.testing.assert_allclose(emb[:, 2], np.asarray(video.frames, np.float32).mean((1, 2, 3))
                               / 255, atol=1e-5)


def test_tfhub_cache_wins_over_the_kaggle_handle(offline, models):
    seed_tfhub(offline["tfhub"], VGGISH_URL, models["vggish"])
    base = seed_kaggle(offline["kaggle"], VGGISH_KAGGLE, models["vggish"])
    (base / "saved_model.pb").write_bytes(b"damaged: never read")
    assert load_handle(VGGISH_URL)(tf.zeros([16000])).shape == (1, 128)


def test_missing_model_names_both_handles_and_the_folders(offline):
    with pytest.raises(HubLoadError) as exc:
        load_handle(VGGISH_URL)
    msg = str(exc.value)
    sha = hashlib.sha1(VGGISH_URL.encode()).hexdigest()
    kaggle_dir = offline["kaggle"] / "models/google/vggish/tensorFlow2/vggish"
    for part in (VGGISH_URL, VGGISH_KAGGLE, str(offline["tfhub"] / sha), str(kaggle_dir / "1"),
                 str(kaggle_dir / "1.complete"), "TFHUB_CACHE_DIR", "KAGGLEHUB_CACHE",
                 "local SavedModel folder", "1. Kaggle handle", "2. " + VGGISH_URL):
        assert part in msg, part
    assert "Traceback" not in msg and isinstance(exc.value.__cause__, Exception)
    assert len(offline["calls"]) >= 2  # kagglehub and hub.load each tried the (refused) network

    with pytest.raises(HubLoadError, match="google/vggish/tensorFlow2/vggish/1.complete"):
        load_handle("kaggle:" + VGGISH_KAGGLE)


def test_offline_switch_tries_no_download(offline, monkeypatch):
    monkeypatch.setenv("EEVFLOW_HUB_OFFLINE", "1")
    with pytest.raises(HubLoadError, match="EEVFLOW_HUB_OFFLINE forbids a download") as exc:
        load_handle(VGGISH_URL)
    assert VGGISH_KAGGLE in str(exc.value) and offline["calls"] == []


def test_damaged_models_name_the_handle_and_the_folder(offline, models):
    base = seed_kaggle(offline["kaggle"], VGGISH_KAGGLE, models["vggish"])
    (base / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(HubLoadError) as exc:
        load_handle("kaggle:" + VGGISH_KAGGLE)
    assert f"from the kagglehub cache {base}" in str(exc.value) and VGGISH_KAGGLE in str(exc.value)

    # A damaged TF Hub cache copy, and the Kaggle handle (damaged too): both named.
    seed_tfhub(offline["tfhub"], VGGISH_URL, models["vggish"])
    sha_dir = offline["tfhub"] / hashlib.sha1(VGGISH_URL.encode()).hexdigest()
    (sha_dir / "saved_model.pb").write_bytes(b"not a protobuf")
    with pytest.raises(HubLoadError) as exc:
        load_handle(VGGISH_URL)
    msg = str(exc.value)
    assert f"{sha_dir}, which exists but did not load" in msg and str(base) in msg
    # a cache folder without kagglehub's completion marker is not a hit: kagglehub downloads
    shutil.rmtree(offline["kaggle"])
    seed_kaggle(offline["kaggle"], VGGISH_KAGGLE, models["vggish"], marker=False)
    with pytest.raises(HubLoadError, match="not in its cache"):
        load_handle("kaggle:" + VGGISH_KAGGLE)


# --------------------------------------------------------------------------- Inception-ResNet-v2


def test_inception_resnet_v2_sees_299_px_frames_in_row_order(offline, models, video):
    seed_tfhub(offline["tfhub"], INCEPTION_RESNET_V2_URL, models["irv2"])
    ext = _image_ext(model="inception_resnet_v2", batch_size=5)
    assert ext.handle == INCEPTION_RESNET_V2_URL and ext.dim == 1536 and ext.input_size == 299
    frames = np.asarray(video.frames, np.float32)
    assert frames.shape[1:] == (224, 224, 3)
    emb = ext.embed(video)
    assert emb.shape == (len(frames), 1536) and emb.dtype == np.float32
    assert (emb[:, :2] == 299).all()  # the model saw 299 x 299
    big = tf.image.resize(frames / 255, (299, 299), method="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(emb[:, 3], big.max((1, 2, 3)), atol=1e-6)
    np.testing.assert_allclose(emb[:, 4], big.mean((1, 2, 3)), atol=1e-5)  # row i = frame i
    assert np.ptp(emb[:, 4]) > 1e-3  # the frames differ, so the order is tested
    assert "size=299" in ext.version
    same = _image_ext(model="inception_resnet_v2", input_size=224).embed(video)
    assert (same[:, :2] == 224).all()  # input_size: the decoded frames as they are
    np.testing.assert_allclose(same[:, 4], frames.mean((1, 2, 3)) / 255, atol=1e-5)
