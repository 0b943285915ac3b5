"""Predicting a new video with a model trained on the clip stream (S3D MIL-NCE, eevflow.clips) and
on subtitles (text_subtitles): ``eevflow predict`` decodes the new video's clip grid with the
settings its features were made with and reads the subtitle file beside the video, and gives the
numbers the workflow's predict rule gives for the same video. Tiny SavedModels with the real
modules' signatures sit at the real handles' TF Hub cache folders (tests/test_clips.py,
tests/test_subtitles.py); the network is not used."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from eevflow.labels import TIMESTAMP_HEADER
from eevflow.layout import Layout
from tests.test_workflow import snakemake, tiny_config

pytestmark = pytest.mark.integration

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_hub")
pytest.importorskip("tensorflow_text")

from test_clips import URL as S3D_URL, FakeS3D  # noqa: E402
from test_subtitles import FakeBert, FakePreprocess, _save  # noqa: E402

from eevflow.features.text_subtitles_options import (  # noqa: E402
    BERT_BASE_URL,
    BERT_PREPROCESS_URL,
)

EEVFLOW = Path(sys.executable).with_name("eevflow")
VARIANT = "tcn_clip_text"
LINES = ["what a goal", "oh no", "look at that", "hello there", "the end"]


def _cache(root: Path) -> Path:
    """The three models at their handles' TF Hub cache folders."""
    cache = root / "tfhub_cache"
    s3d = FakeS3D()
    tf.saved_model.save(s3d, str(cache / hashlib.sha1(S3D_URL.encode()).hexdigest()),
                        signatures={"video": s3d.video})
    spec = {k: tf.TensorSpec([None, 128], tf.int32)
            for k in ("input_word_ids", "input_mask", "input_type_ids")}
    _save(FakePreprocess(), cache / hashlib.sha1(BERT_PREPROCESS_URL.encode()).hexdigest())
    _save(FakeBert(), cache / hashlib.sha1(BERT_BASE_URL.encode()).hexdigest(),
          ((spec,), {"training": False}), ((spec,), {"training": True}))
    return cache


def vtt(seed: int) -> str:
    """A subtitle file with a line every 2 s (each video its own lines)."""
    cues = ["WEBVTT", ""]
    for k in range(6):
        line = LINES[(seed + k) % len(LINES)]
        cues += [f"00:00:{2 * k:02d}.200 --> 00:00:{2 * k + 1:02d}.400", line, ""]
    return "\n".join(cues)


def config() -> dict:
    cfg = tiny_config()
    cfg["demo"].update(n_train=4, n_val=2, n_test=2, min_seconds=10, max_seconds=12)
    cfg["n_shards"] = 1
    cfg["training_defaults"]["epochs"] = 4
    cfg["clips"] = {"fps": 10, "frame_size": 32, "store": "compressed", "threads": 1}
    cfg["extractors"] = {
        "logmel64": cfg["extractors"]["logmel64"],
        "s3d": {"backend": "s3d_clip", "frames": 8, "stride": 2},
        "subs": {"backend": "text_subtitles", "window_s": 0.25},
    }
    cfg["variants"] = {VARIANT: {"features": ["s3d", "subs", "logmel64"]}}
    cfg["ensembles"] = {}
    cfg["validation"] = {"weights_holdout": 0.0}
    return cfg


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("streams")
    mp = pytest.MonkeyPatch()
    mp.setenv("TFHUB_CACHE_DIR", str(_cache(root)))
    mp.setenv("KAGGLEHUB_CACHE", str(root / "kagglehub"))
    mp.setenv("EEVFLOW_HUB_OFFLINE", "1")
    mp.delenv("TFHUB_MODEL_LOAD_FORMAT", raising=False)
    workdir, cfg = root / "wf", config()
    workdir.mkdir()
    (workdir / "config.yaml").write_text(yaml.safe_dump(cfg))
    # the demo's videos first, then a subtitle file beside each, then the whole workflow
    proc = snakemake(workdir, *[f"results/manifest/{s}.parquet" for s in ("train", "val", "test")])
    assert proc.returncode == 0, proc.stderr[-4000:]
    videos = sorted(p for p in (workdir / cfg["data"]["videos_dir"]).iterdir()
                    if p.suffix == ".mp4")
    for k, video in enumerate(videos):
        video.with_suffix(".vtt").write_text(vtt(k))
    proc = snakemake(workdir)
    assert proc.returncode == 0, proc.stderr[-6000:]
    yield workdir, cfg
    mp.undo()


def _test_video(workdir, cfg):
    layout = Layout(str(workdir / cfg["results_dir"]))
    truth = pd.read_parquet(layout.predictions(VARIANT, "test"))
    vid = truth["video_id"].iloc[0]
    video = workdir / cfg["data"]["videos_dir"] / f"{vid}.mp4"
    return layout, truth[truth["video_id"] == vid].reset_index(drop=True), vid, video


def _predict(model, video, out) -> tuple[subprocess.CompletedProcess, pd.DataFrame | None]:
    proc = subprocess.run([str(EEVFLOW), "predict", str(video), "--model", str(model), "--out",
                           str(out), "--threads", "2"], capture_output=True, text=True,
                          timeout=900)
    csv = Path(out) / f"{Path(video).stem}.csv"
    return proc, pd.read_csv(csv) if csv.is_file() else None


def test_checkpoint_records_the_clip_stream(run):
    workdir, cfg = run
    layout, _, _, _ = _test_video(workdir, cfg)
    inputs = torch.load(layout.model(VARIANT), weights_only=True)["inputs"]
    assert inputs["s3d"]["clips"] == {"clip_fps": 10.0, "frame_size": 32, "store": "compressed",
                                      "backend": "pyav", "jpeg_quality": 90,
                                      "jpeg_subsampling": "4:2:0"}
    assert inputs["s3d"]["extractor"]["frames"] == 8 and "decode" in inputs["s3d"]
    assert "decode" not in inputs["subs"] and "clips" not in inputs["subs"]


def test_new_video_gets_the_predict_rules_numbers_and_reads_its_subtitles(run, tmp_path):
    workdir, cfg = run
    layout, want, vid, video = _test_video(workdir, cfg)
    targets = cfg["targets"]
    # the video and its subtitle file copied to a folder of their own, as a user's would be
    new = tmp_path / "new"
    new.mkdir()
    shutil.copy(video, new / video.name)
    shutil.copy(video.with_suffix(".vtt"), new / f"{vid}.vtt")
    proc, got = _predict(layout.model(VARIANT), new / video.name, tmp_path / "out")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert got[TIMESTAMP_HEADER].tolist() == want["timestamp_us"].tolist()
    diff = np.abs(got[targets].to_numpy() - want[targets].to_numpy(np.float64))
    assert diff.max() <= 5.1e-7, diff.max()  # the CSV's 6 decimals: the same numbers
    # without its subtitle file the text rows are zeros: a warning, and other numbers
    (new / f"{vid}.vtt").unlink()
    proc, bare = _predict(layout.model(VARIANT), new / video.name, tmp_path / "bare")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "no subtitle file" in proc.stderr and str(new) in proc.stderr
    assert np.abs(bare[targets].to_numpy() - got[targets].to_numpy()).max() > 1e-3


def test_predict_videos_target_lists_the_subtitle_file(run, tmp_path):
    workdir, cfg = run
    layout, want, vid, video = _test_video(workdir, cfg)
    new = tmp_path / "mine"
    new.mkdir()
    shutil.copy(video, new / video.name)
    sub = new / f"{vid}.en.vtt"
    sub.write_text(video.with_suffix(".vtt").read_text())
    args = ("predict_videos", "--config", f"predict={{videos: {new}, models: [{VARIANT}]}}")
    proc = snakemake(workdir, *args)
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = pd.read_csv(layout.new_video(VARIANT, vid, "csv"))
    targets = cfg["targets"]
    assert np.abs(got[targets].to_numpy() - want[targets].to_numpy(np.float64)).max() <= 5.1e-7
    proc = snakemake(workdir, *args, "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    sub.write_text(vtt(3))  # a changed subtitle file predicts the video again
    proc = snakemake(workdir, *args, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "rule predict_video" in proc.stdout + proc.stderr


def _ckpt(inputs):
    return {"settings": {"features": list(inputs)}, "inputs": inputs}


def test_feature_inputs_say_what_a_clip_or_subtitles_feature_lacks():
    from eevflow.feature_inputs import MissingExtractorError, resolve

    decode = {"frame_size": 32, "store": "raw"}
    subs = {"extractor": {"backend": "text_subtitles"}}
    # subtitles only: no media read, the decode defaults (for the timeline's thumbnails)
    found = resolve(_ckpt({"subs": subs}), "m.pt")
    assert found.decode == {} and found.clips == {} and found.extractors[0][0] == "subs"
    s3d = {"extractor": {"backend": "s3d_clip"}, "decode": decode}
    with pytest.raises(MissingExtractorError, match="'s3d' reads the clip stream.*clips: block"):
        resolve(_ckpt({"s3d": s3d}), "m.pt")
    clips = {"clip_fps": 10.0, "frame_size": 32, "store": "raw", "backend": "pyav"}
    found = resolve(_ckpt({"s3d": {**s3d, "clips": clips}, "subs": subs}), "m.pt")
    assert found.decode == decode and found.clips == {"s3d": clips}
    # a checkpoint that records nothing: the config's extractors, decode and clips blocks
    cfg = {"extractors": {"s3d": {"backend": "s3d_clip"}}, "decode": {"frame_size": 32},
           "clips": {"fps": 5, "frame_size": 48, "store": "compressed"}}
    found = resolve({"settings": {"features": ["s3d"]}}, "m.pt", cfg)
    assert found.clips["s3d"] == {"clip_fps": 5.0, "frame_size": 48, "store": "compressed",
                                  "backend": "pyav", "jpeg_quality": 90,
                                  "jpeg_subsampling": "4:2:0"}
    with pytest.raises(MissingExtractorError, match="'x'.*unknown extractor backend 'nope'"):
        resolve(_ckpt({"x": {"extractor": {"backend": "nope"}, "decode": decode}}), "m.pt")
