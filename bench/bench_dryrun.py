"""Dry run of an EEV-sized dataset: how long Snakemake takes to plan it, and how many jobs it would
submit to a scheduler (videos are decoded one job per (split, shard), not one job per video).

Writes label CSVs of the real sizes (train 3,061 / val 755 / test 1,337 videos, --rows-per-video
rows each at 6 Hz; train/val with 15 scores, test with the ID and timestamp only, as released)
and configs/eev_paper.yaml pointed at them, then times ``snakemake --dry-run`` twice over:

* ``fresh``: nothing but the label files (no videos, nothing run yet), what a user sees first;
* ``checked``: after labels and download-check (one job per split and shard) and the merge of
  each split's shard manifests, with manifests that call every video ``ok`` (placeholder video
  files), so every job's input functions read the manifests.

    python bench/bench_dryrun.py --work /tmp/eev-dryrun --repeat 3

tests/test_dryrun.py runs the same two dry runs and checks the job counts.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import yaml

from eevflow.layout import Layout

REPO = Path(__file__).resolve().parents[1]
SIZES = {"train": 3061, "val": 755, "test": 1337}  # EEV 2021: 5,153 videos
ROWS_PER_VIDEO = 1500  # 4.2 min at 6 Hz, EEV's mean length


def write_labels(work: Path, rows_per_video: int, targets: list[str]) -> dict[str, str]:
    """EEV-format label CSVs of the real sizes; returns split -> path."""
    rng = np.random.default_rng(0)
    labels = {}
    for split, n in SIZES.items():
        ids = np.repeat([f"{split[:2]}{i:09d}" for i in range(n)], rows_per_video)
        ts = np.tile(np.round(np.arange(rows_per_video) * 1e6 / 6).astype(np.int64), n)
        cols = {"Video ID" if split == "test" else "YouTube ID": ids,
                "Timestamp (milliseconds)": ts}
        if split != "test":
            for t in targets:
                cols[t] = rng.random(len(ids), dtype=np.float32).round(3)
        path = work / f"{split}.csv"
        pacsv.write_csv(pa.table(cols), path)
        labels[split] = str(path)
    return labels


def prepare(work: Path, rows_per_video: int = ROWS_PER_VIDEO) -> Path:
    """Label files and the EEV config in ``work``; returns the config's path."""
    work.mkdir(parents=True, exist_ok=True)
    cfg = yaml.safe_load((REPO / "configs" / "eev_paper.yaml").read_text())
    labels = write_labels(work, rows_per_video, cfg["targets"])
    (work / "videos").mkdir(exist_ok=True)
    cfg["data"] = {"videos_dir": str(work / "videos"), "labels": labels,
                   "test_ground_truth": None}
    cfg["results_dir"] = str(work / "results")
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def mark_checked(work: Path) -> None:
    """What labels + download_check + merge_manifest would leave: parsed labels, a placeholder
    file per video, shard manifests (newer than both) that call every video ok and each split's
    merged manifest (newer still)."""
    from eevflow.labels import read_labels, write_labels_parquet
    from eevflow.shards import shard_of

    cfg = yaml.safe_load((work / "config.yaml").read_text())
    layout, videos = Layout(cfg["results_dir"]), Path(cfg["data"]["videos_dir"])
    durations = {}
    for split, path in cfg["data"]["labels"].items():
        df = read_labels(path, cfg["targets"], require_scores=split != "test")
        for vid in df["video_id"].unique():
            (videos / f"{vid}.mp4").touch()
        write_labels_parquet(df, layout.labels(split))
        durations[split] = df.groupby("video_id", sort=False)["timestamp_us"].max() / 1e6
    manifests = {}
    for split, dur in durations.items():
        manifests[split] = pd.DataFrame({
            "video_id": dur.index, "path": [str(videos / f"{v}.mp4") for v in dur.index],
            "status": "ok", "reason": "", "duration_s": dur.to_numpy(),
        })
    n_shards = cfg["n_shards"]
    time.sleep(1.1)  # shard manifests newer than the labels and videos
    for split, manifest in manifests.items():
        shard = np.array([shard_of(v, n_shards) for v in manifest["video_id"]])
        for k in range(n_shards):
            path = Path(layout.manifest_shard(split, f"{k:03d}"))
            path.parent.mkdir(parents=True, exist_ok=True)
            manifest[shard == k].to_parquet(path, index=False)
    time.sleep(1.1)  # merged manifests newer than the shards'
    for split, manifest in manifests.items():
        manifest.to_parquet(layout.manifest(split), index=False)


def dry_run(work: Path) -> tuple[float, dict[str, int]]:
    """Seconds for ``snakemake --dry-run`` on ``work``'s config, and its job count by rule."""
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "2",
        "--dry-run", "--quiet", "rules",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode:
        raise RuntimeError(f"snakemake --dry-run failed:\n{out[-3000:]}")
    return seconds, {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, re.M)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/eev-dryrun")
    ap.add_argument("--rows-per-video", type=int, default=ROWS_PER_VIDEO)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(args.work)
    t0 = time.perf_counter()
    prepare(work, args.rows_per_video)
    size_mb = sum(p.stat().st_size for p in work.glob("*.csv")) / 2**20
    print(f"wrote label CSVs ({size_mb:.0f} MiB) in {time.perf_counter() - t0:.0f} s")
    for stage in ("fresh", "checked"):
        if stage == "checked":
            mark_checked(work)
        runs = [dry_run(work) for _ in range(args.repeat)]
        times = sorted(t for t, _ in runs)
        counts = runs[-1][1]
        total = counts.pop("total")
        print(f"{stage}: dry run {', '.join(f'{t:.1f}' for t, _ in runs)} s"
              f" (median {times[len(times) // 2]:.1f} s)")
        print(f"  jobs by rule: {counts}; total {total}"
              f" ({total - counts.get('all', 0)} scheduler jobs)")


if __name__ == "__main__":
    main()
