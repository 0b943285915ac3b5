"""pretrained: PATH variants: a checkpoint's checks before it is imported, the honest history, and
the winner's released layout (github.com/th2l/EvokedExpr-TPF) mapped onto eevflow's tcn."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eevflow.config import ConfigError, validate_config
from eevflow.inference import Predictor
from eevflow.models import build_model, model_config
from eevflow.models.options import TCNOptions, TrainingOptions
from eevflow.pretrained import PretrainedError, import_checkpoint
from eevflow.schema import SCHEMA
from eevflow.sequences import VideoSeq

TARGETS = ["amusement", "awe", "pain"]
DIM = 5


def _settings(features=("feat",), family="tcn", **model):
    return {"features": list(features),
            "model": {**TCNOptions.defaults(), "channels": 8, "head_hidden": 4, **model,
                      "type": family},
            "training": TrainingOptions.defaults()}


def _eevflow_checkpoint(settings, dim=DIM, targets=TARGETS):
    torch.manual_seed(0)
    cfg = model_config("tcn", settings["model"], dim, len(targets))
    model = build_model(cfg)
    return {"family": "tcn", "model_state": model.state_dict(), "model_config": cfg.to_dict(),
            "train_config": {"target_scale": 1.0}, "feature_mean": torch.full((dim,), 0.5),
            "feature_std": torch.full((dim,), 2.0), "settings": settings,
            "targets": list(targets), "target_range": [0.0, 1.0], "variant": "orig",
            "best": {"epoch": 3, "val_m_rho": 0.25}}


def _import(tmp_path, ckpt, settings=None, extractors=None, targets=TARGETS):
    src = tmp_path / "src.pt"
    if ckpt is not None:
        torch.save(ckpt, src)
    return import_checkpoint(
        source=str(src), variant="imp", settings=settings or _settings(),
        extractors=extractors or {"feat": [DIM, "audio"]}, targets=list(targets),
        target_range=[0.0, 1.0], model_path=tmp_path / "out" / "model.pt",
        history_path=tmp_path / "out" / "training.json")


def _video(dim=DIM, rows=40):
    rng = np.random.default_rng(0)
    return VideoSeq("v", (np.arange(rows) * 1e6 / 6).astype(np.int64),
                    rng.normal(size=(rows, dim)).astype(np.float32))


def _predict(path, video):
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return Predictor.from_checkpoint(ckpt, device="cpu").predict([video])[0]


def test_an_eevflow_checkpoint_is_imported_with_an_honest_history(tmp_path):
    ckpt = _eevflow_checkpoint(_settings())
    history = _import(tmp_path, ckpt)
    src = tmp_path / "src.pt"
    out = tmp_path / "out" / "model.pt"
    video = _video()
    assert np.array_equal(_predict(out, video), _predict(src, video))
    saved = json.loads((tmp_path / "out" / "training.json").read_text())
    assert saved == history and saved["imported"] is True and saved["epochs"] == []
    assert saved["source"] == str(src) and len(saved["sha256"]) == 64
    assert saved["layout"] == "eevflow" and saved["source_best"] == {"epoch": 3, "val_m_rho": 0.25}
    assert torch.load(out, weights_only=True)["imported_from"]["sha256"] == saved["sha256"]


@pytest.mark.parametrize("change, match", [
    (lambda c, s: c.update(family="bigru"), "a bigru model; the variant's model.type is 'tcn'"),
    (lambda c, s: s.update(features=["other"]),
     r"trained on the features \['feat'\]; the variant reads \['other'\]"),
    (lambda c, s: c.update(targets=["a", "b", "c"]), "its targets .* are not the config's"),
    (lambda c, s: c["model_state"].pop("head.0.weight"), "weights do not load.*head.0.weight"),
    (lambda c, s: c.pop("feature_std"), "not an eevflow checkpoint: no feature_std"),
    (lambda c, s: c.update(target_range=[-1.0, 1.0]), "target_range"),
])
def test_checkpoints_that_do_not_fit_are_refused(tmp_path, change, match):
    settings = _settings()
    ckpt = _eevflow_checkpoint(settings)
    variant = json.loads(json.dumps(settings))
    change(ckpt, variant)
    extractors = {f: [DIM, "audio"] for f in variant["features"]}
    with pytest.raises(PretrainedError, match=match):
        _import(tmp_path, ckpt, settings=variant, extractors=extractors)
    assert not (tmp_path / "out" / "model.pt").exists()


def test_feature_dims_must_match_the_extractors(tmp_path):
    with pytest.raises(PretrainedError, match=r"reads 5 feature values a row; .* give 7"):
        _import(tmp_path, _eevflow_checkpoint(_settings()), extractors={"feat": [7, "audio"]})


class _NotWeights:
    pass


def test_unloadable_files_are_refused(tmp_path):
    (tmp_path / "src.pt").write_bytes(b"garbage")
    with pytest.raises(PretrainedError, match="src.pt: cannot load with torch.load"):
        _import(tmp_path, None)
    torch.save({"x": _NotWeights()}, tmp_path / "src.pt")
    with pytest.raises(PretrainedError, match="weights_only=True"):
        _import(tmp_path, None)


# ---- the winner's layout: key names and shapes as their Lightning EEVModel saves them


def _tpf_state(feat="audio", dim=DIM, channels=6, levels=2, stacks=2, kernel=3, hidden=4,
               n_out=3, position=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g) * 0.3  # noqa: E731
    state, n_in = {}, dim + int(position)
    for s in range(stacks):
        for i in range(levels):
            base = f"temporal_{feat}." + (f"{s}." if stacks > 1 else "") + f"network.{i}."
            for conv, net, c_in in (("conv1", 0, n_in), ("conv2", 4, channels)):
                params = {"weight_g": r(channels, 1, 1).abs() + 0.5,
                          "weight_v": r(channels, c_in, kernel), "bias": r(channels)}
                for p, v in params.items():  # registered twice: as convN and inside net
                    state[f"{base}{conv}.{p}"] = state[f"{base}net.{net}.{p}"] = v
            if n_in != channels:
                state[f"{base}downsample.weight"] = r(channels, n_in, 1)
                state[f"{base}downsample.bias"] = r(channels)
            n_in = channels
    state[f"regression_{feat}.0.weight"] = r(hidden, channels)
    state[f"regression_{feat}.2.weight"] = r(n_out, hidden)
    return state


def _tpf_reference(state, feat, x, seconds, levels, stacks, position=True):
    """Their forward pass written out from the state dict: weight norm, causal dilated
    convolutions (pad, chomp), residual, the regression head, outputs / 10."""
    h = torch.cat([x, seconds[:, None]], -1) if position else x
    h = h.T[None]
    for s in range(stacks):
        for i in range(levels):
            base = f"temporal_{feat}." + (f"{s}." if stacks > 1 else "") + f"network.{i}."
            d, inp, out = 2 ** i, h, h
            for conv in ("conv1", "conv2"):
                v, gw = state[f"{base}{conv}.weight_v"], state[f"{base}{conv}.weight_g"]
                w = gw * v / v.flatten(1).norm(dim=1)[:, None, None]
                pad = (w.shape[2] - 1) * d
                out = F.relu(F.conv1d(out, w, state[f"{base}{conv}.bias"], padding=pad,
                                      dilation=d)[..., :-pad])
            res = inp if f"{base}downsample.weight" not in state else F.conv1d(
                inp, state[f"{base}downsample.weight"], state[f"{base}downsample.bias"])
            h = F.relu(out + res)
    h = h[0].T
    y = F.relu(h @ state[f"regression_{feat}.0.weight"].T) @ state[f"regression_{feat}.2.weight"].T
    return (y / 10.0).numpy()


@pytest.mark.parametrize("stacks, position", [(1, True), (2, True), (2, False)])
def test_the_winners_single_feature_tcn_maps_onto_eevflows(tmp_path, stacks, position):
    state = _tpf_state(stacks=stacks, position=position)
    lightning = {"epoch": 7, "global_step": 700, "pytorch-lightning_version": "1.3.8",
                 "state_dict": state}
    history = _import(tmp_path, lightning, settings=_settings(features=["trill"]),
                      extractors={"trill": [DIM, "audio"]})
    video = _video()
    ref = _tpf_reference(state, "audio", torch.from_numpy(video.features),
                         torch.from_numpy(video.seconds), 2, stacks, position)
    got = _predict(tmp_path / "out" / "model.pt", video)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    ckpt = torch.load(tmp_path / "out" / "model.pt", weights_only=True)
    mc = ckpt["model_config"]
    assert (mc["channels"], mc["dilations"], mc["stacks"], mc["weight_norm"], mc["head_hidden"]) \
        == (6, [1, 2], stacks, True, 4)
    assert mc["positional_encoding"] == ("timestamp" if position else "none")
    assert float(ckpt["feature_std"].sum()) == DIM and float(ckpt["feature_mean"].abs().sum()) == 0
    assert history["layout"] == "tpf" and "assumed none" in history["feature_standardisation"]
    # a bare state dict works the same
    _import(tmp_path, state, settings=_settings(features=["trill"]),
            extractors={"trill": [DIM, "audio"]})
    np.testing.assert_allclose(_predict(tmp_path / "out" / "model.pt", video), ref, rtol=1e-4,
                               atol=1e-5)


def test_the_winners_fused_checkpoints_and_wrong_dims_are_refused(tmp_path):
    state = {**_tpf_state("audio"), **_tpf_state("effb0", seed=1),
             "fusion_layer.0.weight": torch.ones(1, 2)}
    with pytest.raises(PretrainedError, match=r"2 features \['audio', 'effb0'\].*ensemble"):
        _import(tmp_path, {"state_dict": state})
    with pytest.raises(PretrainedError, match="reads 6 channels; extractor 'feat' gives 9"):
        _import(tmp_path, {"state_dict": _tpf_state()}, extractors={"feat": [9, "audio"]})


def test_config_checks_the_file_and_rejects_sweeps(tmp_path, monkeypatch):
    import yaml

    cfg = yaml.safe_load(open(SCHEMA.parents[1] / "config.yaml"))
    (tmp_path / "m.pt").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    cfg["variants"]["imp"] = {"features": ["logmel64"], "pretrained": "m.pt"}
    assert validate_config(cfg, SCHEMA)["variants"]["imp"]["pretrained"] == str(tmp_path / "m.pt")
    cfg["variants"]["imp"] = {"features": ["logmel64"], "pretrained": "none.pt",
                              "sweep": {"grid": {"model.dropout": [0.0, 0.1]}}}
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA)
    assert "variants.imp.pretrained: no such checkpoint file: none.pt" in str(err.value)
    assert "remove its sweep" in str(err.value)
