"""Extraction throughput inside the workflow against the bare model forward on the same frames.

1. Builds (if needed) the inputs of one extract job with Snakemake, then reruns that job alone
   (``snakemake --force TARGET --cores N``) --repeat times; its time is the rule's own
   ``benchmark:`` file (the job's wall clock: Python start-up, imports, weight load, reading the
   memory-mapped frames, the forward passes, writing the Parquet shard).
2. In this process: the same extractor object's model, the same frames (read from the decoded
   frames of that shard's videos, loaded into memory first), the same batch size and
   threads, timing only ``embed_frames`` (no start-up, no weight load, no I/O).

Reports rows/s of both and their ratio (workflow / bare; the target is >= 0.85).

    python bench/bench_extract_workflow.py --extractor effnet_lite0 --split train --shard 000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from eevflow.layout import Layout

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configfile", default=str(REPO / "config.yaml"))
    ap.add_argument("--extractor", default="effnet_lite0")
    ap.add_argument("--split", default="train")
    ap.add_argument("--shard", default="000")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    cfg = yaml.safe_load(Path(args.configfile).read_text())
    layout = Layout(cfg.get("results_dir", "results"))
    ext_cfg = cfg["extractors"][args.extractor]
    target = layout.features(args.extractor, args.split, args.shard)
    bench_file = layout.benchmark("extract", args.extractor, args.split, shard=args.shard)
    smk = [sys.executable, "-m", "snakemake", "--configfile", args.configfile,
           "--cores", str(args.cores)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(smk + [target], check=True, cwd=REPO, **quiet)  # inputs (and shard) exist

    job_s = []
    for _ in range(args.repeat):
        subprocess.run(smk + ["--force", target], check=True, cwd=REPO, **quiet)
        with open(REPO / bench_file) as fh:
            job_s.append(float(next(csv.DictReader(fh, delimiter="\t"))["s"]))

    from eevflow.features import build_extractor
    from eevflow.features.efficientnet_lite import embed_frames
    from eevflow.decoded_shard import load_video
    from eevflow.shards import iter_videos

    if ext_cfg["backend"] != "efficientnet_lite0":
        raise SystemExit("the bare-forward comparison is written for efficientnet_lite0")
    vids = [vid for vid, _, _ in iter_videos(REPO / target)]
    decoded = REPO / layout.decoded(args.split, args.shard)
    frames = np.concatenate([np.asarray(load_video(decoded, vid, "visual").frames) for vid in vids])
    ext = build_extractor(args.extractor, ext_cfg, device="cpu", threads=args.cores)
    model = ext.model()
    embed_frames(model, frames[:8], ext.batch_size)  # warm-up
    bare_s = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        embed_frames(model, frames, ext.batch_size)
        bare_s.append(time.perf_counter() - t0)

    n = len(frames)
    wf, bare = statistics.median(job_s), statistics.median(bare_s)
    print(f"machine: {platform.platform()}, cpus={os.cpu_count()}, threads={args.cores}")
    print(json.dumps({
        "target": target, "videos": len(vids), "rows": n, "batch_size": ext.batch_size,
        "workflow_job_s": [round(s, 2) for s in job_s], "bare_forward_s": [round(s, 2) for s in bare_s],
        "workflow_rows_per_s": round(n / wf, 1), "bare_rows_per_s": round(n / bare, 1),
        "ratio_workflow_over_bare": round(bare / wf, 3),
    }, indent=1))


if __name__ == "__main__":
    main()
