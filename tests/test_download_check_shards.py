"""download_check per (split, shard): the shard's IDs, the merge of a split's shard manifests into
the split's manifest (label-file order, the same rows as one check over the whole split), the
job's resources from its number of videos, and the real workflow: a decode shard waits for its
own shard's check only, and the merged manifest is what one check of the whole split wrote."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import badmedia
from eevflow.labels import TIMESTAMP_HEADER
from eevflow.layout import Layout
from eevflow.manifest import check_videos, manifest_columns, merge_manifests, shard_ids
from eevflow.resources import download_check_resources
from eevflow.shards import shard_of

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TARGETS = yaml.safe_load((REPO / "config.yaml").read_text())["targets"]


def test_shard_ids_follow_shard_of_and_keep_the_order():
    ids = [f"v{i:03d}" for i in range(60)] + ["../escape", "a b"]
    parts = [shard_ids(ids, s, 4) for s in range(4)]
    assert sorted(v for p in parts for v in p) == sorted(ids)  # each ID in exactly one shard
    for s, part in enumerate(parts):
        assert part == [v for v in ids if shard_of(v, 4) == s] and part
    assert shard_ids(ids, 0, 1) == ids


@pytest.fixture
def videos(tmp_path):
    d = tmp_path / "videos"
    d.mkdir()
    for name, writer in (("good1", badmedia.write_good), ("good2", badmedia.write_good),
                         ("short", badmedia.write_short_audio), ("silent", badmedia.write_no_audio),
                         ("text", badmedia.write_text), ("unlisted", badmedia.write_good)):
        writer(d / f"{name}.mp4")
    return d


IDS = ["good1", "text", "nofile", "../escape", "short", "silent", "unlisted", "good2"]


def test_merged_shards_are_the_manifest_of_one_check_over_the_split(videos):
    listed = set(IDS) - {"unlisted"}
    whole = check_videos(IDS, str(videos), [".mp4"], video_list=listed)
    parts = [
        check_videos(shard_ids(IDS, s, 3), str(videos), [".mp4"], video_list=listed)
        for s in range(3)
    ]
    assert sorted(len(p) for p in parts) != [0, 0, len(IDS)]  # really split
    merged = merge_manifests(parts[::-1], IDS)  # any shard order: label-file order comes out
    assert merged["video_id"].tolist() == IDS and list(merged.columns) == manifest_columns()
    pd.testing.assert_frame_equal(merged, whole)
    assert dict(zip(merged["video_id"], merged["status"])) == {
        "good1": "ok", "text": "corrupt", "nofile": "missing", "../escape": "invalid_id",
        "short": "audio_short", "silent": "no_audio", "unlisted": "not_in_video_list",
        "good2": "ok",
    }


def test_an_empty_shard_and_shards_that_do_not_match_the_labels(videos):
    empty = check_videos([], str(videos), [".mp4"])
    assert list(empty.columns) == manifest_columns() and empty.empty
    one = check_videos(["good1"], str(videos), [".mp4"])
    merged = merge_manifests([empty, one, empty], ["good1"])
    assert merged["has_audio"].dtype == bool and merged["n_frames"].dtype == np.int64
    assert merge_manifests([empty], []).empty
    with pytest.raises(ValueError, match=r"1 video\(s\) in no shard manifest: good2"):
        merge_manifests([one], ["good1", "good2"])
    with pytest.raises(ValueError, match=r"in two shard manifests: good1"):
        merge_manifests([one, one], ["good1"])
    with pytest.raises(ValueError, match=r"in a shard manifest but not in the label file: good1"):
        merge_manifests([one], [])


def test_download_check_resources_grow_with_the_shard_and_with_downloads():
    small, eev = download_check_resources(10), download_check_resources(3061 // 16)
    assert small["runtime"] < eev["runtime"] <= 60 and small["mem_mb"] == eev["mem_mb"]
    assert download_check_resources(0) == {"mem_mb": 1500, "runtime": 5}
    fetch = download_check_resources(191, download=True, min_interval_s=1.0, parallel_jobs=16)
    # each video: its download (60 s) and a wait for each of 16 jobs' starts (1 s apart)
    assert fetch["runtime"] - eev["runtime"] == pytest.approx(191 * (60 + 16) / 60, abs=2)


def _write_labels(path: Path, split: str, ids: list[str], rows: int = 18) -> None:
    id_col = "Video ID" if split == "test" else "YouTube ID"
    cols = [id_col, TIMESTAMP_HEADER] + ([] if split == "test" else TARGETS)
    rng = np.random.default_rng(len(ids))
    lines = [",".join(cols)]
    for vid in ids:
        for k in range(rows):
            scores = [] if split == "test" else [f"{v:.3f}" for v in rng.uniform(0, 1, len(TARGETS))]
            lines.append(",".join([vid, str(round(k * 1e6 / 6)), *scores]))
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.integration
def test_a_decode_shard_waits_for_its_own_check_and_the_merge_is_the_whole_split(videos, tmp_path):
    """The real workflow, n_shards 2: asking for one decoded shard runs that shard's
    download_check only; asking for the dataset report then checks the other shards and merges
    each split's manifest, which is check_videos over the whole split (label-file order)."""
    data = tmp_path / "data"
    data.mkdir()
    splits = {"train": ["good1", "text", "nofile", "silent"], "val": ["good2", "unlisted"],
              "test": IDS}
    labels = {s: str(data / f"{s}.csv") for s in splits}
    for s, ids in splits.items():
        _write_labels(Path(labels[s]), s, ids)
    listed = sorted({v for ids in splits.values() for v in ids} - {"unlisted"})
    (data / "videos.txt").write_text("\n".join(listed) + "\n")
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"] = {"enabled": False}
    cfg["results_dir"] = "results"
    cfg["data"] = {"videos_dir": str(videos), "labels": labels, "test_ground_truth": None,
                   "video_list": str(data / "videos.txt"), "video_extensions": [".mp4"]}
    cfg["n_shards"] = 2
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    L = Layout("results")  # as the config names it: paths under the run directory
    shard = f"{shard_of('good1', 2):03d}"  # a shard with a decodable test video

    def snakemake(*targets: str) -> None:
        cmd = [str(SNAKEMAKE), "--snakefile", str(REPO / "Snakefile"), "--directory",
               str(tmp_path), "--configfile", str(tmp_path / "config.yaml"), "--cores", "2",
               *targets]
        env = {**os.environ, "PATH": f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}"}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
        assert proc.returncode == 0, proc.stderr[-6000:]
        print(f"snakemake {' '.join(targets)}: {time.perf_counter() - t0:.0f} s")

    snakemake(L.decoded("test", shard))
    checked = sorted(p.relative_to(tmp_path / "results") for p in
                     (tmp_path / "results" / "manifest").rglob("*.parquet"))
    assert checked == [Path(f"manifest/test/shard-{shard}.parquet")]
    assert os.path.isdir(tmp_path / L.decoded("test", shard))
    part = pd.read_parquet(tmp_path / L.manifest_shard("test", shard))
    assert part["video_id"].tolist() == shard_ids(IDS, int(shard), 2)
    assert 0 < len(part) < len(IDS)

    snakemake(L.dataset_report("md"))
    for s, ids in splits.items():
        merged = pd.read_parquet(tmp_path / L.manifest(s))
        whole = check_videos(ids, str(videos), [".mp4"], video_list=set(listed))
        assert merged["video_id"].tolist() == ids
        pd.testing.assert_frame_equal(merged.drop(columns="rows"), whole.drop(columns="rows"))
        assert (merged["rows"] == 18).all()
        for k in range(2):
            part = pd.read_parquet(tmp_path / L.manifest_shard(s, f"{k:03d}"))
            assert part["video_id"].tolist() == (
                shard_ids(ids, k, 2))
    report = (tmp_path / L.dataset_report("md")).read_text()
    assert "`nofile`: missing: no file nofile" in report
    assert "`unlisted`: not_in_video_list" in report
