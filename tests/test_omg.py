"""The OMG-Emotion family (eevflow/models/omg.py): VNet, ANet and the joint model per label row,
the segment sampling of a row's snippet, that it learns a planted signal and not shuffled labels,
two-stage training (init_from, freeze_branches) and its config checks and workflow dependency."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from eevflow.config import ConfigError, validate_config
from eevflow.models import build_model, model_config
from eevflow.models.omg import init_branches, load_branches, segment_indices, stats_check
from eevflow.sequences import VideoSeq
from eevflow.training import TrainConfig, Trainer
from tests.planted import assert_checkpoint_round_trip, slow_signal_videos

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCHEMA = REPO / "schemas" / "config.schema.yaml"
VIS, AUD = ["effnet", 8, "visual"], ["logmel", 4, "audio"]
TINY = {"lstm_hidden": 6, "feature_dim": 5, "fc_hidden": 7, "n_visual": 4, "n_audio": 2,
        "window_s": 2.0, "dropout": 0.1}


def _cfg(streams, n_targets=5, target_range="default", **opts):
    dim = sum(d for _, d, _ in streams)
    return model_config("omg", {"type": "omg", **TINY, **opts}, dim, n_targets, streams=streams,
                        target_range=target_range)


def _seconds(T, hz=6.0):
    return torch.from_numpy((np.arange(T) * 1e6 / hz).round() / 1e6).float()


@pytest.mark.parametrize("streams, branches", [([VIS], ("visual",)), ([AUD], ("audio",)),
                                               ([AUD, VIS], ("visual", "audio"))])
@pytest.mark.parametrize("target_range, lo, hi", [([-1.0, 1.0], -1, 1), ([0.0, 1.0], 0, 1)])
def test_shapes_and_range_of_each_branch_set(streams, branches, target_range, lo, hi):
    cfg = _cfg(streams, target_range=target_range)
    assert cfg.branches == branches
    torch.manual_seed(0)
    m = build_model(cfg)
    assert tuple(m.branches) == branches and m.head.in_features == 5 * len(branches)
    for mode in (True, False):
        m.train(mode)
        for T in (1, 2, 7, 300):
            y = m(10 * torch.randn(1, T, cfg.input_dim), _seconds(T)[None])
            assert y.shape == (1, T, 5)
            assert torch.all((y > lo) & (y < hi))


def test_the_branches_read_their_own_streams_and_run_in_chunks(monkeypatch):
    cfg = _cfg([AUD, VIS])  # audio block first: columns 0-3 are ANet's, 4-11 VNet's
    assert cfg.columns("audio") == [0, 1, 2, 3] and cfg.columns("visual") == list(range(4, 12))
    torch.manual_seed(0)
    m = build_model(cfg).eval()
    assert m.branches["visual"].lstm.input_size == 8 and m.branches["audio"].fc1.in_features == 4
    x, s = torch.randn(1, 50, 12), _seconds(50)[None]
    full = m(x, s)
    x2 = x.clone()
    x2[0, :, :4] = torch.randn(50, 4)  # other audio: other outputs; the shapes hold
    assert not torch.allclose(m(x2, s), full)
    monkeypatch.setattr(type(cfg), "CHUNK_ROWS", 7)  # 8 chunks give the same rows
    assert torch.allclose(m(x, s), full, atol=1e-6)
    m.train()
    y = m(x, s)
    y.sum().backward()  # checkpointed chunks: gradients reach every branch
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_segment_sampling_one_row_per_segment_inside_the_window_clipped_at_the_ends():
    T, n, w = 60, 4, 2.1  # 6 Hz: a row's window holds the 6 rows either side of it
    s = _seconds(T)
    lo = torch.clamp(torch.arange(T) - 6, min=0)
    hi = torch.clamp(torch.arange(T) + 7, max=T)  # exclusive
    ev = segment_indices(s, w, n, random=False)
    assert ev.shape == (T, n) and torch.equal(ev, segment_indices(s, w, n, random=False))
    assert ev[30].tolist() == [25, 28, 31, 35]  # rows 24..36: 24-26, 27-29, 30-32, 33-36
    assert ev[0].tolist() == [0, 2, 4, 6]  # clipped at the start: rows 0..6 (0, 1-2, 3-4, 5-6)
    assert ev[-1].tolist() == [53, 55, 57, 59]  # and at the end: rows 53..59
    torch.manual_seed(0)
    draws = torch.stack([segment_indices(s, w, n, random=True) for _ in range(50)])
    assert not torch.equal(draws[0], draws[1])  # random in training
    count = (hi - lo)[:, None].double()
    seg_lo = lo[:, None] + torch.floor(count * torch.arange(n) / n).long()
    seg_hi = lo[:, None] + torch.floor(count * (torch.arange(n) + 1) / n).long()  # exclusive
    assert torch.all((draws >= seg_lo) & (draws < seg_hi))  # one index in each segment
    assert torch.all((draws >= lo[:, None]) & (draws < hi[:, None]))
    assert len(torch.unique(draws[:, 30, 0])) > 1  # it moves within its segment
    # gaps (undetected rows left out): the window is in seconds, short snippets repeat rows
    gap = torch.tensor([0.0, 0.2, 5.0, 5.1])
    assert segment_indices(gap, 2.0, 3, random=False).tolist() == [[0, 0, 1], [0, 0, 1],
                                                                   [2, 2, 3], [2, 2, 3]]
    assert segment_indices(s[:1], w, 16, random=True).tolist() == [[0] * 16]


_videos = slow_signal_videos


def _columns(videos, cols):
    return [VideoSeq(v.video_id, v.timestamps_us, np.ascontiguousarray(v.features[:, cols]),
                     v.labels, v.detected) for v in videos]


def _trainer(streams, epochs=12, model=None, **training):
    cfg = _cfg(streams, **(model or {}))
    tc = TrainConfig(**{"epochs": epochs, "optimizer": "adam", "lr": 3e-3, "grad_accum": 2,
                        **training})
    return Trainer(cfg, tc, threads=1)


def test_learns_a_planted_signal_and_not_shuffled_labels_and_round_trips(tmp_path):
    wide = {"lstm_hidden": 16, "feature_dim": 16, "fc_hidden": 16, "dropout": 0.0}
    trainer = _trainer([VIS, AUD], model=wide, lr=1e-2)
    result = trainer.fit(_videos(10, 0), _videos(4, 1))
    assert result["best"]["val_m_rho"] > 0.5, result["best"]  # 0.87; seeds 1, 2: 0.85, 0.89
    control = _trainer([VIS, AUD], model=wide, lr=1e-2, shuffle_labels=True).fit(
        _videos(10, 0), _videos(4, 1))
    assert abs(control["history"][-1]["val_m_rho"]) < 0.2, control["history"][-1]
    assert_checkpoint_round_trip(trainer, tmp_path, _videos(2, 5))


@pytest.fixture(scope="module")
def branches(tmp_path_factory):
    """A visual-only and an audio-only model, trained and saved: branch -> (path, checkpoint)."""
    folder, out = tmp_path_factory.mktemp("branches"), {}
    train, val = _videos(4, 0, T=120), _videos(2, 1, T=120)
    for branch, streams, cols in (("visual", [VIS], slice(0, 8)), ("audio", [AUD], slice(8, 12))):
        tr = _trainer(streams, epochs=2)
        tr.fit(_columns(train, cols), _columns(val, cols))
        ckpt = tr.checkpoint(variant=f"omg_{branch}", n_train_videos=len(train))
        torch.save(ckpt, folder / f"{branch}.pt")
        out[branch] = (str(folder / f"{branch}.pt"), ckpt)
    return out


def _branch_state(model, branch):
    prefix = f"branches.{branch}."
    return {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}


@pytest.mark.parametrize("freeze", [False, True])
def test_two_stage_training_starts_from_the_branches_checkpoints(branches, freeze):
    init = {"init_from": {"visual": "omg_visual", "audio": "omg_audio"}, "freeze_branches": freeze}
    trainer = _trainer([VIS, AUD], epochs=2, model=init)
    fresh_head = copy.deepcopy(trainer.model.head.state_dict())
    ckpts, report = init_branches(trainer.model, {b: p for b, (p, _) in branches.items()}, 4)
    for b, (_, ckpt) in branches.items():
        got = _branch_state(trainer.model, b)
        assert got and report[b]["tensors"] == sorted(got) and report[b]["frozen"] == freeze
        assert "branches.visual.lstm.weight_ih_l0" in report["visual"]["tensors"]
        assert all(torch.equal(v, ckpt["model_state"][k]) for k, v in got.items())
    # the fused layer is new: the joint's own initialisation, of another shape than the branches'
    assert trainer.model.head.in_features == 2 * TINY["feature_dim"]
    assert branches["visual"][1]["model_state"]["head.weight"].shape[1] == TINY["feature_dim"]
    assert all(torch.equal(v, fresh_head[k]) for k, v in trainer.model.head.state_dict().items())
    trainer.fit(_videos(4, 0, T=120), _videos(2, 1, T=120))
    for b, (_, ckpt) in branches.items():
        same = [torch.equal(v, ckpt["model_state"][k])
                for k, v in _branch_state(trainer.model, b).items()]
        assert all(same) if freeze else not all(same)
    assert not torch.equal(trainer.model.head.weight, fresh_head["weight"])
    # the same training videos: the joint's standardisation of each branch's columns is the
    # branch's own (what its weights were trained on)
    stats = stats_check(trainer.model_cfg, trainer.mean, trainer.std, ckpts)
    assert all(s["same"] and s["max_abs_mean_diff"] < 1e-6 for s in stats.values()), stats
    other = _trainer([VIS, AUD], epochs=1)
    other.fit(_videos(3, 7, T=120), [])
    assert not any(s["same"] for s in stats_check(other.model_cfg, other.mean, other.std,
                                                  ckpts).values())


def test_a_checkpoint_that_does_not_fit_its_branch_is_refused(branches):
    joint = build_model(_cfg([VIS, AUD], init_from={"visual": "omg_visual"}))
    with pytest.raises(ValueError, match=r"has the branches \('audio',\), not visual alone"):
        load_branches(joint, {"visual": branches["audio"][1]})
    with pytest.raises(ValueError, match=r"streams \[\['effnet', 8\]\] differ"):
        load_branches(build_model(_cfg([["other", 8, "visual"], AUD])),
                      {"visual": branches["visual"][1]})
    with pytest.raises(ValueError, match="weights do not fit"):
        load_branches(build_model(_cfg([VIS, AUD], lstm_hidden=9)),
                      {"visual": branches["visual"][1]})
    with pytest.raises(ValueError, match=r"init_from names \['visual'\], the job got"):
        init_branches(joint, {})


# ---------------------------------------------------------------------------- config and workflow

OMG_VARIANTS = {
    "omg_visual": {"features": ["effnet_lite0"], "model": {"type": "omg"}},
    "omg_audio": {"features": ["logmel64"], "model": {"type": "omg"}},
    "omg_joint": {"features": ["effnet_lite0", "logmel64"],
                  "model": {"type": "omg", "freeze_branches": True,
                            "init_from": {"visual": "omg_visual", "audio": "omg_audio"}}},
}


def _config(**joint_init):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg.pop("paper_tables", None)  # they name the demo's variants
    cfg["variants"] = {**copy.deepcopy(OMG_VARIANTS), "tcn_av": {"features": ["logmel64"]}}
    cfg["ensembles"] = {"ens": {"members": {"omg_visual": 0.5, "omg_audio": 0.5}}}
    if joint_init:
        cfg["variants"]["omg_joint"]["model"]["init_from"] = joint_init
    return cfg


def _problems(cfg):
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg, SCHEMA)
    return str(exc.value)


def test_config_checks_name_the_key_and_the_reason():
    validate_config(_config(), SCHEMA)  # the two-stage config is valid
    where = "variants.omg_joint.model.init_from"
    assert (f"{where}.visual: unknown variant 'nope'; omg variants: ['omg_audio', 'omg_joint', "
            f"'omg_visual']") in _problems(_config(visual="nope"))
    assert f"{where}.visual: 'ens' is an ensemble" in _problems(_config(visual="ens"))
    assert f"{where}.audio: 'tcn_av' is a tcn variant, not omg" in _problems(
        _config(audio="tcn_av"))
    assert (f"{where}.visual: 'omg_audio' must have the visual branch alone, but its features "
            f"['logmel64'] are not all visual") in _problems(_config(visual="omg_audio"))
    cfg = _config()
    cfg["variants"]["omg_audio"]["model"]["fc_hidden"] = 64
    assert (f"{where}.audio: 'omg_audio' has fc_hidden 64, this variant 512 (the branch's "
            f"weights must fit)") in _problems(cfg)
    cfg = _config()
    cfg["variants"]["omg_audio"]["features"] = ["musicnn_mtt"]
    assert (f"{where}.audio: 'omg_audio' reads the audio features ['musicnn_mtt'], this variant "
            f"['logmel64']") in _problems(cfg)
    cfg = _config()
    cfg["variants"]["omg_visual"]["model"]["init_from"] = {"audio": "omg_audio"}
    assert "variants.omg_visual.model.init_from.audio: this variant has no audio features" \
        in _problems(cfg)
    cfg = _config()  # a cycle: each audio model starting from the other
    cfg["variants"]["omg_audio"]["model"]["init_from"] = {"audio": "omg_audio2"}
    cfg["variants"]["omg_audio2"] = {"features": ["logmel64"],
                                     "model": {"type": "omg", "init_from": {"audio": "omg_audio"}}}
    msg = _problems(cfg)
    assert "variants.omg_audio.model.init_from: leads back to 'omg_audio'" in msg
    assert "variants.omg_audio2.model.init_from: leads back to 'omg_audio2'" in msg
    cfg = _config()
    cfg["variants"]["omg_joint"]["model"]["init_from"] = {"text": "omg_audio"}
    assert ("variants.omg_joint.model.init_from: unknown branch(es) ['text']; allowed keys: "
            "['audio', 'visual']") in _problems(cfg)
    cfg = _config()
    cfg["variants"]["omg_visual"]["model"]["freeze_branches"] = True
    assert "variants.omg_visual.model.freeze_branches: needs init_from" in _problems(cfg)


def _dry_run(tmp_path, cfg):
    cfg["results_dir"] = str(tmp_path / "results")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        [str(BIN / "snakemake"), str(tmp_path / "results" / "models" / "omg_joint" / "model.pt"),
         "-n", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(tmp_path / "config.yaml")],
        capture_output=True, text=True, env=env, timeout=300)
    return proc, proc.stdout + proc.stderr


@pytest.mark.integration
def test_the_joint_variant_trains_after_its_branches_and_a_missing_one_is_refused(tmp_path):
    proc, out = _dry_run(tmp_path, _config())
    assert proc.returncode == 0, out[-4000:]
    jobs = {}
    for block in out.split("rule train:")[1:]:
        lines = dict(line.strip().split(": ", 1) for line in block.splitlines()[1:4]
                     if line.startswith("    ") and ": " in line)
        jobs[lines["output"].split(",")[0]] = lines["input"].split(", ")
    models = {v: str(tmp_path / "results" / "models" / v / "model.pt") for v in OMG_VARIANTS}
    assert set(jobs) == set(models.values())  # the joint's target pulls in both branches
    assert {models["omg_visual"], models["omg_audio"]} <= set(jobs[models["omg_joint"]])
    assert not {models["omg_visual"], models["omg_joint"]} & set(jobs[models["omg_audio"]])

    proc, out = _dry_run(tmp_path, _config(visual="omg_vis"))
    assert proc.returncode != 0
    assert "invalid configuration" in out and "Job stats" not in out
    assert "variants.omg_joint.model.init_from.visual: unknown variant 'omg_vis'" in out
    assert not (tmp_path / "results").exists()


def test_the_train_job_loads_the_branches_and_compares_the_statistics(tmp_path, caplog):
    """train_variant (the train script's code) with init_models: the joint's checkpoint keeps
    the frozen branches' weights, and its history says what was loaded and that the statistics
    differ here (the joint's videos need both extractors: fewer than each branch's)."""
    from test_streaming import TARGETS, _split

    from eevflow.train_job import train_variant

    tr_path, _, tr_shards = _split(tmp_path, "train", 10, 7)
    va_path, _, va_shards = _split(tmp_path, "val", 7, 8)

    def train(name, feats, **model):
        settings = {"features": feats, "model": {"type": "omg", **TINY, **model},
                    "training": {"epochs": 2, "optimizer": "adam", "lr": 0.01}}
        train_variant(
            variant=name, labels={"train": tr_path, "val": va_path},
            shards={"train": tr_shards, "val": va_shards}, settings=settings, targets=TARGETS,
            scoring={"constant_policy": "minus_one", "ignore_undetected": True},
            past_end={"policy": "keep", "tolerance_s": 0.5}, past_end_manifests=[],
            weights_holdout_fraction=0.0, model_path=str(tmp_path / f"{name}.pt"),
            history_path=str(tmp_path / f"{name}.json"),
            init_models={b: str(tmp_path / f"{v}.pt") for b, v in model.get("init_from",
                                                                            {}).items()})
        return torch.load(tmp_path / f"{name}.pt", weights_only=True)

    parts = {"visual": train("omg_x", ["x"]), "audio": train("omg_y", ["y"])}
    caplog.set_level("INFO")
    joint = train("omg_xy", ["x", "y"], init_from={"visual": "omg_x", "audio": "omg_y"},
                  freeze_branches=True)
    for b, ckpt in parts.items():
        mine = {k: v for k, v in joint["model_state"].items() if k.startswith(f"branches.{b}.")}
        assert mine and all(torch.equal(v, ckpt["model_state"][k]) for k, v in mine.items())
        rec = joint["init_from"][b]
        assert rec["tensors"] == sorted(mine) and rec["frozen"] and not rec["feature_stats"]["same"]
    assert "init_from visual: loaded 10 tensors from omg_x" in caplog.text  # the LSTM's, FC's
    assert "init_from audio: loaded 4 tensors from omg_y" in caplog.text  # its two FC layers'
    assert "init_from audio: feature statistics differ from omg_y's" in caplog.text
