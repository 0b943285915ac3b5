"""The ``timm_image`` backend through its real code path: timm's Swin code (Swin-T, the Swin-L
architecture family at a fraction of the compute) with random-init weights saved to a local
.safetensors file, on a real H.264 clip written with PyAV and decoded by the workflow's decoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import write_video
from eevflow.decoding import decode_video, load_decoded
from eevflow.features import build_extractor
from eevflow.features.options import extractor_dim, parse_extractor
from eevflow.features.timm_image import CheckpointError, import_timm
from eevflow.options import OptionError

timm = import_timm()
safetensors_torch = pytest.importorskip("safetensors.torch")

TINY = "swin_tiny_patch4_window7_224"
ROWS = 12


def _square_frame(i: int, h: int = 120, w: int = 160) -> np.ndarray:
    """A dark frame with a bright 40 px square moving 10 px right per frame: every frame differs."""
    img = np.full((h, w, 3), 30, np.uint8)
    x = 5 * i
    img[40:80, x : x + 40] = (220, 180, 60)
    return img


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """A real 2 s H.264 clip at 12 fps, decoded at 6 Hz (12 rows, 224 px letterboxed squares)."""
    d = tmp_path_factory.mktemp("video")
    path = write_video(d / "clip.mp4", seconds=2.0, fps=12, audio=False, frame_fn=_square_frame)
    ts = (np.arange(ROWS) * 1e6 / 6).round().astype(np.int64)
    files = {k: d / f"{k}.{e}" for k, e in (("frames", "npy"), ("audio", "npy"), ("meta", "json"))}
    decode_video("clip", path, ts, files["frames"], files["audio"], files["meta"])
    return load_decoded(str(files["meta"]), str(files["frames"]), str(files["audio"]))


def _tiny_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random-init Swin-T weights with its 1000-class head (the backend drops the classifier)."""
    torch.manual_seed(seed)
    model = timm.create_model(TINY, pretrained=False)
    return {k: v.contiguous() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "swin_tiny.safetensors"
    safetensors_torch.save_file(_tiny_state(), str(path))
    return path


def _ext(checkpoint, **options):
    return build_extractor("swin", {"backend": "timm_image", "modality": "visual", "model": TINY,
                                    "checkpoint": str(checkpoint), **options}, threads=2)


@pytest.fixture(scope="module")
def ext(ckpt):
    return _ext(ckpt, batch_size=5)  # 12 frames in batches of 5 (the last one short)


@pytest.fixture(scope="module")
def emb(ext, video):
    return ext.embed(video)


def test_rows_in_order_float32(ext, emb, video):
    assert ext.dim == 768 and emb.shape == (ROWS, 768) and emb.dtype == np.float32
    assert np.isfinite(emb).all()
    # every frame differs (the square moves): so do the rows
    dists = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
    assert (dists[~np.eye(ROWS, dtype=bool)] > 1e-3).all()
    # a row is the embedding of that row's frame alone, whatever batch it was in
    for i in (0, 4, 5, ROWS - 1):
        np.testing.assert_allclose(ext.embed_frames(np.asarray(video.frames[i : i + 1]))[0],
                                   emb[i], rtol=1e-4, atol=1e-4)
    reordered = ext.embed_frames(np.asarray(video.frames)[::-1].copy())
    np.testing.assert_allclose(reordered[::-1], emb, rtol=1e-4, atol=1e-4)
    assert ext.embed_frames(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0, 768)


def test_matches_timm_own_file_loading(ckpt, emb, video):
    """The weights load as timm's own ``pretrained_cfg_overlay=dict(file=...)`` loads them, and
    the input is the frame at [0, 1] normalised with the model's mean/std."""
    ref = timm.create_model(TINY, pretrained=True, num_classes=0,
                            pretrained_cfg_overlay=dict(file=str(ckpt))).eval()
    cfg = timm.data.resolve_data_config(model=ref)
    x = torch.from_numpy(np.array(video.frames[:3])).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor(cfg["mean"]).view(1, 3, 1, 1)) / torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    with torch.inference_mode():
        want = ref(x).numpy()
    np.testing.assert_allclose(emb[:3], want, rtol=1e-4, atol=1e-4)


def test_version_follows_the_weights(ext, ckpt, tmp_path):
    v = ext.version
    assert TINY in v and "input=224" in v and "checkpoint_sha256=" in v
    other = tmp_path / "other.safetensors"
    safetensors_torch.save_file(_tiny_state(seed=1), str(other))
    assert _ext(other).version != v
    assert _ext(ckpt).version == v  # deterministic


def test_input_size_resizes_frames(ckpt, video):
    ext = _ext(ckpt, input_size=256)
    x = ext.preprocess(np.asarray(video.frames[:2]))
    assert x.shape == (2, 3, 256, 256) and "input=256" in ext.version
    assert ext.embed_frames(np.asarray(video.frames[:2])).shape == (2, 768)


def test_rebuilt_from_recorded_options(ext, emb, video):
    """eevflow.new_videos rebuilds an extractor from the options its shards recorded."""
    meta = ext.metadata()
    rebuilt = build_extractor("swin", json.loads(meta["options"]))
    assert rebuilt.version == meta["version"] and meta["dim"] == "768"
    np.testing.assert_allclose(rebuilt.embed_frames(np.asarray(video.frames[:2])), emb[:2],
                               rtol=1e-5, atol=1e-5)


def test_missing_file_names_the_path(tmp_path, video):
    path = tmp_path / "nowhere" / "swin_l.safetensors"
    ext = _ext(path)  # building loads nothing; first use names the option and the file
    match = r"extractors\.swin\.checkpoint.*not found: .*nowhere/swin_l\.safetensors"
    with pytest.raises(CheckpointError, match=match):
        ext.embed(video)
    with pytest.raises(CheckpointError, match=match):
        ext.version


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_damaged_file_is_a_clear_error(ckpt, tmp_path, suffix, video):
    data = ckpt.read_bytes()
    bad = tmp_path / f"truncated{suffix}"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match=rf"cannot read checkpoint .*truncated\{suffix}"):
        _ext(bad).embed(video)


def test_wrong_architecture_lists_keys(tmp_path, video):
    state = _tiny_state()
    del state["layers.2.blocks.3.attn.qkv.weight"]
    state["extra.weight"] = torch.zeros(3)
    state["norm.bias"] = torch.zeros(5)
    path = tmp_path / "wrong.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as exc:
        _ext(path).embed(video)
    msg = str(exc.value)
    assert "wrong.pth" in msg and "does not fit the architecture" in msg
    assert "missing keys 1: layers.2.blocks.3.attn.qkv.weight" in msg
    assert "unexpected keys 1: extra.weight" in msg and "shape mismatches 1: norm.bias" in msg
    # a whole other model's weights (a training checkpoint: {"state_dict": ...})
    torch.save({"state_dict": timm.create_model("resnet10t", pretrained=False).state_dict()},
               tmp_path / "resnet.pth")
    with pytest.raises(CheckpointError, match=r"resnet\.pth does not fit.*missing keys \d+"):
        _ext(tmp_path / "resnet.pth").embed(video)


def test_options_and_schema(tmp_path, ckpt):
    from eevflow.config import ConfigError, validate_config

    assert extractor_dim({"backend": "timm_image", "checkpoint": "x.safetensors"}) == 1536
    assert parse_extractor("s", {"backend": "timm_image", "checkpoint": "x"}).model == \
        "swin_large_patch4_window7_224.ms_in22k"
    with pytest.raises(OptionError, match=r"extractors\.s\.dim: required for model 'resnet18'"):
        parse_extractor("s", {"backend": "timm_image", "checkpoint": "x", "model": "resnet18"})
    assert extractor_dim({"backend": "timm_image", "checkpoint": "x", "model": "resnet18",
                          "dim": 512}) == 512
    with pytest.raises(OptionError, match=r"dim: 1000 does not match"):
        _ext(ckpt, dim=1000)
    with pytest.raises(ValueError, match="'no_such_net' is not a timm model"):
        _ext(ckpt, model="no_such_net", dim=8)

    import yaml

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    cfg["extractors"]["swin_l"] = {"backend": "timm_image", "modality": "visual",
                                   "checkpoint": "/models/swin_l.safetensors"}
    out = validate_config(cfg, repo / "schemas" / "config.schema.yaml")
    assert out["extractors"]["swin_l"]["batch_size"] == 8
    del cfg["extractors"]["swin_l"]["checkpoint"]
    with pytest.raises(ConfigError, match=r"extractors.swin_l.*checkpoint"):
        validate_config(cfg, repo / "schemas" / "config.schema.yaml")
