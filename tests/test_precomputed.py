"""The precomputed extractor backend: each file format, timestamps vs a fixed rate, resampling on
known signals, the out-of-span policy, missing and malformed files."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from eevflow.config import ConfigError
from eevflow.features import build_extractor
from eevflow.features.options import PrecomputedOptions
from eevflow.features.precomputed import (FeatureFileError, LabelInfo, LabelRows, resample,
                                          video_features)
from eevflow.options import OptionError
from eevflow.shards import iter_videos
from tests.test_workflow import run_workflow, snakemake, tiny_config

DIM = 3
# label rows at 6 Hz, 2 s
LABEL_US = np.round(np.arange(12) * 1e6 / 6).astype(np.int64)


def _opts(tmp_path, **kw):
    values = {"backend": "precomputed", "modality": "audio", "dim": DIM, "path": str(tmp_path)}
    if "timestamps_key" not in kw:
        values["rate_hz"] = 6.0
    return PrecomputedOptions.from_dict({**values, **kw}, ("extractors", "pre"))


def _signal(times_s):
    """A linear signal of time per column: linear interpolation reproduces it exactly."""
    t = np.asarray(times_s, np.float64)[:, None]
    return (np.array([[1.0, -2.0, 0.5]]) * t + np.array([[0.0, 3.0, -1.0]])).astype(np.float32)


def test_npy_at_a_fixed_rate_gives_the_rows_at_the_label_times(tmp_path):
    feats = np.random.default_rng(0).normal(size=(12, DIM)).astype(np.float32)
    np.save(tmp_path / "v1.npy", feats)
    opts = _opts(tmp_path)
    out = video_features(opts.file_for("v1"), LABEL_US, opts)
    assert out.dtype == np.float32 and np.array_equal(out, feats)


@pytest.mark.parametrize("fmt", ["npz", "pt", "h5"])
@pytest.mark.parametrize("unit, scale", [("us", 1e6), ("ms", 1e3), ("s", 1.0)])
def test_each_format_with_a_timestamps_array(tmp_path, fmt, unit, scale):
    times_s = np.arange(24) / 12.0  # 12 Hz features, twice the label rate
    feats = np.random.default_rng(1).normal(size=(24, DIM)).astype(np.float32)
    path = tmp_path / f"v1.{fmt}"
    ts = times_s * scale
    if fmt == "npz":
        np.savez(path, emb=feats, t=ts)
    elif fmt == "pt":
        torch.save({"emb": torch.from_numpy(feats), "t": torch.from_numpy(ts),
                    "file_id": "v1"}, path)
    else:
        with h5py.File(path, "w") as f:
            f["emb"], f["t"] = feats, ts
    opts = _opts(tmp_path, pattern=f"{{video_id}}.{fmt}", key="emb", timestamps_key="t",
                 timestamps_unit=unit)
    out = video_features(opts.file_for("v1"), LABEL_US, opts)
    assert np.array_equal(out, feats[::2])  # each label time is a feature row's time


def test_a_bare_tensor_pt_file_and_the_only_array_of_an_npz(tmp_path):
    feats = np.arange(12 * DIM, dtype=np.float32).reshape(12, DIM)
    torch.save(torch.from_numpy(feats), tmp_path / "v1.pt")
    opts = _opts(tmp_path, pattern="{video_id}.pt")
    assert np.array_equal(video_features(opts.file_for("v1"), LABEL_US, opts), feats)
    np.savez(tmp_path / "v2.npz", feats=feats, t=LABEL_US)
    opts = _opts(tmp_path, pattern="{video_id}.npz", timestamps_key="t")
    assert np.array_equal(video_features(opts.file_for("v2"), LABEL_US, opts), feats)


def test_resampling_methods_on_a_known_signal():
    times = np.array([0.0, 1.0, 2.0, 4.0]) * 1e6
    feats = _signal(times / 1e6)
    at = np.array([0.0, 0.4, 0.5, 0.6, 1.0, 3.0, 3.9, 4.0]) * 1e6
    near = resample(feats, times, at, "nearest")
    # 0.5 is a tie: the earlier row; 3.0 is a tie between 2 and 4: the earlier
    assert np.array_equal(near, feats[[0, 0, 0, 1, 1, 2, 3, 3]])
    prev = resample(feats, times, at, "previous")
    assert np.array_equal(prev, feats[[0, 0, 0, 0, 1, 2, 2, 3]])
    lin = resample(feats, times, at, "linear")
    np.testing.assert_allclose(lin, _signal(at / 1e6), rtol=0, atol=1e-6)
    # at the rows' own times every method returns the rows exactly
    for how in ("nearest", "previous", "linear"):
        assert np.array_equal(resample(feats, times, times, how), feats)


def test_out_of_span_rows_hold_the_edges_or_fail_past_the_tolerance(tmp_path):
    feats = _signal(np.arange(6) / 6)  # rows for the first second only
    np.save(tmp_path / "v1.npy", feats)
    for how in ("nearest", "previous", "linear"):
        opts = _opts(tmp_path, resample=how)
        out = video_features(opts.file_for("v1"), LABEL_US, opts)
        assert (out[6:] == feats[-1]).all(), how  # past the last row: the last row
    np.testing.assert_allclose(out[:6], feats, atol=1e-5)  # linear: label times are whole us
    opts = _opts(tmp_path)
    out = video_features(opts.file_for("v1"), LABEL_US, opts)
    assert np.array_equal(out[:6], feats)
    early = np.array([-200_000, 0], np.int64)  # 0.2 s before the first row
    assert np.array_equal(resample(feats, np.arange(6) / 6 * 1e6, early, "previous"),
                          feats[[0, 0]])
    strict = _opts(tmp_path, out_of_span="error", span_tolerance_s=0.5)
    with pytest.raises(FeatureFileError, match=r"v1\.npy: 3 label rows more than 0.5 s outside"):
        video_features(strict.file_for("v1"), LABEL_US, strict)
    loose = _opts(tmp_path, out_of_span="error", span_tolerance_s=2.0)
    assert np.array_equal(video_features(loose.file_for("v1"), LABEL_US, loose), out)


def test_offset_shifts_the_fixed_rate_rows(tmp_path):
    feats = np.arange(12 * DIM, dtype=np.float32).reshape(12, DIM)
    np.save(tmp_path / "v1.npy", feats)
    opts = _opts(tmp_path, offset_s=1 / 6)  # row 0 is at the second label row
    out = video_features(opts.file_for("v1"), LABEL_US, opts)
    assert np.array_equal(out[1:], feats[:-1]) and np.array_equal(out[0], feats[0])


@pytest.mark.parametrize("write, match", [
    (lambda p: p.write_bytes(b"not a numpy file"), r"v1\.npy: cannot read as npy"),
    (lambda p: np.save(p, np.zeros((12, DIM + 1), np.float32)), r"shape \(12, 4\), expected"),
    (lambda p: np.save(p, np.zeros(12, np.float32)), r"shape \(12,\)"),
    (lambda p: np.save(p, np.full((12, DIM), np.nan, np.float32)), "finite"),
])
def test_malformed_files_are_errors_naming_the_file(tmp_path, write, match):
    write(tmp_path / "v1.npy")
    opts = _opts(tmp_path)
    with pytest.raises(FeatureFileError, match=match):
        video_features(opts.file_for("v1"), LABEL_US, opts)


def test_bad_timestamps_and_missing_arrays_are_errors(tmp_path):
    feats = np.zeros((3, DIM), np.float32)
    np.savez(tmp_path / "a.npz", feats=feats, t=np.array([0, 2, 1]))
    np.savez(tmp_path / "b.npz", feats=feats, t=np.array([0, 1]))
    np.savez(tmp_path / "c.npz", x=feats, y=feats)
    opts = _opts(tmp_path, pattern="{video_id}.npz", timestamps_key="t")
    with pytest.raises(FeatureFileError, match="strictly increasing"):
        video_features(opts.file_for("a"), LABEL_US, opts)
    with pytest.raises(FeatureFileError, match="2 timestamps for 3 feature rows"):
        video_features(opts.file_for("b"), LABEL_US, opts)
    keyed = _opts(tmp_path, pattern="{video_id}.npz", key="x", timestamps_key="t")
    with pytest.raises(FeatureFileError, match=r"c\.npz: no array 't'; it holds \['x', 'y'\]"):
        video_features(keyed.file_for("c"), LABEL_US, keyed)
    ambiguous = _opts(tmp_path, pattern="{video_id}.npz")
    with pytest.raises(FeatureFileError, match="name the features' array"):
        video_features(ambiguous.file_for("c"), LABEL_US, ambiguous)


def test_option_rules():
    base = {"backend": "precomputed", "modality": "visual", "dim": 4, "path": "f"}
    with pytest.raises(OptionError, match="rate_hz: required without timestamps_key"):
        PrecomputedOptions.from_dict(base)
    with pytest.raises(OptionError, match="an .npy file holds one array"):
        PrecomputedOptions.from_dict({**base, "timestamps_key": "t"})
    with pytest.raises(OptionError, match="auto cannot tell the format"):
        PrecomputedOptions.from_dict({**base, "rate_hz": 6, "pattern": "{video_id}.bin"})
    with pytest.raises(OptionError, match="modality"):
        PrecomputedOptions.from_dict({**base, "rate_hz": 6, "modality": "text"})
    with pytest.raises(OptionError, match="pattern"):
        PrecomputedOptions.from_dict({**base, "rate_hz": 6, "pattern": "features.npy"})
    assert PrecomputedOptions.from_dict({**base, "rate_hz": 6, "format": "pt",
                                         "pattern": "{video_id}.bin"}).file_format() == "pt"


def test_config_declares_the_modality_and_keeps_it(tmp_path):
    import yaml

    from eevflow.config import validate_config
    from eevflow.schema import SCHEMA

    cfg = yaml.safe_load(open(SCHEMA.parents[1] / "config.yaml"))
    cfg["extractors"]["pre"] = {"backend": "precomputed", "modality": "visual", "dim": 8,
                                "path": str(tmp_path), "rate_hz": 6}
    out = validate_config(cfg, SCHEMA)["extractors"]["pre"]
    assert out["modality"] == "visual" and out["resample"] == "nearest"
    del cfg["extractors"]["pre"]["modality"]
    with pytest.raises(ConfigError, match="modality"):
        validate_config(cfg, SCHEMA)


def test_label_videos_skips_missing_files_and_counts_them(tmp_path, caplog):
    feats = np.ones((12, DIM), np.float32)
    np.save(tmp_path / "v1.npy", feats)
    labels = pd.DataFrame({"video_id": ["v1"] * 12 + ["v2"] * 12,
                           "timestamp_us": np.r_[LABEL_US, LABEL_US]})
    labels.to_parquet(tmp_path / "labels.parquet")
    pd.DataFrame({"video_id": ["v1", "v2"], "status": ["missing", "missing"]}).to_parquet(
        tmp_path / "manifest.parquet")
    opts = {"backend": "precomputed", "modality": "visual", "dim": DIM, "path": str(tmp_path),
            "rate_hz": 6}
    ext = build_extractor("pre", opts)
    assert ext.modality == "visual" and not ext.reads_media and ext.dim == DIM
    with caplog.at_level(logging.WARNING):
        videos = list(ext.label_videos(tmp_path / "labels.parquet", tmp_path / "manifest.parquet"))
    assert [v.info.video_id for v in videos] == ["v1"]
    assert list(ext.skipped) == ["v2"] and "1 videos skipped" in caplog.text
    assert np.array_equal(ext.embed(videos[0]), feats)
    strict = build_extractor("pre", {**opts, "missing": "error"})
    with pytest.raises(FeatureFileError, match=r"v2\.npy: no such feature file for video v2"):
        list(strict.label_videos(tmp_path / "labels.parquet", tmp_path / "manifest.parquet"))
    assert ext.embed(LabelRows(LabelInfo("v1", [0]))).shape == (1, DIM)


# ---- the workflow: a run's features exported, read back through a precomputed extractor, and
# its model imported by a pretrained: variant; then the same features without any video


def _tiny(cfg_base):
    cfg = json.loads(json.dumps(cfg_base))
    cfg["n_shards"] = 1
    cfg["demo"].update(n_train=4, n_val=2, n_test=2)
    cfg["extractors"] = {"logmel64": cfg["extractors"]["logmel64"]}
    cfg["training_defaults"]["epochs"] = 6
    cfg["variants"] = {"orig": {"features": ["logmel64"]}}
    cfg["ensembles"], cfg["paper_tables"] = {}, {}
    return cfg


def _planned_jobs(workdir: Path) -> list[tuple[str, str]]:
    """(rule, its wildcards) of every job ``snakemake -n`` plans."""
    proc = snakemake(workdir, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout + proc.stderr
    return re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    wildcards: ([^\n]*)", text, re.M)


def _export(shards: list[Path], folder: Path) -> int:
    """Each video of the shards as <video>.npz: its embeddings and their timestamps (us)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in shards:
        for vid, ts, emb in iter_videos(path):
            np.savez(folder / f"{vid}.npz", features=emb, timestamps=ts)
            n += 1
    return n


METRICS = ["m_rho", "ccc"]


@pytest.mark.integration
def test_precomputed_features_and_a_pretrained_variant_reproduce_the_run(tmp_path):
    (tmp_path / "wf").mkdir()
    workdir, cfg = run_workflow(tmp_path / "wf", _tiny(tiny_config()))
    res = workdir / "results"
    feats = workdir / "exported"
    n = _export(sorted((res / "features" / "logmel64").glob("*/shard-*.parquet")), feats)
    assert n == 8  # every video of the 3 splits
    (workdir / "ckpt").mkdir()
    shutil.copy(res / "models" / "orig" / "model.pt", workdir / "ckpt" / "orig.pt")
    cfg["extractors"]["pre"] = {"backend": "precomputed", "modality": "audio", "dim": 64,
                                "path": "exported", "pattern": "{video_id}.npz",
                                "timestamps_key": "timestamps"}
    cfg["variants"]["orig_pre"] = {"features": ["pre"]}
    cfg["variants"]["orig_imp"] = {"features": ["logmel64"], "pretrained": "ckpt/orig.pt"}
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    jobs = _planned_jobs(workdir)
    trained = [w for rule, w in jobs if rule == "train"]
    assert trained == ["variant=orig_pre"], jobs
    assert ("import_pretrained", "variant=orig_imp") in jobs
    assert not [r for r, _ in jobs if r == "decode"]  # the precomputed extractor decodes nothing
    run_workflow(workdir, cfg)
    scores = pd.read_csv(res / "scores" / "scores.csv").set_index(["model", "split"])
    for split in ("val", "test"):
        for col in [c for c in scores.columns if c.startswith(("m_rho", "ccc", "r_"))]:
            assert scores.loc[("orig_pre", split), col] == scores.loc[("orig", split), col], col
        assert scores.loc[("orig_imp", split), "m_rho"] == scores.loc[("orig", split), "m_rho"]
    for split in ("val", "test"):
        a = pd.read_parquet(res / "predictions" / "orig" / f"{split}.parquet")
        b = pd.read_parquet(res / "predictions" / "orig_imp" / f"{split}.parquet")
        pd.testing.assert_frame_equal(a, b)
    history = json.loads((res / "models" / "orig_imp" / "training.json").read_text())
    assert history["imported"] and history["epochs"] == [] and history["trained_as"] == "orig"
    assert not (res / "logs" / "train" / "orig_imp.log").exists()

    # the same features without the videos: nothing decoded, every label row still predicted
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "videos").mkdir()
    demo = workdir / "results" / "demo" / "labels"
    cfg2 = _tiny(cfg)
    cfg2["demo"] = {"enabled": False}
    cfg2["data"] = {"videos_dir": "videos",
                    "labels": {s: str(demo / f"{s}.csv") for s in ("train", "val", "test")},
                    "test_ground_truth": str(demo / "test_ground_truth.csv")}
    cfg2["extractors"] = {"pre": {**cfg["extractors"]["pre"], "path": str(feats)}}
    cfg2["variants"] = {"pre_only": {"features": ["pre"]}}
    # drop reads the manifest's durations: a missing video has none, so nothing is dropped
    cfg2["probe"] = {**cfg2.get("probe", {}), "labels_past_end": "drop"}
    cfg2["report"] = {"thumbnails": 0}  # thumbnails are frames of the decoded videos
    run_workflow(bare, cfg2)
    out = bare / "results"
    manifest = pd.read_parquet(out / "manifest" / "test.parquet")
    assert (manifest["status"] == "missing").all() and not (out / "decoded").exists()
    labels = pd.read_parquet(out / "labels" / "test.parquet")
    pred = pd.read_parquet(out / "predictions" / "pre_only" / "test.parquet")
    assert len(pred) == len(labels) and set(pred["video_id"]) == set(labels["video_id"])
    fill = json.loads((out / "submission" / "pre_only.fill.json").read_text())
    assert not fill.get("filled_rows"), fill
    assert np.isfinite(pd.read_csv(out / "scores" / "scores.csv")["m_rho"]).all()
