"""The real workflow on messy data: good demo videos mixed with every kind of bad input from
tests/badmedia.py, a hostile ID, a missing file, a video list that disagrees with the label files,
a file no label names, a video that is a symlink into a store outside the videos directory, a test
label file saved with a BOM and CRLF line ends, labels that run 20 s past a video's end, a val
video whose rows are all undetected and a test video with a single label row. The run must
finish, say what it skipped and why, name every quirk in its reports, score the good videos and
write a submission that covers every test row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import badmedia
from eevflow.demo import DemoSpec, generate_demo
from eevflow.decoded_shard import load_video, video_files
from eevflow.labels import TIMESTAMP_HEADER, read_labels
from eevflow.shards import shard_of

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TARGETS = yaml.safe_load((REPO / "config.yaml").read_text())["targets"]

pytestmark = pytest.mark.integration

# bad kind -> split it is listed in (most in test, so the submission must cover them)
PLACED = {
    "truncated_faststart": "test",
    "truncated": "train",
    "garbled_middle": "test",
    "empty": "val",
    "text": "test",
    "audio_only": "train",
    "short_audio": "test",
    "no_audio": "test",
    "one_frame": "test",
    "half_second": "train",
    "vfr": "test",
    "rotated": "train",
    "odd_size": "test",
    "wide": "val",
    "unsupported_codec": "val",
}
HOSTILE_ID = "../escape"
KEPT = ("ok", "no_audio", "audio_short")  # statuses that are decoded and predicted by default
# good videos with a quirk that is not an error: video -> (split, label rows)
LINKED, PAST_END, UNDETECTED, ONE_ROW = "linked_store", "past_end", "all_undetected", "one_row"
QUIRKS = {LINKED: ("test", 18), PAST_END: ("test", 6 * 23), UNDETECTED: ("val", 18),
          ONE_ROW: ("test", 1)}


def _append_rows(
    path: Path, vid: str, n_rows: int, scores: bool, seed: int, zero: bool = False
) -> None:
    rng = np.random.default_rng(seed)
    lines = []
    for k in range(n_rows):
        row = [vid, str(round(k * 1e6 / 6))]
        if scores:
            values = np.zeros(len(TARGETS)) if zero else rng.uniform(0, 1, len(TARGETS))
            row += [f"{v:.4f}" for v in values]
        lines.append(",".join(row))
    with open(path, "a") as fh:
        fh.write("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    work = tmp_path_factory.mktemp("messy")
    data = work / "data"
    videos = data / "videos"
    labels = {s: str(data / f"{s}.csv") for s in ("train", "val", "test")}
    truth = data / "test_truth.csv"
    spec = DemoSpec(n_train=4, n_val=2, n_test=2, min_seconds=8, max_seconds=10, seed=5)
    generate_demo(videos, labels, str(truth), spec, jobs=2)
    expected = {}
    for i, (kind, split) in enumerate(PLACED.items()):
        vid = f"bad_{kind}"
        expected[vid] = (split, badmedia.KINDS[kind](videos / f"{vid}.mp4"))
    # a label-file video with no file, one with an ID that names no safe path, one left out of
    # the video list, a file no label names, and a list entry no label names
    expected["bad_missing"] = ("test", badmedia.Expect("missing", "downloading is off"))
    expected[HOSTILE_ID] = ("test", badmedia.Expect("invalid_id", "'../escape'"))
    badmedia.write_good(videos / "bad_unlisted.mp4")
    expected["bad_unlisted"] = ("val", badmedia.Expect("not_in_video_list", "data.video_list"))
    badmedia.write_good(videos / "orphan.mp4")
    for i, (vid, (split, _)) in enumerate(expected.items()):
        _append_rows(Path(labels[split]), vid, 18, scores=split != "test", seed=i)
        if split == "test":
            _append_rows(truth, vid, 18, scores=True, seed=i)
    store = work / "store"  # a shared store outside videos_dir, linked into it
    store.mkdir()
    badmedia.write_good(store / "shared_clip.mp4")
    (videos / f"{LINKED}.mp4").symlink_to(store / "shared_clip.mp4")
    for vid in (PAST_END, UNDETECTED, ONE_ROW):
        badmedia.write_good(videos / f"{vid}.mp4")  # 3 s each
    for i, (vid, (split, n)) in enumerate(QUIRKS.items()):
        expected[vid] = (split, badmedia.Expect("ok", ""))
        zero = vid == UNDETECTED
        _append_rows(Path(labels[split]), vid, n, scores=split != "test", seed=50 + i, zero=zero)
        if split == "test":
            _append_rows(truth, vid, n, scores=True, seed=50 + i)
    # the test label file as a spreadsheet saves it: UTF-8 BOM and CRLF line ends
    text = Path(labels["test"]).read_text()
    Path(labels["test"]).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    ids = [v for s in ("train", "val", "test") for v in read_labels(
        labels[s], TARGETS, require_scores=False)["video_id"].unique()]
    (data / "videos.txt").write_text(
        "# video list\n" + "\n".join(v for v in ids if v != "bad_unlisted") + "\nlisted_only\n"
    )

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"] = {"enabled": False}
    cfg["results_dir"] = "results"
    cfg["data"] = {
        "videos_dir": str(videos),
        "labels": labels,
        "test_ground_truth": str(truth),
        "video_list": str(data / "videos.txt"),
    }
    cfg["n_shards"] = 1
    cfg["extractors"] = {k: cfg["extractors"][k] for k in ("effnet_lite0", "logmel64")}
    cfg["model_defaults"]["tcn"]["channels"] = 16
    cfg["training_defaults"]["epochs"] = 5
    cfg["variants"] = {
        "visual": {"features": ["effnet_lite0"]},
        "audio": {"features": ["logmel64"]},
        "av": {"features": ["effnet_lite0", "logmel64"]},
    }
    cfg["paper_tables"] = {}  # config.yaml's name the demo's variants
    cfg["ensembles"] = {"ens": {"members": {"visual": 0.8, "audio": 0.2}}}
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [
        str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory", str(work),
        "--configfile", str(work / "config.yaml"), "--cores", "2",
    ]
    env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-6000:]
    return work, labels, expected


def test_every_bad_video_has_its_status_and_reason(messy):
    work, _, expected = messy
    manifest = pd.concat(
        [pd.read_parquet(work / "results" / "manifest" / f"{s}.parquet") for s in
         ("train", "val", "test")]
    ).set_index("video_id")
    for vid, (_, want) in expected.items():
        row = manifest.loc[vid]
        assert row["status"] == want.status, (vid, row["status"], row["reason"])
        assert want.reason in row["reason"], (vid, row["reason"])
    good = manifest[manifest.index.str.startswith("demo") | manifest.index.isin(["bad_vfr"])]
    assert (good["status"] == "ok").all()


def test_dataset_report_names_every_mismatch(messy):
    work, _, expected = messy
    report = json.loads((work / "results" / "manifest" / "report.json").read_text())
    assert report["video_list_not_in_labels"] == ["listed_only"]
    assert "orphan" in report["videos_dir_not_in_labels"]
    excluded = {v for split in report["excluded"].values() for v in split}
    assert excluded == {v for v, (_, e) in expected.items() if e.status not in KEPT}
    assert report["no_audio"]["test"] == ["bad_no_audio"]
    assert list(report["audio_short"]["test"]) == ["bad_short_audio"]
    assert report["labels_past_end"]["test"] == {
        PAST_END: {"rows_past_end": 6 * 23 - 22, "rows": 6 * 23, "duration_s": 3.0}
    }
    assert all(not v for s, v in report["labels_past_end"].items() if s != "test")
    used = report["splits"]["test"]["used"]
    assert report["splits"]["test"]["by_decoder"] == {"pyav": used}
    md = (work / "results" / "manifest" / "report.md").read_text()
    assert "listed_only" in md and "bad_garbled_middle" in md
    assert "- `bad_short_audio`: audio track ends at 1.0" in md
    assert f"- `{PAST_END}`: 116 of 138 rows after 3.00 s" in md


def test_quirky_but_good_videos_are_used_and_named(messy):
    """The symlinked video is probed and decoded through its link; the BOM + CRLF test file reads
    the same IDs as a plain one; the short-audio video is decoded padded with silence; the
    unscorable videos are named in the score report and left out of M_rho."""
    work, labels, _ = messy
    manifest = pd.read_parquet(work / "results" / "manifest" / "test.parquet")
    linked = manifest.set_index("video_id").loc[LINKED]
    assert linked["status"] == "ok" and linked["path"].endswith(f"videos/{LINKED}.mp4")
    assert Path(linked["path"]).is_symlink()
    assert {LINKED, PAST_END, ONE_ROW, "bad_short_audio"} <= set(manifest["video_id"])
    shard = work / "results" / "decoded" / "test" / f"shard-{shard_of('bad_short_audio', 1):03d}"
    meta = json.loads(video_files(shard, "bad_short_audio")["meta"].read_text())
    assert meta["audio_padded_samples"] > 1.5 * meta["sample_rate"]
    assert meta["n_samples"] == 3 * meta["sample_rate"]
    unscorable = json.loads((work / "results" / "scores" / "unscorable.json").read_text())
    assert unscorable["unscorable"] == "exclude"
    for model in ("visual", "audio", "av", "ens"):
        assert unscorable["videos"]["val"][model] == {UNDETECTED: "all 18 rows undetected"}
        assert unscorable["videos"]["test"][model] == {ONE_ROW: "1 label row"}
    md = (work / "results" / "scores" / "scores.md").read_text()
    assert UNDETECTED in md and ONE_ROW in md and "all 18 rows undetected" in md


def test_good_videos_are_scored_and_the_no_audio_video_is_predicted(messy):
    work, _, expected = messy
    scores = pd.read_csv(work / "results" / "scores" / "scores.csv")
    test_scores = scores[scores["split"] == "test"].set_index("model")
    usable_test = 2 + sum(1 for s, e in expected.values() if s == "test" and e.status in KEPT)
    usable_test -= 1  # the one-row video cannot be scored
    assert set(test_scores.index) == {"visual", "audio", "av", "ens"}
    assert (test_scores["n_videos"] == usable_test).all()
    assert np.isfinite(test_scores["m_rho"]).all()
    for model in ("visual", "audio", "av", "ens"):
        pred = pd.read_parquet(work / "results" / "predictions" / model / "test.parquet")
        assert "bad_no_audio" in set(pred["video_id"])
    shard = work / "results" / "decoded" / "test" / f"shard-{shard_of('bad_no_audio', 1):03d}"
    audio = load_video(shard, "bad_no_audio", "audio").audio
    assert len(audio) > 0 and not audio.any()  # it heard silence


def test_submission_covers_every_test_row_in_order(messy):
    work, labels, expected = messy
    test = read_labels(labels["test"], TARGETS, require_scores=False)
    excluded_test = {
        v for v, (s, e) in expected.items() if s == "test" and e.status not in KEPT
    }
    for model in ("visual", "audio", "av", "ens"):
        sub = pd.read_csv(work / "results" / "submission" / f"{model}.csv", dtype={0: str})
        assert list(sub.columns) == ["Video ID", TIMESTAMP_HEADER, *TARGETS]
        assert sub["Video ID"].tolist() == test["video_id"].tolist()
        assert sub[TIMESTAMP_HEADER].tolist() == test["timestamp_us"].tolist()
        assert np.isfinite(sub[TARGETS].to_numpy()).all()
        fill = json.loads((work / "results" / "submission" / f"{model}.fill.json").read_text())
        assert set(fill["filled_videos"]) == excluded_test
        assert fill["filled_rows"] == 18 * len(excluded_test)
        assert fill["rows"] == len(test)


def test_nothing_escaped_the_results_and_videos_directories(messy):
    work, _, _ = messy
    assert not (work / "escape").exists() and not (work / "data" / "escape").exists()
    assert not list(work.glob("results/decoded/**/escape*"))
