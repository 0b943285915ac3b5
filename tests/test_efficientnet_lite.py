"""EfficientNet-Lite0 with the real ImageNet weights on scikit-image's bundled photos (CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

skimage_data = pytest.importorskip("skimage.data")

from eevflow.features.efficientnet_lite import (  # noqa: E402
    FEATURE_DIM,
    WeightLoadError,
    default_weights_path,
    embed_frames,
    load_efficientnet_lite0,
    preprocess,
)

CAT_CLASSES = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968}  # espresso, cup


def square_224(img: np.ndarray) -> np.ndarray:
    """Zero-pad to a centred square, resize to 224 (as the workflow's decoder does)."""
    h, w, _ = img.shape
    n = max(h, w)
    out = np.zeros((n, n, 3), np.uint8)
    out[(n - h) // 2 : (n - h) // 2 + h, (n - w) // 2 : (n - w) // 2 + w] = img
    return np.asarray(Image.fromarray(out).resize((224, 224), Image.BILINEAR))


@pytest.fixture(scope="module")
def model():
    return load_efficientnet_lite0()


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    return np.stack([square_224(skimage_data.chelsea()), square_224(skimage_data.coffee())])


@pytest.fixture(scope="module")
def probs(model, photos) -> torch.Tensor:
    with torch.inference_mode():
        return model(preprocess(photos)).softmax(1)


def test_chelsea_is_a_cat(probs):
    top = int(probs[0].argmax())
    assert top in CAT_CLASSES
    assert probs[0, top] > 0.5  # 285 (Egyptian cat) at ~0.83 with the right padding/normalisation


def test_coffee_top5_is_coffee(probs):
    top5 = set(probs[1].topk(5).indices.tolist())
    assert top5 & COFFEE_CLASSES
    assert int(probs[1].argmax()) in COFFEE_CLASSES  # 967 (espresso) at ~0.66


def test_features_are_the_penultimate_layer(model, photos):
    feats = embed_frames(model, photos, batch_size=2)
    assert feats.shape == (2, FEATURE_DIM) and feats.dtype == np.float32
    assert np.all(feats >= 0) and np.all(feats <= 6)  # mean of ReLU6 activations
    with torch.inference_mode():
        logits = model(preprocess(photos))
        from_feats = model._fc(torch.from_numpy(feats))
    torch.testing.assert_close(from_feats, logits, rtol=1e-4, atol=1e-4)


def test_deterministic_and_batch_size_independent(model, photos):
    frames = np.concatenate([photos, photos[::-1], photos[:1]])
    a = embed_frames(model, frames, batch_size=2)
    b = embed_frames(model, frames, batch_size=2)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(embed_frames(model, frames, batch_size=5), a, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a[0], a[3], rtol=1e-4, atol=1e-4)  # same frame, other position


def test_embed_zero_frames(model):
    out = embed_frames(model, np.zeros((0, 224, 224, 3), np.uint8))
    assert out.shape == (0, FEATURE_DIM) and out.dtype == np.float32


def test_preprocess_scaling_and_validation():
    frames = np.zeros((1, 224, 224, 3), np.uint8)
    frames[0, 0, 0] = (0, 127, 255)
    x = preprocess(frames)
    assert x.shape == (1, 3, 224, 224) and x.dtype == torch.float32
    assert x[0, :, 0, 0].tolist() == [-127 / 128, 0.0, 1.0]
    with pytest.raises(ValueError, match="uint8"):
        preprocess(frames.astype(np.float32))
    with pytest.raises(ValueError, match="224"):
        preprocess(np.zeros((1, 112, 112, 3), np.uint8))


def test_missing_file_raises(tmp_path):
    path = tmp_path / "nope.pth"
    with pytest.raises(WeightLoadError, match="nope.pth"):
        load_efficientnet_lite0(str(path))


def test_truncated_file_raises(tmp_path):
    data = open(default_weights_path(), "rb").read()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightLoadError, match="truncated.pth"):
        load_efficientnet_lite0(str(path))


@pytest.mark.parametrize("damage", ["missing", "renamed", "reshaped"])
def test_mismatched_state_dict_raises(tmp_path, damage):
    state = torch.load(default_weights_path(), map_location="cpu", weights_only=True)
    if damage == "missing":
        del state["_blocks.3._depthwise_conv.weight"]
    elif damage == "renamed":
        state["fc.weight"] = state.pop("_fc.weight")
    else:
        state["_fc.bias"] = torch.zeros(10)
    path = tmp_path / f"{damage}.pth"
    torch.save(state, path)
    with pytest.raises(WeightLoadError, match=f"{damage}.pth"):
        load_efficientnet_lite0(str(path))


def test_extractor_backend(photos):
    from eevflow.features import build_extractor
    from eevflow.decoding import DecodeInfo, Decoded

    ext = build_extractor(
        "effnet",
        {"backend": "efficientnet_lite0", "modality": "visual", "batch_size": 1},
    )
    info = DecodeInfo("v", 30.0, 2, 224, 224, 224, 16000, 0, [0, 166666], [0, 5])
    threads = torch.get_num_threads()
    try:  # the extractor sets torch's thread count for its job process
        out = ext.embed(Decoded(info=info, frames=photos, audio=None))
    finally:
        torch.set_num_threads(threads)
    assert out.shape == (2, ext.dim) == (2, FEATURE_DIM) and out.dtype == np.float32
