"""The cost model of a run: per stage, time, peak memory and disk per hour of video, measured from a
finished run's own ``benchmark:`` files and outputs, and extrapolated to all of EEV (5,153 videos,
370 hours).

    python bench/bench_cost_model.py RESULTS_DIR [RESULTS_DIR ...] [--json out.json]

Each results folder is a finished workflow run (``results/`` of the demo, or the long-video test's:
``pytest tests/test_long_video.py --basetemp /tmp/eev-long`` leaves it under
``/tmp/eev-long/long0/results``). For every job with a benchmark file the hours of video it covered
come from the run's manifests (the videos of each decoded shard's index, their probed durations):

* download_check, decode, extract: the hours of the job's (split, shard);
* train: the hours of the train split times the epochs it ran (its training.json), so its rate
  is seconds per hour of training video per epoch;
* predict, select_sweep: the hours of the split predicted.

Per stage it prints the measured rate (job seconds per hour of video), the peak RSS of its largest
job (memory is bounded by a job's longest video, not by the hours) and the bytes its outputs take
per hour of video, then the EEV total: hours x rate, on this machine (measured rates) and on a
16-core node with one GPU, extrapolated: 8 two-thread jobs side by side (each job keeps its own
peak memory, so 8 x the largest peak must fit), and no GPU speed-up for the network stages (none
was measured; a GPU only makes them faster, so the figure is an upper bound).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections import defaultdict
from pathlib import Path

import pandas as pd

EEV_HOURS = 370.0
EEV_TRAIN_FRACTION = 3061 / 5153  # share of EEV's videos in the train split
PARALLEL_JOBS = 8  # a 16-core node runs 8 two-thread jobs side by side


def _hours_by_shard(results: Path) -> dict[tuple[str, str], float]:
    """(split, shard) -> hours of the videos its decode job decoded."""
    out = {}
    for split_dir in sorted((results / "decoded").glob("*")):
        # the split's merged manifest, or its shards' (download_check per shard)
        found = [results / "manifest" / f"{split_dir.name}.parquet"]
        found = [p for p in found if p.exists()] or sorted(
            (results / "manifest" / split_dir.name).glob("shard-*.parquet"))
        if not found:
            continue
        dur = pd.concat([pd.read_parquet(p) for p in found]).set_index("video_id")["duration_s"]
        for shard_dir in sorted(split_dir.glob("shard-*")):
            index = shard_dir / "index.json"
            if index.exists():
                ids = [v["video_id"] for v in json.loads(index.read_text())["videos"]]
                out[(split_dir.name, shard_dir.name)] = float(dur.reindex(ids).sum()) / 3600
    return out


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def jobs(results: Path, splits: list[str] | None = None) -> pd.DataFrame:
    """One row per benchmarked job: stage, seconds, peak RSS (MB), hours covered, output bytes.
    ``splits``: only the download_check, decode, extract and predict jobs of these splits (e.g.
    the long-video test's ``test``, whose one job per stage is a 10-minute video, so that the
    short videos' fixed start-up costs do not set the rate); train jobs are always counted."""
    shards = _hours_by_shard(results)
    split_hours = defaultdict(float)
    for (split, _), h in shards.items():
        split_hours[split] += h
    rows = []
    for tsv in sorted((results / "benchmarks").rglob("*.tsv")):
        parts = tsv.relative_to(results / "benchmarks").with_suffix("").parts
        rule, rest = parts[0], parts[1:]
        bench = pd.read_csv(tsv, sep="\t").iloc[0]
        hours, out_bytes, stage = math.nan, 0, rule
        if rule in ("decode", "download_check") and len(rest) == 2:
            split, shard = rest
            hours = shards.get((split, shard), math.nan)
            if rule == "decode":
                out_bytes = _tree_bytes(results / "decoded" / split / shard)
        elif rule == "extract" and len(rest) == 3:
            ext, split, shard = rest
            stage = f"extract:{ext}"
            hours = shards.get((split, shard), math.nan)
            out_bytes = _tree_bytes(results / "features" / ext / split / f"{shard}.parquet")
        elif rule == "train":
            variant = "/".join(rest)
            hist = results / "models" / variant / "training.json"
            epochs = len(json.loads(hist.read_text()).get("history", [])) if hist.exists() else 0
            stage = "train (per epoch)"
            hours = split_hours["train"] * max(1, epochs)
            out_bytes = _tree_bytes(results / "models" / variant / "model.pt") if (
                results / "models" / variant / "model.pt").exists() else 0
        elif rule == "predict":
            *variant, split = rest
            hours = split_hours[split]
            out_bytes = _tree_bytes(results / "predictions" / "/".join(variant) / f"{split}.parquet")
        else:
            continue
        if not hours or math.isnan(hours):
            continue
        if splits and rule != "train" and not any(part in splits for part in rest):
            continue
        rows.append({"stage": stage, "job": "/".join(parts), "s": float(bench["s"]),
                     "max_rss_mb": float(bench["max_rss"]), "hours": hours,
                     "out_bytes": out_bytes, "results": str(results)})
    return pd.DataFrame(rows)


def cost_table(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for stage, g in df.groupby("stage", sort=False):
        rate = g["s"].sum() / g["hours"].sum()  # job seconds per hour of video
        disk = g["out_bytes"].sum() / g["hours"].sum()
        eev_hours = EEV_HOURS * (EEV_TRAIN_FRACTION if stage.startswith("train") else 1.0)
        total_2core_h = rate * eev_hours / 3600
        node_h = total_2core_h / PARALLEL_JOBS
        out.append({
            "stage": stage, "jobs": len(g), "video h measured": round(g["hours"].sum(), 3),
            "s per video h": round(rate, 1), "peak RSS MB (largest job)": round(g["max_rss_mb"].max()),
            "disk MB per video h": round(disk / 2**20, 1),
            "EEV h (2 cores)": round(total_2core_h, 1), "EEV disk GB": round(disk * eev_hours / 2**30, 1),
            "EEV h (16 cores, no GPU gain)": round(node_h, 1),
        })
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", type=Path)
    ap.add_argument("--splits", nargs="*", help="count only these splits' per-shard jobs")
    ap.add_argument("--json")
    args = ap.parse_args()
    df = pd.concat([jobs(r, args.splits) for r in args.results], ignore_index=True)
    if df.empty:
        raise SystemExit("no benchmark files with known video hours under the given folders")
    table = cost_table(df)
    print(f"machine: {os.cpu_count()} CPUs; EEV: {EEV_HOURS:g} h of video "
          f"({EEV_TRAIN_FRACTION:.0%} of it train)")
    print(table.to_markdown(index=False) if hasattr(table, "to_markdown") else table.to_string())
    if args.json:
        Path(args.json).write_text(json.dumps({"jobs": df.to_dict("records"),
                                               "table": table.to_dict("records")}, indent=1))


if __name__ == "__main__":
    main()
