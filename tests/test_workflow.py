"""The real workflow, end to end, on a tiny demo config in a temporary directory."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from eevflow.decoded_shard import read_index, read_shard_index, video_files
from eevflow.inference import predict_split
from eevflow.layout import Layout
from eevflow.shards import iter_videos, shard_metadata, shard_of

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

pytestmark = pytest.mark.integration
# the HTML report's figures and pages (rules/report.smk): redrawn whenever the score reruns
REPORT_JOBS = {"report_figures": 1, "report_curves": 1, "report_pages": 1}


def tiny_config() -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"].update(n_train=6, n_val=2, n_test=2, min_seconds=12, max_seconds=16, seed=3)
    cfg["n_shards"] = 2
    cfg["model_defaults"]["tcn"]["channels"] = 32
    cfg["training_defaults"]["epochs"] = 30
    cfg["variants"] = {
        "tcn_pe_av": {"features": ["effnet_lite0", "logmel64"]},
        "tcn_nope_audio": {
            "features": ["musicnn_mtt"],
            "model": {"positional_encoding": "none"},
        },
        "shuffled_control": {
            "features": ["effnet_lite0", "logmel64"],
            "training": {"shuffle_labels": True},
        },
        "linear_av": {"features": ["effnet_lite0", "logmel64"], "model": {"type": "linear"}},
        # a validation sweep (eevflow/sweeps.py): one train job per point, the best kept
        "sweep_audio": {"features": ["logmel64"], "training": {"epochs": 10},
                        "sweep": {"grid": {"model.dropout": [0.0, 0.3]}}},
        # the winner's code's switches (docs/fidelity.md): the 2021 run and the published code
        "tpf2021_av": {
            "features": ["effnet_lite0", "logmel64"],
            "model": {"init": "normal_0.01"},
            "training": {"selection": "last", "val_rows": "detected"},
        },
        "tpf2022_av": {
            "features": ["effnet_lite0", "logmel64"],
            "model": {"init": "normal_0.01"},
            "training": {"target_scale": 10.0, "row_dropout": 0.3, "swa_start": 20,
                         "swa_lr": 0.0005, "selection": "swa", "val_rows": "all"},
        },
    }
    # one of the 2 validation videos chooses the val_grid weights, the other the models
    cfg["validation"] = {"weights_holdout": 0.5}
    cfg["paper_tables"] = {}  # config.yaml's name the demo's variants
    cfg["ensembles"] = {
        "ens": {"members": {"tcn_pe_av": 0.8, "tcn_nope_audio": 0.2}},
        "ens_grid": {
            "members": {"tcn_pe_av": 1, "tcn_nope_audio": 1},
            "select_weights": "val_grid",
            "grid_step": 0.25,
        },
    }
    return cfg


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args,
    ]
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)


def run_workflow(workdir: Path, cfg: dict) -> tuple[Path, dict]:
    """Write ``cfg`` as the work directory's config and run the whole workflow on it."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return workdir, cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return run_workflow(tmp_path_factory.mktemp("wf"), tiny_config())


def test_every_stage_writes_its_outputs(run):
    workdir, cfg = run
    res = workdir / "results"
    for split, n in (("train", 6), ("val", 2), ("test", 2)):
        manifest = pd.read_parquet(res / "manifest" / f"{split}.parquet")
        assert len(manifest) == n and (manifest["status"] == "ok").all()
        assert manifest["has_audio"].all() and (manifest["duration_s"] >= 11.5).all()
        # one decode folder per shard, holding exactly the shard's videos
        decoded = {}
        for shard in range(cfg["n_shards"]):
            folder = res / "decoded" / split / f"shard-{shard:03d}"
            for vid in read_index(folder):
                assert shard_of(vid, cfg["n_shards"]) == shard
                # decode.store compressed (the default): JPEG rows and FLAC, no .npy
                files = video_files(folder, vid, "compressed")
                assert files["frames"].exists() and files["audio"].exists()
                assert not (folder / vid / "frames.npy").exists()
                decoded[vid] = folder
        assert sorted(decoded) == sorted(manifest["video_id"])
        rows = 0
        for ext, dim in (("effnet_lite0", 1280), ("logmel64", 64)):
            shards = sorted((res / "features" / ext / split).glob("shard-*.parquet"))
            assert len(shards) == cfg["n_shards"]
            meta = shard_metadata(shards[0])
            assert meta["extractor"] == ext and meta["dim"] == str(dim) and meta["version"]
            table = pq.read_table(shards)
            assert table.schema.field("embedding").type.list_size == dim
            assert set(table.column("video_id").to_pylist()) <= set(manifest["video_id"])
            rows = table.num_rows
        labels = pd.read_parquet(res / "labels" / f"{split}.parquet")
        assert rows == len(labels)  # one embedding per label row
    for variant in cfg["variants"]:
        if "sweep" in cfg["variants"][variant]:
            continue  # its points are trained (test_a_sweep_keeps_its_best_validation_point)
        ckpt = torch.load(res / "models" / variant / "model.pt", weights_only=True)
        assert {"model_state", "model_config", "train_config", "settings", "best"} <= set(ckpt)
        assert ckpt["settings"]["features"] == cfg["variants"][variant]["features"]
    pe = torch.load(res / "models" / "tcn_nope_audio" / "model.pt", weights_only=True)
    assert pe["model_config"]["positional_encoding"] == "none"
    for model in [*cfg["variants"], "ens", "ens_grid"]:
        for split in ("val", "test"):
            pred = pd.read_parquet(res / "predictions" / model / f"{split}.parquet")
            assert len(pred) == len(pd.read_parquet(res / "labels" / f"{split}.parquet"))
    scores = pd.read_csv(res / "scores" / "scores.csv")
    md = (res / "scores" / "scores.md").read_text()
    assert set(scores["model"]) == {*cfg["variants"], "ens", "ens_grid", "oracle"}
    # data.test_oracle: the demo's noise-free signal, scored on test as the ceiling
    oracle = scores[scores["model"] == "oracle"]
    assert list(oracle["split"]) == ["test"]
    control = scores[(scores["model"] == "shuffled_control") & (scores["split"] == "test")]
    assert oracle["m_rho"].iloc[0] > max(0.5, control["m_rho"].iloc[0] + 0.3)
    assert "of the oracle's" in md
    chosen = json.loads((res / "predictions" / "ens_grid" / "weights.json").read_text())
    assert len(chosen["trials"]) == 5 and abs(sum(chosen["weights"].values()) - 1) < 1e-9
    assert "(weights chosen on val)" in md
    # validation.weights_holdout: the weights' video was held out of every model's selection
    held = chosen["held_out_videos"]
    assert len(held) == 1 and chosen["n_val_videos"] == 2
    assert "weights chosen on 1 held-out validation videos" in md
    for variant in ("tcn_pe_av", "linear_av", "tcn_nope_audio"):
        hist = json.loads((res / "models" / variant / "training.json").read_text())
        assert hist["val_held_out_for_weights"] == held
        ckpt = torch.load(res / "models" / variant / "model.pt", weights_only=True)
        assert ckpt["n_val_videos"] == 1
    assert set(scores["split"]) == {"val", "test"}
    assert scores["m_rho"].between(-1, 1).all() and "n_constant_pairs" in scores
    assert "r_amusement" in scores and "ccc" in scores
    assert "| tcn_pe_av |" in md and "shuffled labels" in md
    test_csv = pd.read_csv(workdir / cfg["data"]["labels"]["test"])
    sub = pd.read_csv(res / "submission" / "ens.csv")
    assert list(sub.columns[:2]) == ["Video ID", "Timestamp (milliseconds)"]
    assert sub.iloc[:, :2].equals(test_csv.iloc[:, :2])
    assert not list(res.rglob(".*.tmp-*"))  # no leftovers of atomic writes


def test_each_job_saw_only_the_gpus_its_rule_asked_for(run):
    """The logs of real jobs: decode and logmel extraction (gpu 0) saw no GPU; EfficientNet
    extraction and training (gpu 1) kept what they were given."""
    workdir, cfg = run
    logs = workdir / "results" / "logs"
    for log in [*logs.glob("decode/*/shard-*.log"), *logs.glob("extract/logmel64/*/*.log")]:
        assert "job resources: gpu=0, CUDA_VISIBLE_DEVICES=''" in log.read_text(), log
    for log in [*logs.glob("extract/effnet_lite0/*/*.log"), *logs.glob("train/*.log")]:
        assert "job resources: gpu=1," in log.read_text(), log
    assert len(list(logs.glob("decode/*/shard-*.log"))) == 3 * cfg["n_shards"]


def test_model_learns_the_planted_signal_and_the_control_does_not(run):
    workdir, _ = run
    scores = pd.read_csv(workdir / "results" / "scores" / "scores.csv")
    m = scores.set_index(["model", "split"])["m_rho"]
    assert m["tcn_pe_av", "val"] > 0.3 and m["tcn_pe_av", "test"] > 0.3, m.to_dict()
    assert abs(m["shuffled_control", "test"]) < 0.15, m.to_dict()
    assert m["tcn_pe_av", "test"] > m["shuffled_control", "test"] + 0.25
    assert m["linear_av", "test"] > 0.3, m.to_dict()  # the ridge baseline learns it too
    # with the winner's switches on (init, target scale, row dropout, SWA, selection, val rows)
    assert m["tpf2021_av", "test"] > 0.3 and m["tpf2022_av", "test"] > 0.3, m.to_dict()
    swa = json.loads((workdir / "results" / "models" / "tpf2022_av" / "training.json").read_text())
    assert swa["best"]["epoch"] == "swa" and swa["best"]["averaged_epochs"] == 10


def test_second_run_has_nothing_to_do(run):
    workdir, _ = run
    proc = snakemake(workdir, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]


def test_decode_store_none_decodes_again_in_the_extract_job(run, tmp_path):
    """Changing decode.store reruns decode and extract (the decode job's params hold it). With
    ``none`` the decode folder keeps metadata only and the extract job decodes its shard's videos
    (now its inputs) again: the same rows, embeddings close to those of the run's compressed
    store (JPEG, 16-bit FLAC; the synthetic demo's flat frames are JPEG's hard case,
    BENCHMARKS.md "Decoded media store")."""
    workdir, cfg = run
    cfg = json.loads(json.dumps(cfg))
    cfg["decode"]["store"] = "none"
    planned = _planned(workdir, cfg)
    # 3 splits x 2 shards decoded again, and each of the 3 extractors' 6 shards
    assert planned["decode"] == 6 and planned["extract"] == 18, planned
    copy = tmp_path / "wf"
    shutil.copytree(workdir, copy, symlinks=True)
    (copy / "config.yaml").write_text(yaml.safe_dump(cfg))
    val = pd.read_parquet(copy / "results" / "manifest" / "val.parquet")["video_id"]
    shard = f"{shard_of(val.iloc[0], cfg['n_shards']):03d}"
    layout = Layout("results")
    targets = [layout.features(e, "val", shard) for e in ("effnet_lite0", "logmel64")]
    proc = snakemake(copy, *targets)
    assert proc.returncode == 0, proc.stderr[-6000:]
    folder = copy / layout.decoded("val", shard)
    assert read_shard_index(folder)["store"] == "none"
    vids = read_index(folder)
    assert vids and all(sorted(p.name for p in (folder / v).iterdir()) == ["meta.json"]
                        for v in vids)
    for target in targets:
        before = {v: (t, e) for v, t, e in iter_videos(workdir / target)}
        after = {v: (t, e) for v, t, e in iter_videos(copy / target)}
        assert sorted(after) == sorted(before) == sorted(vids)
        for v, (t, e) in after.items():
            np.testing.assert_array_equal(t, before[v][0])
            a, b = e.astype(np.float64), before[v][1].astype(np.float64)
            cos = (a * b).sum(1) / np.maximum(
                np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
            floor = 0.9 if "effnet" in str(target) else 0.999
            assert np.median(cos) > floor, (target, v, np.median(cos))


def _planned(
    workdir: Path, cfg: dict | None = None, snakefile: Path = REPO / "Snakefile"
) -> dict[str, int]:
    """Snakemake's own dry-run job counts per rule for ``cfg`` (default: the run's config) with
    ``snakefile`` in ``workdir``."""
    path = workdir / "config.yaml"
    if cfg is not None:
        path = workdir / "changed.yaml"
        path.write_text(yaml.safe_dump(cfg))
    cmd = [
        str(SNAKEMAKE), "--snakefile", str(snakefile), "--directory", str(workdir),
        "--configfile", str(path), "--cores", "2", "--dry-run", "--quiet", "rules",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    if "Nothing to be done" in proc.stdout + proc.stderr:
        return {}
    table = (proc.stdout + proc.stderr).split("Job stats:")[1].split("total")[0]
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_adding_an_extractor_and_a_variant_schedules_only_new_work(run):
    workdir, cfg = run
    cfg = json.loads(json.dumps(cfg))
    cfg["extractors"]["logmel32"] = {"backend": "logmel", "modality": "audio", "n_mels": 32}
    cfg["variants"]["tcn_logmel32"] = {"features": ["logmel32"]}
    planned = _planned(workdir, cfg)
    # new extraction (3 splits x 2 shards), training and prediction, plus the aggregates
    assert planned == {
        "extract": 6, "train": 1, "predict": 2, "submission": 1, "score": 1,
        **REPORT_JOBS, "all": 1,
    }, planned


# issue 18's extractors, each as a user would add it (the options beyond the backend's defaults)
NEW_EXTRACTORS = {
    "lite2": ({"backend": "efficientnet_lite2"}, False),
    "irv2": ({"backend": "tfhub_image", "modality": "visual", "model": "inception_resnet_v2"},
             False),
    "s3d": ({"backend": "s3d_clip", "stride": 2}, True),
    "swin": ({"backend": "timm_image", "checkpoint": "CHECKPOINT"}, False),
    "faces": ({"backend": "face_crop"}, False),
    "fer": ({"backend": "face_expression"}, False),
    "subs": ({"backend": "text_subtitles"}, False),
}


@pytest.mark.parametrize("name", sorted(NEW_EXTRACTORS))
def test_adding_a_new_kind_of_extractor_schedules_only_its_stream_and_readers(run, name,
                                                                           tmp_path):
    """Issue 18: an extractor of each new backend and a variant reading it, added to the finished
    run: its own extract jobs (and the clip decode when it reads clips), its variant's train and
    predict jobs and the aggregates; no decode, no other extractor, no other variant."""
    workdir, cfg = run
    cfg = json.loads(json.dumps(cfg))
    entry, clips = NEW_EXTRACTORS[name]
    entry = dict(entry)
    if entry.get("checkpoint") == "CHECKPOINT":  # a local weights file (dry run: never read)
        entry["checkpoint"] = str(tmp_path / "swin.safetensors")
        (tmp_path / "swin.safetensors").write_bytes(b"weights")
    cfg["extractors"][name] = entry
    cfg["variants"][f"tcn_{name}"] = {"features": [name, "logmel64"]}
    planned = _planned(workdir, cfg)
    assert planned == {
        **({"decode_clips": 6} if clips else {}),
        "extract": 6, "train": 1, "predict": 2, "submission": 1, "score": 1,
        **REPORT_JOBS, "all": 1,
    }, planned


def test_adding_variants_of_other_families_and_a_mixed_ensemble_schedules_only_them(run):
    """Issue 16: a bi-GRU, an MGN-MA and an OMG variant (over the finished run's features) and an
    ensemble mixing the TCN with the bi-GRU: their own train and predict jobs, the ensemble, the
    submissions and the score, nothing else."""
    workdir, cfg = run
    cfg = json.loads(json.dumps(cfg))
    av = ["effnet_lite0", "logmel64"]
    cfg["variants"]["bigru_new"] = {"features": av, "model": {"type": "bigru", "hidden_visual": 8,
                                                              "hidden_audio": 4}}
    cfg["variants"]["mgn_new"] = {"features": av, "model": {"type": "mgn"}}
    cfg["variants"]["omg_new"] = {"features": av, "model": {"type": "omg"}}
    cfg["ensembles"]["mixed"] = {"members": {"tcn_pe_av": 0.5, "bigru_new": 0.5},
                                 "select_weights": "val_grid", "grid_step": 0.25}
    planned = _planned(workdir, cfg)
    assert planned == {
        "train": 3, "predict": 6, "ensemble": 1, "submission": 4, "score": 1,
        **REPORT_JOBS, "all": 1,
    }, planned


def test_a_sweep_keeps_its_best_validation_point(run):
    workdir, cfg = run
    res = workdir / "results"
    table = json.loads((res / "predictions" / "sweep_audio" / "sweep.json").read_text())
    assert len(table["points"]) == 2
    best = max(table["points"], key=lambda r: r["val_m_rho"])
    assert table["chosen"] == best["point"]
    for point in table["points"]:  # each point trained as its own variant
        hist = json.loads((res / "models" / point["point"] / "training.json").read_text())
        assert hist["best"]["val_m_rho"] == point["val_m_rho"]
    # only the kept point is predicted, by select_sweep, with the kept point's model
    for point in table["points"]:
        assert not (res / "predictions" / point["point"]).exists()
    kept = pd.read_parquet(res / "predictions" / "sweep_audio" / "test.parquet")
    assert len(kept) == len(pd.read_parquet(res / "labels" / "test.parquet"))
    lay = Layout(str(res))
    again, _ = predict_split(lay.model(table["chosen"]), lay.labels("test"),
                             {"logmel64": [lay.features("logmel64", "test", s)
                                           for s in ("000", "001")]}, cfg["targets"])
    pd.testing.assert_frame_equal(kept, again)
    md = (res / "scores" / "scores.md").read_text()
    assert "### Sweep `sweep_audio`: 2 points" in md and "**yes**" in md
    scores = pd.read_csv(res / "scores" / "scores.csv")
    assert {("sweep_audio", "test")} <= set(zip(scores["model"], scores["split"]))
    # the score table describes the swept variant by the point it kept
    kept_dropout = scores.loc[scores["model"] == "sweep_audio", "dropout"].iloc[0]
    assert kept_dropout == table["chosen_values"]["model.dropout"]


def test_adding_a_point_to_a_finished_sweep_trains_one_model(run):
    workdir, cfg = run
    cfg = json.loads(json.dumps(cfg))
    cfg["variants"]["sweep_audio"]["sweep"]["points"] = [{"model.dropout": 0.1}]
    planned = _planned(workdir, cfg)
    # the new point's training, the sweep's choice (which predicts the kept point), its
    # submission, the score
    assert planned == {
        "train": 1, "select_sweep": 1, "submission": 1, "score": 1, **REPORT_JOBS, "all": 1,
    }, planned


def test_editing_one_variant_reruns_only_that_variant(run):
    workdir, cfg = run
    cfg = json.loads(json.dumps(cfg))
    cfg["variants"]["tcn_nope_audio"]["model"]["dropout"] = 0.1
    planned = _planned(workdir, cfg)
    # its training and predictions, the two ensembles it is in, their submissions, the score
    assert planned == {
        "train": 1, "predict": 2, "ensemble": 2, "submission": 3, "score": 1,
        **REPORT_JOBS, "all": 1,
    }, planned
    assert _planned(workdir, run[1]) == {}  # the original config: still nothing to do


def test_bad_config_is_rejected_before_any_job(tmp_path):
    cfg = tiny_config()
    cfg["scoring"]["constant_policy"] = "zero"
    cfg["variants"]["tcn_pe_av"]["model"] = {"dropuot": 0.1}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path)
    assert proc.returncode != 0
    assert "scoring.constant_policy" in proc.stderr and "allowed values" in proc.stderr
    assert "variants.tcn_pe_av.model: unknown key(s) 'dropuot'" in proc.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("name, variants", [
    ("eev_paper", 5), ("eev_tpf2021", 2), ("eev_tpf2022", 4), ("eev_mgn_ma", 7),
    ("eev_sparse_bigru", 3),
])
def test_paper_config_plans_every_variant(tmp_path, name, variants):
    """configs/eev_paper.yaml, the two TPF configs (docs/fidelity.md), MGN-MA's and the 2nd
    place's on small EEV-format files: the DAG has each one's jobs."""
    cfg = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
    header = "Timestamp (milliseconds)," + ",".join(cfg["targets"])
    (tmp_path / "videos").mkdir()
    for split, col in (("train", "YouTube ID"), ("val", "YouTube ID"), ("test", "Video ID")):
        rows = [f"vid{split}{i:02d},{t * 166667}" + ("" if split == "test" else ",0.1" * 15)
                for i in range(3) for t in range(4)]
        head = f"{col},Timestamp (milliseconds)" if split == "test" else f"{col},{header}"
        (tmp_path / f"{split}.csv").write_text("\n".join([head, *rows]) + "\n")
        cfg["data"]["labels"][split] = str(tmp_path / f"{split}.csv")
    cfg["data"]["videos_dir"] = str(tmp_path / "videos")
    for entry in cfg["extractors"].values():  # local weights files (timm_image): never read
        if entry.get("checkpoint"):
            (tmp_path / entry["checkpoint"]).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / entry["checkpoint"]).write_bytes(b"weights")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "--dry-run", "--quiet", "rules")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, re.M))
    assert counts["train"] == str(variants) and counts["predict"] == str(2 * variants)
    assert counts["ensemble"] == "1"
    # every extractor x 3 splits x the shards; the clip stream only where a backend reads it
    assert counts["extract"] == str(len(cfg["extractors"]) * 3 * cfg["n_shards"])
    clip_readers = [e for e in cfg["extractors"].values() if e["backend"] == "s3d_clip"]
    assert counts.get("decode_clips") == (str(3 * cfg["n_shards"]) if clip_readers else None)


def test_a_killed_training_job_resumes_and_ends_with_the_uninterrupted_weights(run):
    """SIGKILL the whole Snakemake process group while a training job is mid-way through its
    epochs: no model file appears (only the resumable state), and --rerun-incomplete continues
    after the last finished epoch and ends with the weights of an uninterrupted run."""
    src, cfg = run
    cfg = json.loads(json.dumps(cfg))
    cfg["variants"]["slow"] = {"features": ["logmel64"], "training": {"epochs": 150}}
    target = "results/models/slow/model.pt"  # relative to --directory, as the rules name it
    full, workdir = Path(str(src) + "-full"), Path(str(src) + "-kill")
    for d in (full, workdir):
        shutil.copytree(src, d, symlinks=True)
        (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert snakemake(full, target).returncode == 0
    model = workdir / target
    state = model.parent / "train_state.pt"
    log = workdir / "results" / "logs" / "train" / "slow.log"
    cmd = [
        str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"), "--cores", "2", target,
    ]
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    try:
        while not (log.exists() and "epoch 3:" in log.read_text() and state.exists()):
            assert proc.poll() is None, "the run ended before the job could be killed"
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not model.exists()
    assert not (model.parent / "training.json").exists()
    leftovers = [p.name for p in model.parent.iterdir()]
    assert all(n.startswith(".") or n in ("train_state.pt", "train_state.pt.tmp", "tensorboard")
               for n in leftovers), leftovers  # hidden temp files, the resumable state, the
    # events so far (an incomplete output: Snakemake removes it before the job runs again)
    # the killed run left its lock (as after a power loss): --unlock, then --rerun-incomplete
    assert snakemake(workdir, "--unlock").returncode == 0
    proc = snakemake(workdir, "--rerun-incomplete", target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"resuming after epoch \d+", log.read_text()), log.read_text()[-2000:]
    assert not state.exists()  # removed once training ended
    ckpt = torch.load(model, weights_only=True)
    ref = torch.load(full / target, weights_only=True)
    assert ckpt["train_config"]["epochs"] == 150
    for k, v in ref["model_state"].items():
        assert torch.equal(v, ckpt["model_state"][k]), k
    assert json.loads((model.parent / "training.json").read_text())["variant"] == "slow"
    assert _event_steps(model.parent / "tensorboard") == list(range(150))  # each epoch once
    assert _planned(workdir, cfg).get("train", 0) == 0


# --- code changes (eevflow/fingerprint.py): editing a module reruns the jobs that run it, only -----


def _planned_with_code(workdir: Path, snakefile: Path) -> dict[str, int]:
    return _planned(workdir, snakefile=snakefile)


@pytest.fixture(scope="module")
def code_copy(run, tmp_path_factory):
    """A copy of the workflow's code (Snakefile, rules, scripts, package) to edit."""
    import shutil

    dest = tmp_path_factory.mktemp("code") / "eevflow-copy"
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(
        ".venv", ".git", "results", ".snakemake", "__pycache__", ".pytest_cache", "*.egg-info"))
    return dest


def _docstring_edit(text: str) -> str:
    """``text`` with a line added to its module docstring and a comment at the end."""
    end = text.index('"""', text.index('"""') + 3)
    return text[:end] + "\nAn edited docstring line.\n" + text[end:] + "\n# a comment\n"


def test_unchanged_code_copy_has_nothing_to_do(run, code_copy):
    assert _planned_with_code(run[0], code_copy / "Snakefile") == {}


def test_editing_the_tcn_reruns_training_prediction_and_aggregates_only(run, code_copy):
    tcn = code_copy / "eevflow" / "models" / "tcn.py"
    original = tcn.read_text()
    try:
        tcn.write_text(_docstring_edit(original))  # a docstring and a comment: nothing
        assert _planned_with_code(run[0], code_copy / "Snakefile") == {}
        tcn.write_text(original + "\n\ndef _edited_helper():\n    return 1\n")
        planned = _planned_with_code(run[0], code_copy / "Snakefile")
        # the 5 TCN variants (train + val/test predictions), the 2 sweep points' training, the
        # sweep's choice, both ensembles, their 8 submissions, the score; not the linear variant
        # (its family module did not change)
        assert planned == {
            "train": 7, "predict": 10, "select_sweep": 1, "ensemble": 2, "submission": 8,
            "score": 1, **REPORT_JOBS, "all": 1,
        }, planned
    finally:
        tcn.write_text(original)
    assert _planned_with_code(run[0], code_copy / "Snakefile") == {}


def test_editing_the_logmel_backend_reruns_its_extractors_and_what_reads_them(run, code_copy):
    logmel = code_copy / "eevflow" / "features" / "logmel.py"
    original = logmel.read_text()
    try:
        logmel.write_text(original + "\n\ndef _edited_helper():\n    return 2\n")
        planned = _planned_with_code(run[0], code_copy / "Snakefile")
        # logmel64 and musicnn_mtt (whose backend imports log-mel's windows): 2 x 3 splits x 2
        # shards; every variant reads one of them; effnet_lite0's extraction does not rerun
        assert planned == {
            "extract": 12, "train": 8, "predict": 12, "select_sweep": 1, "ensemble": 2,
            "submission": 9, "score": 1, **REPORT_JOBS, "all": 1,
        }, planned
    finally:
        logmel.write_text(original)


def test_editing_an_unrelated_module_or_a_docstring_reruns_nothing(run, code_copy):
    ensemble = code_copy / "eevflow" / "ensemble.py"
    bench = code_copy / "bench" / "bench_metric.py"
    originals = {p: p.read_text() for p in (ensemble, bench)}
    try:
        ensemble.write_text(_docstring_edit(originals[ensemble]))
        bench.write_text(originals[bench] + "\nUNUSED = 1\n")
        assert _planned_with_code(run[0], code_copy / "Snakefile") == {}
    finally:
        for p, t in originals.items():
            p.write_text(t)


# --- progress lines and TensorBoard events (eevflow/progress.py, eevflow/train_events.py) ------


def _event_steps(folder: Path) -> list[int]:
    """The steps of a TensorBoard folder's val/m_rho scalar."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.step for e in acc.Scalars("val/m_rho")]


def test_every_long_job_logs_progress_lines_and_training_leaves_events(run):
    """Whole lines (no carriage return) of tqdm's meter in each long job's log, ending with its
    final count; each trained model has one TensorBoard value per epoch beside it."""
    workdir, _ = run
    res = workdir / "results"
    for rule, unit in (("download_check", "videos"), ("decode", "videos"), ("extract", "rows"),
                       ("train", "epochs"), ("predict", "videos")):
        logs = sorted((res / "logs" / rule).rglob("*.log"))
        assert logs, rule
        for log in logs:
            text = log.read_text()
            assert "\r" not in text, log
            lines = re.findall(rf"eevflow.progress: .+?: (\d+)/(\d+) {unit} "
                               rf"\[\d\d:\d\d<[\d:?]+, [\d.?]+ {unit}/s.*\]$", text, re.M)
            if rule == "train" and "linear_av" in str(log):
                assert not lines  # a closed-form fit: no epochs
                continue
            assert lines, (log, text[-2000:])
            done, total = map(int, lines[-1])
            assert len(lines) >= 2 or total == 0, log  # the start and the final line
            if rule == "train":
                variant = log.relative_to(res / "logs" / "train").with_suffix("")
                history = json.loads((res / "models" / variant / "training.json").read_text())
                assert done == len(history["history"]), log  # an early stop ends before total
            else:
                assert done == total, log
    histories = sorted((res / "models").rglob("training.json"))
    assert len(histories) >= 8
    for path in histories:
        history = json.loads(path.read_text())["history"]
        assert _event_steps(path.parent / "tensorboard") == [
            r["epoch"] if isinstance(r.get("epoch"), int) else i for i, r in enumerate(history)]
