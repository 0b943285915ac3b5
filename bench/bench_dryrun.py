"""Dry run of an EEV-sized dataset: how long Snakemake takes to plan it, and how many jobs (and,
with decode jobs grouped, how many scheduler jobs) it would submit.

Writes label CSVs of the real sizes (train 3,061 / val 755 / test 1,337 videos, --rows-per-video
rows each at 6 Hz; train/val with 15 scores, test with the ID and timestamp only, as released),
the parsed label tables and download-check manifests that call every video ``ok`` (with empty
placeholder files, so no video is needed), then times ``snakemake --dry-run`` on
configs/eev_paper.yaml pointed at them, with ``--groups``/``--group-components`` as a cluster
profile would use.

    python bench/bench_dryrun.py --work /tmp/eev-dryrun --group-size 50
"""

from __future__ import annotations

import argparse
import os
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

REPO = Path(__file__).resolve().parents[1]
SIZES = {"train": 3061, "val": 755, "test": 1337}


def write_dataset(work: Path, rows_per_video: int, targets: list[str]) -> dict[str, str]:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/eev-dryrun")
    ap.add_argument("--rows-per-video", type=int, default=1500)  # 4.2 min at 6 Hz, EEV's mean
    ap.add_argument("--group-size", type=int, default=50)
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cfg = yaml.safe_load((REPO / "configs" / "eev_paper.yaml").read_text())
    t0 = time.perf_counter()
    labels = write_dataset(work, args.rows_per_video, cfg["targets"])
    videos = work / "videos"
    videos.mkdir(exist_ok=True)
    results = work / "results"
    from eevflow.labels import read_labels, write_labels_parquet

    for split, path in labels.items():
        df = read_labels(path, cfg["targets"], require_scores=split != "test")
        for vid in df["video_id"].unique():
            (videos / f"{vid}.mp4").touch()
        write_labels_parquet(df, results / "labels" / f"{split}.parquet")
    time.sleep(1.1)  # manifests newer than the labels and videos
    for split in SIZES:
        ids = pd.read_parquet(results / "labels" / f"{split}.parquet", columns=["video_id"])
        ids = ids["video_id"].unique()
        manifest = pd.DataFrame({
            "video_id": ids, "path": [str(videos / f"{v}.mp4") for v in ids], "status": "ok",
            "reason": "", "duration_s": args.rows_per_video / 6,
        })
        (results / "manifest").mkdir(parents=True, exist_ok=True)
        manifest.to_parquet(results / "manifest" / f"{split}.parquet", index=False)
    size_mb = sum(os.path.getsize(p) for p in labels.values()) / 2**20
    print(f"wrote label CSVs ({size_mb:.0f} MiB) and manifests in {time.perf_counter() - t0:.0f} s")
    cfg["data"] = {"videos_dir": str(videos), "labels": labels, "test_ground_truth": None}
    cfg["results_dir"] = str(results)
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(work), "--configfile", str(work / "config.yaml"), "--cores", "2",
        "--dry-run", "--quiet", "rules",
        "--group-components", f"decode={args.group_size}",
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode:
        raise SystemExit(out[-3000:])
    counts = {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out, re.M)}
    total = counts.pop("total")
    decode = counts.get("decode", 0)
    scheduler_jobs = total - decode + -(-decode // args.group_size)
    print(f"dry run: {dt:.1f} s; jobs by rule: {counts}; total {total}")
    print(f"with decode grouped {args.group_size} per job: {scheduler_jobs} scheduler jobs")


if __name__ == "__main__":
    main()
