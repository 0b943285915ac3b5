"""The arousal/valence demo (configs/demo_arousal_valence.yaml), made small, run by the real
workflow: targets in [-1, 1] end to end, the OMG-Emotion family's two-stage training, CCC."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from tests.test_workflow import REPO, run_workflow

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def av_run(tmp_path_factory):
    cfg = yaml.safe_load((REPO / "configs" / "demo_arousal_valence.yaml").read_text())
    cfg["demo"].update(n_train=8, n_val=3, n_test=3, min_seconds=16, max_seconds=20, seed=1)
    cfg["training_defaults"]["epochs"] = 20
    return run_workflow(tmp_path_factory.mktemp("av"), cfg)


def test_labels_predictions_and_submission_live_in_minus_one_to_one(av_run):
    workdir, _ = av_run
    res = workdir / "results_av"
    truth = pd.read_parquet(res / "labels" / "test_truth.parquet")
    assert truth["detected"].all()  # (0, 0) is a neutral value, not "no face"
    assert truth["arousal"].min() < -0.3 and truth["valence"].max() > 0.3
    pred = pd.read_parquet(res / "predictions" / "omg_joint" / "test.parquet")
    assert pred[["arousal", "valence"]].abs().max().max() < 1  # tanh
    assert (pred["arousal"] < 0).any() and (pred["valence"] < 0).any()
    sub = pd.read_csv(res / "submission" / "tcn_av.csv")
    assert list(sub.columns[2:]) == ["arousal", "valence"]
    assert sub[["arousal", "valence"]].abs().max().max() <= 1


def test_the_joint_model_starts_from_both_branches_and_learns_while_the_control_does_not(av_run):
    workdir, _ = av_run
    res = workdir / "results_av"
    joint = torch.load(res / "models" / "omg_joint" / "model.pt", weights_only=False)
    visual = torch.load(res / "models" / "omg_visual" / "model.pt", weights_only=False)
    assert joint["model_config"]["init_from"] == {"visual": "omg_visual", "audio": "omg_audio"}
    hist = json.loads((res / "models" / "omg_joint" / "training.json").read_text())
    assert set(hist["init_from"]) == {"visual", "audio"}
    assert joint["target_range"] == [-1.0, 1.0]
    assert any(k.startswith("branches.visual.") for k in visual["model_state"])
    scores = pd.read_csv(res / "scores" / "scores.csv")
    test = scores[scores["split"] == "test"].set_index("model")
    assert test.loc["omg_joint", "ccc"] >= 0.3, test[["m_rho", "ccc"]]
    assert test.loc["omg_shuffled", "ccc"] <= 0.05, test[["m_rho", "ccc"]]
    assert np.isfinite(test.loc["oracle", "ccc"]) and test.loc["oracle", "ccc"] > 0.8
    md = (res / "scores" / "scores.md").read_text()
    assert "### Peng et al. (OMG-Emotion) Tables I-III" in md
    assert "| ANet | MSE | `omg_audio` | 0.4439 |" in md
