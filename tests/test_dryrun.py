"""An EEV-sized dry run (configs/eev_paper.yaml on 5,153 video IDs, real-sized label files written
here, no videos): Snakemake plans it, and the plan is one a scheduler can take: download_check and
decode one job per (split, shard), not one per video. The time is printed, not asserted (figures in BENCHMARKS.md,
from bench/bench_dryrun.py, which this test shares)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
import bench_dryrun  # noqa: E402

pytestmark = pytest.mark.integration


def test_an_eev_sized_dataset_plans_a_job_count_a_scheduler_can_take(tmp_path):
    cfg_path = bench_dryrun.prepare(tmp_path)
    cfg = yaml.safe_load(cfg_path.read_text())
    n_videos = sum(bench_dryrun.SIZES.values())
    assert n_videos == 5153
    labels = Path(cfg["data"]["labels"]["train"])
    assert labels.stat().st_size > 300 * 2**20  # 4.6 M rows x 15 scores, as EEV's train.csv
    shards, n_ext = cfg["n_shards"], len(cfg["extractors"])
    models = len(cfg["variants"]) + len(cfg["ensembles"])

    # fresh: only label files, no videos; the whole plan is known before download_check runs
    seconds, fresh = bench_dryrun.dry_run(tmp_path)
    print(f"\nEEV-sized dry run, fresh: {seconds:.1f} s, {fresh}")
    assert fresh["labels"] == 3 and fresh["merge_manifest"] == 3
    assert fresh["download_check"] == fresh["decode"] == 3 * shards  # not 5,153
    assert fresh["extract"] == n_ext * 3 * shards
    assert fresh["train"] == len(cfg["variants"]) and fresh["submission"] == models
    assert fresh["total"] == sum(v for k, v in fresh.items() if k != "total")
    assert fresh["total"] < 250 and max(fresh[k] for k in fresh if k != "total") < n_videos / 50

    # after download_check: every job's input now comes from the 5,153 videos' manifests
    bench_dryrun.mark_checked(tmp_path)
    seconds, checked = bench_dryrun.dry_run(tmp_path)
    print(f"EEV-sized dry run, after download_check: {seconds:.1f} s, {checked}")
    assert not {"labels", "download_check", "merge_manifest"} & set(checked)
    assert checked["decode"] == 3 * shards and checked["extract"] == n_ext * 3 * shards
    assert checked["total"] == fresh["total"] - 3 - 3 * shards - 3
