"""Targets as a config schema (``targets`` + ``target_range``): the labels reader, the config
checks, the submission, the output activation and the arousal/valence demo honour the range."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from eevflow import demo
from eevflow.config import ConfigError, validate_config
from eevflow.demo import DemoSpec
from eevflow.demo.spec import AV_SIGNAL, AV_TARGETS
from eevflow.labels import LabelFileError, read_labels
from eevflow.models import build_model, model_config
from eevflow.submission import FillReport, SubmissionError, write_submission
from eevflow.targets import Targets, activation_name, bounded, parse_range, to_unit

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "config.schema.yaml"
AV = ["arousal", "valence"]


def _csv(tmp_path, rows, names=AV):
    path = tmp_path / "labels.csv"
    lines = [",".join(["YouTube ID", "Timestamp (milliseconds)", *names])]
    lines += [",".join(str(v) for v in r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ranges_and_activations():
    assert parse_range([0, 1]) == (0.0, 1.0) and parse_range(None) is None
    for bad in ([1, 0], [0.5, 0.5], "x", [0, 1, 2]):
        with pytest.raises(ValueError, match="target_range"):
            parse_range(bad)
    assert [activation_name(r) for r in ([0, 1], [-1, 1], [0, 5], None)] == [
        "sigmoid", "tanh", "scaled_sigmoid", "none"]
    x = torch.linspace(-6, 6, 13)
    torch.testing.assert_close(bounded(x, [0, 1]), torch.sigmoid(x))
    torch.testing.assert_close(bounded(x, [-1, 1]), torch.tanh(x))
    y = bounded(x, [2, 5])
    assert float(y.min()) > 2 and float(y.max()) < 5
    assert bounded(x, None) is x
    np.testing.assert_allclose(to_unit(np.array([-1.0, 0.0, 1.0]), [-1, 1]), [0, 0.5, 1])
    with pytest.raises(ValueError, match="bounded"):
        to_unit(np.zeros(2), None)


def test_labels_in_minus_one_to_one_keep_zero_rows_as_values(tmp_path):
    rows = [["vid", 0, -0.5, 0.25], ["vid", 166667, 0.0, 0.0], ["vid", 333333, 1.0, -1.0]]
    df = read_labels(_csv(tmp_path, rows), AV, target_range=[-1, 1])
    np.testing.assert_allclose(df["arousal"], [-0.5, 0.0, 1.0])
    assert df["detected"].all()  # (0, 0) is neutral, not "no face detected"
    with pytest.raises(LabelFileError, match=r"line 2: score outside \[0, 1\]"):
        read_labels(_csv(tmp_path, rows), AV)  # the EEV default range
    with pytest.raises(LabelFileError, match=r"line 3: score outside \[-1, 1\]"):
        read_labels(_csv(tmp_path, [rows[0], ["vid", 1, 1.5, 0]]), AV, target_range=[-1, 1])
    free = read_labels(_csv(tmp_path, [rows[0], ["vid", 1, 7.5, -3]]), AV, target_range=None)
    assert float(free["arousal"].max()) == 7.5
    eev = read_labels(_csv(tmp_path, [["v", 0, 0.2, 0.1], ["v", 1, 0, 0]]), AV)
    assert eev["detected"].tolist() == [True, False]


def _av_config():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"]["targets"] = "arousal_valence"
    cfg["targets"], cfg["target_range"] = list(AV), [-1, 1]
    return cfg


def test_config_ties_the_demo_targets_to_the_range_and_drops_the_undetected_rule():
    out = validate_config(_av_config(), SCHEMA)
    assert out["target_range"] == [-1, 1]
    assert out["scoring"]["ignore_undetected"] is False  # no "no face" rows outside [0, 1]
    eev = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()), SCHEMA)
    assert eev["target_range"] == [0.0, 1.0] and eev["scoring"]["ignore_undetected"] is True
    for mutate, message in (
        (lambda c: c.update(target_range=[0, 1]), r"target_range: the arousal_valence demo"),
        (lambda c: c.update(targets=["amusement"]), r"targets: the arousal_valence demo"),
        (lambda c: c.update(target_range=[1, -1]), r"low 1.0 must be below high -1.0"),
        (lambda c: c.update(target_range=[0]), r"target_range"),
    ):
        cfg = _av_config()
        mutate(cfg)
        with pytest.raises(ConfigError, match=message):
            validate_config(cfg, SCHEMA)
    cfg = copy.deepcopy(_av_config())
    cfg["demo"]["kind"] = "realmedia"
    with pytest.raises(ConfigError, match="only the synthetic demo has arousal_valence"):
        validate_config(cfg, SCHEMA)


def test_submission_is_clipped_to_the_range_and_checked(tmp_path):
    rows = pd.DataFrame({"video_id": ["v"] * 3, "timestamp_us": [0, 166667, 333333]})
    out = rows.assign(arousal=[-1.7, 0.2, 1.3], valence=[0.0, -0.4, 0.9])
    csv, rep = tmp_path / "s.csv", tmp_path / "s.json"
    write_submission(out, rows, AV, csv, FillReport(rows=3, predicted_rows=3), rep, [-1, 1])
    sub = pd.read_csv(csv)
    np.testing.assert_allclose(sub["arousal"], [-1.0, 0.2, 1.0])
    np.testing.assert_allclose(sub["valence"], [0.0, -0.4, 0.9])
    write_submission(out, rows, AV, csv, FillReport(rows=3, predicted_rows=3), rep, None)
    np.testing.assert_allclose(pd.read_csv(csv)["arousal"], [-1.7, 0.2, 1.3])  # unbounded
    from eevflow.submission import validate_submission

    with pytest.raises(SubmissionError, match=r"outside \[0, 1\]"):
        validate_submission(csv, rows, AV, [0, 1])


def test_bigru_output_follows_the_range():
    streams = [["v", 4, "visual"]]
    for rng, lo, hi in (([-1, 1], -1, 1), ([0, 1], 0, 1)):
        cfg = model_config("bigru", {"type": "bigru", "hidden_visual": 4}, 4, 2, streams=streams,
                           target_range=rng)
        assert cfg.target_range == [float(lo), float(hi)]
        torch.manual_seed(0)
        with torch.no_grad():
            y = build_model(cfg).eval()(5 * torch.randn(1, 40, 4), torch.arange(40.0)[None] / 6)
        assert float(y.min()) > lo and float(y.max()) < hi
        if lo < 0:
            assert float(y.min()) < 0  # tanh: both signs reachable
    assert Targets.from_config({"targets": AV, "target_range": [-1, 1]}).activation == "tanh"


def test_arousal_valence_demo_plants_its_signal(tmp_path):
    spec = DemoSpec(targets="arousal_valence")
    assert spec.target_names == AV_TARGETS == tuple(AV)
    v = demo.demo_video_ids("train", 1)[0]
    meta = demo.plan_video(v, spec, "train")
    ts, scores, oracle = demo.generate_labels_and_oracle(meta, spec)
    assert scores.shape == (meta["n_labels"], 2) and oracle.shape == scores.shape
    assert scores.min() >= -1 and scores.max() <= 1 and scores.min() < -0.3 and scores.max() > 0.3
    ind = demo.event_indicators(meta)
    for j, sig in enumerate(AV_SIGNAL):
        cause = np.asarray(sig["weights"]) @ ind[sig["modality"]]
        lagged = np.r_[np.zeros(sig["lag"]), cause[: len(cause) - sig["lag"]]]
        r = np.corrcoef(lagged, scores[:, j])[0, 1]
        assert r > 0.75
        other = AV_SIGNAL[1 - j]
        wrong = np.asarray(other["weights"]) @ ind[other["modality"]]
        other_lagged = np.r_[np.zeros(sig["lag"]), wrong[: len(wrong) - sig["lag"]]]
        assert abs(np.corrcoef(other_lagged, scores[:, j])[0, 1]) < r - 0.4  # not the other cause
    with pytest.raises(ValueError, match="demo targets"):
        DemoSpec(targets="valence_only")
    paths = {s: str(tmp_path / f"{s}.csv") for s in ("train", "val", "test")}
    small = DemoSpec(targets="arousal_valence", n_train=2, n_val=1, n_test=1, min_seconds=3,
                     max_seconds=4)
    demo.generate_demo(tmp_path / "videos", paths, str(tmp_path / "gt.csv"), small)
    head = (tmp_path / "train.csv").read_text().splitlines()[0]
    assert head == "YouTube ID,Timestamp (milliseconds),arousal,valence"
    df = read_labels(tmp_path / "gt.csv", AV, target_range=[-1, 1])
    assert df["detected"].all() and len(df) > 0
