"""One long video through the real workflow: a 10-minute 720p file (25 fps H.264 with AAC sound,
generated with ffmpeg) as the whole test split, decoded, embedded by both offline extractors and
predicted by a small TCN trained on short demo videos.

What it checks, beyond "it runs": every one of the 3,600 label rows gets the frame on screen at its
time (frame k*25/6, no drift over 10 minutes), the sound covers the video, each job's peak memory
(``max_rss`` of its ``benchmark:`` file) stays inside the ``mem_mb`` its rule asked for (the job's
log records what it was given), and the predictions cover every row. The figures are printed
(``pytest -s tests/test_long_video.py``) and recorded in BENCHMARKS.md ("One long video").
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from eevflow.decoding import DecodeInfo
from eevflow.demo import DemoSpec, generate_demo
from eevflow.layout import Layout

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
LONG_ID = "long_720p_10min"
SECONDS, FPS, RATE_HZ = 600, 25, 6
ROWS = SECONDS * RATE_HZ
VARIANT = "tcn_av"

pytestmark = pytest.mark.integration


def make_long_video(path: Path, seconds: int = SECONDS) -> None:
    """10 minutes of FFmpeg's testsrc2 at 1280x720, 25 fps, with a 440 Hz tone (AAC, 44.1 kHz):
    the lavfi sources and encoders of PyAV's own FFmpeg (no ffmpeg command needed), H.264
    ultrafast, CRF 32, a keyframe every 10 s; audio interleaved with the video by time."""
    import av

    src = av.open(f"testsrc2=size=1280x720:rate={FPS}:duration={seconds}", format="lavfi")
    snd = av.open(f"sine=frequency=440:sample_rate=44100:duration={seconds}", format="lavfi")
    resample = av.AudioResampler(format="fltp", layout="mono", rate=44100, frame_size=1024)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "32"})
        v.width, v.height, v.pix_fmt = 1280, 720, "yuv420p"
        v.codec_context.gop_size = 10 * FPS
        a = out.add_stream("aac", rate=44100, layout="mono")
        a.bit_rate = 64000

        def audio_until(t):  # encode the tone's frames up to t seconds (None: to the end)
            nonlocal sent
            while sent is not None and (t is None or sent < t):
                try:
                    frame = next(tone)
                except StopIteration:
                    frame, sent = None, None
                for f in resample.resample(frame):
                    out.mux(a.encode(f))
                    sent = None if sent is None else sent + f.samples / 44100
            out.mux(a.encode(None) if t is None else [])

        tone, sent = snd.decode(audio=0), 0.0
        for i, frame in enumerate(src.decode(video=0)):
            out.mux(v.encode(frame.reformat(format="yuv420p")))
            audio_until((i + 1) / FPS)
        out.mux(v.encode(None))
        audio_until(None)
    src.close()
    snd.close()


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("long")
    videos = work / "data" / "videos"
    labels = {s: str(work / "data" / f"{s}.csv") for s in ("train", "val", "test")}
    spec = DemoSpec(n_train=4, n_val=2, n_test=1, min_seconds=8, max_seconds=10, seed=11)
    generate_demo(videos, labels, str(work / "data" / "truth.csv"), spec, jobs=2)
    make_long_video(videos / f"{LONG_ID}.mp4")
    # the test split is the long video alone: 3,600 rows at 6 Hz, as EEV's test file (no scores)
    header = Path(labels["test"]).read_text().splitlines()[0]
    stamps = np.round(np.arange(ROWS) * 1e6 / RATE_HZ).astype(np.int64)
    Path(labels["test"]).write_text(
        header + "\n" + "".join(f"{LONG_ID},{t}\n" for t in stamps)
    )

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"] = {"enabled": False}
    cfg["results_dir"] = "results"
    cfg["data"] = {"videos_dir": str(videos), "labels": labels}
    cfg["n_shards"] = 1
    cfg["extractors"] = {k: cfg["extractors"][k] for k in ("effnet_lite0", "logmel64")}
    cfg["model_defaults"]["tcn"]["channels"] = 16
    cfg["training_defaults"]["epochs"] = 3
    cfg["variants"] = {VARIANT: {"features": ["effnet_lite0", "logmel64"]}}
    cfg["paper_tables"] = {}  # config.yaml's name the demo's variants
    cfg["ensembles"] = {}
    cfg["validation"] = {"weights_holdout": 0}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    layout = Layout("results")
    target = layout.predictions(VARIANT, "test")
    cmd = [
        str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
        "--configfile", str(work / "config.yaml"), "--cores", "2", target,
    ]
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=2400)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return work, Layout(str(work / "results"))


def _job(layout: Layout, rule: str, *parts: str, shard: str | None = None) -> dict:
    """A job's peak RSS and time (its benchmark file) and the mem_mb it was given (its log)."""
    bench = pd.read_csv(layout.benchmark(rule, *parts, shard=shard), sep="\t")
    log = Path(layout.log(rule, *parts, shard=shard)).read_text()
    asked = re.search(r"job resources: .*mem_mb=(\d+)", log)
    assert asked, f"{rule} {parts}: its log does not record the job's resources"
    return {"job": " ".join((rule, *parts, *([shard] if shard else []))),
            "seconds": float(bench["s"].iloc[0]), "max_rss_mb": float(bench["max_rss"].iloc[0]),
            "mem_mb_asked": int(asked.group(1))}


def test_every_row_of_the_long_video_shows_its_frame(long_run):
    work, layout = long_run
    meta = Path(layout.decoded("test", "000")) / LONG_ID / "meta.json"
    info = DecodeInfo(**json.loads(meta.read_text()))
    assert len(info.timestamps_us) == ROWS and info.width == 1280 and info.height == 720
    assert info.n_frames == SECONDS * FPS
    # row k at k/6 s shows frame floor(k * 25 / 6): exact over the whole 10 minutes
    k = np.arange(ROWS)
    assert np.array_equal(np.asarray(info.frame_indices), (k * FPS) // RATE_HZ)
    assert info.rows_past_end == 0 and info.audio_source == "stream"
    assert abs(info.n_samples / info.sample_rate - SECONDS) < 0.1


def test_predictions_cover_every_row(long_run):
    work, layout = long_run
    pred = pd.read_parquet(layout.predictions(VARIANT, "test"))
    assert len(pred) == ROWS and set(pred["video_id"]) == {LONG_ID}
    assert np.isfinite(pred.drop(columns=["video_id", "timestamp_us"]).to_numpy()).all()
    for ext in ("effnet_lite0", "logmel64"):
        emb = pd.read_parquet(layout.features(ext, "test", "000"))
        assert len(emb) == ROWS


def test_each_job_stays_inside_the_memory_it_asked_for(long_run):
    work, layout = long_run
    jobs = [
        _job(layout, "decode", "test", shard="000"),
        _job(layout, "extract", "effnet_lite0", "test", shard="000"),
        _job(layout, "extract", "logmel64", "test", shard="000"),
        _job(layout, "predict", VARIANT, "test"),
    ]
    print("\n" + pd.DataFrame(jobs).to_string(index=False))
    for job in jobs:
        assert job["max_rss_mb"] < job["mem_mb_asked"], job
