"""Validation sweeps: points named by Paramspace from their values, every swept key stated, the
best validation point kept, bad points rejected before any job, and the DAG: one train job per
point, adding a point adds one."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from eevflow.config import ConfigError, expand_sweeps, validate_config, variant_settings
from eevflow.sweeps import select_point, sweep_markdown, sweep_points

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "config.schema.yaml"
BIN = Path(sys.executable).parent


@pytest.fixture
def cfg():
    c = yaml.safe_load((REPO / "config.yaml").read_text())
    c["variants"]["sw"] = {
        "features": ["logmel64"],
        "model": {"stacks": 2},
        "sweep": {"grid": {"model.dropout": [0.1, 0.3], "training.lr": [0.001, 0.003],
                           "model.kernel_size": [2, 3]},
                  "points": [{"training.epochs": 5}]},
    }
    return c


def test_points_are_the_grid_then_the_explicit_ones_each_stating_every_key(cfg):
    out = validate_config(cfg, SCHEMA)
    trainable, sweeps = expand_sweeps(out)
    points = sweeps["sw"]
    assert len(points) == 9 and "sw" not in trainable and set(points) <= set(trainable)
    first, last = list(points.items())[0], list(points.items())[-1]
    assert first == ("sw/model__dropout~0.1_training__lr~0.001_model__kernel_size~2"
                     "_training__epochs~30",
                     {"model.dropout": 0.1, "training.lr": 0.001, "model.kernel_size": 2,
                      "training.epochs": 30})  # the variant's own epochs (training_defaults)
    assert last[1] == {"model.dropout": 0.3, "training.lr": 0.001, "model.kernel_size": 3,
                       "training.epochs": 5}  # explicit point: the rest from the variant
    s = variant_settings(out, first[0], trainable)
    assert (s["model"]["dropout"], s["model"]["stacks"], s["training"]["lr"]) == (0.1, 2, 0.001)


def test_a_points_name_depends_only_on_its_values(cfg):
    out = validate_config(cfg, SCHEMA)
    before = expand_sweeps(out)[1]["sw"]
    more = copy.deepcopy(cfg)
    more["variants"]["sw"]["sweep"]["points"].insert(0, {"model.dropout": 0.0})
    after = expand_sweeps(validate_config(more, SCHEMA))[1]["sw"]
    assert set(before) < set(after) and len(after) == len(before) + 1
    dup = copy.deepcopy(cfg)
    dup["variants"]["sw"]["sweep"]["points"].append({"model.dropout": 0.1, "training.lr": 0.001,
                                                     "model.kernel_size": 2})
    assert len(expand_sweeps(validate_config(dup, SCHEMA))[1]["sw"]) == 9  # equal points once


def test_a_bad_point_is_rejected_with_its_path(cfg):
    cfg["variants"]["sw"]["sweep"]["grid"]["model.dropout"] = [0.1, 1.5]
    with pytest.raises(ConfigError, match=r"variants\.sw\.model__dropout~1\.5.*\.model\.dropout: "
                                          r"1\.5 is greater than the maximum of 1"):
        validate_config(cfg, SCHEMA)
    cfg["variants"]["sw"]["sweep"] = {"grid": {"model.dilations": [[1, 2]]}}
    with pytest.raises(ConfigError, match=r"variants\.sw\.sweep\.grid\.model\.dilations\.0"):
        validate_config(cfg, SCHEMA)  # values are scalars (they name the point's folder)
    cfg["variants"]["sw"]["sweep"] = {"grid": {"dropout": [0.1]}}
    with pytest.raises(ConfigError, match=r"variants\.sw\.sweep\.grid"):
        validate_config(cfg, SCHEMA)


def test_the_best_validation_point_is_kept():
    points = {"a": {"x": 1}, "b": {"x": 2}, "c": {"x": 3}}
    hist = [{"best": {"val_m_rho": 0.2}}, {"best": {"val_m_rho": float("nan")}},
            {"best": {"val_m_rho": 0.4}}]
    table = select_point(points, hist)
    assert table["chosen"] == "c" and table["chosen_values"] == {"x": 3}
    assert [r["val_m_rho"] for r in table["points"]][0] == 0.2
    tie = select_point({"a": {}, "b": {}}, [{"best": {"val_m_rho": 0.5}}] * 2)
    assert tie["chosen"] == "a"
    with pytest.raises(ValueError, match="no point of the sweep"):
        select_point({"a": {}}, [{"best": {"val_m_rho": float("nan")}}])
    md = "\n".join(sweep_markdown("sw", table))
    assert "| x | val M_rho | kept |" in md and "| 3 | 0.4000 | **yes** |" in md


def _planned(cfg: dict, tmp_path: Path) -> dict[str, int]:
    cfg = copy.deepcopy(cfg)
    cfg["results_dir"] = str(tmp_path / "results")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(BIN / "snakemake"), "-n", "--quiet", "rules", "--configfile",
                           str(path)], cwd=REPO, capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (proc.stdout + proc.stderr).split("Job stats:")[1].split("total")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_each_point_is_its_own_train_job_and_the_sweep_a_model(cfg, tmp_path):
    cfg["ensembles"]["ens_sw"] = {"members": {"sw": 0.5, "linear_av": 0.5}}
    base = _planned({**cfg, "variants": {k: v for k, v in cfg["variants"].items() if k != "sw"},
                     "ensembles": {k: v for k, v in cfg["ensembles"].items() if k != "ens_sw"}},
                    tmp_path)
    planned = _planned(cfg, tmp_path)
    # 9 train jobs and no predict job: select_sweep predicts only the point it keeps
    assert planned["train"] == base["train"] + 9 and planned["predict"] == base["predict"]
    assert planned["select_sweep"] == base["select_sweep"] + 1  # the demo config's tcn_av: 1
    assert planned["ensemble"] == base["ensemble"] + 1
    assert planned["submission"] == base["submission"] + 2  # the sweep and its ensemble


def test_the_demo_config_sweeps_its_default_model_over_4_points_and_a_new_point_adds_one(tmp_path):
    demo = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()), SCHEMA)
    points = expand_sweeps(demo)[1]["tcn_av"]
    assert len(points) == 4
    # every point trains the variant's features with its own values over the variant's settings
    trainable = expand_sweeps(demo)[0]
    assert {tuple(trainable[p]["features"]) for p in points} == {
        ("effnet_lite0", "logmel64", "musicnn_mtt")}
    assert {v["training.balance_extractors"] for v in points.values()} == {False, True}
    more = copy.deepcopy(demo)
    more["variants"]["tcn_av"]["sweep"]["points"] = [
        {"model.positional_encoding": "sinusoidal", "training.balance_extractors": True}]
    grown_points = expand_sweeps(more)[1]["tcn_av"]
    assert set(points) < set(grown_points) and len(grown_points) == 5  # the 4 keep their names
    (tmp_path / "b").mkdir()
    base, grown = _planned(demo, tmp_path), _planned(more, tmp_path / "b")
    assert grown["train"] == base["train"] + 1 and grown["predict"] == base["predict"]
