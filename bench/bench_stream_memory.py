"""Peak memory of the train and predict jobs against the size of the split (issue 15).

For each size N: synthetic splits in the workflow's format (a train split of N videos and a val
split of ``--val-videos``, ``--rows`` label rows each, ``--dim``-D features in ``--shards`` embedding shards
per split, 15 targets; labels written by the labels rule's writer), then each job in a fresh
subprocess, which reports its own peak RSS (``VmHWM`` of ``/proc/self/status``: not ``ru_maxrss``,
which Linux carries over from the parent across fork + exec, so that a child of this script would
report at least the script's own size, itself growing with N from writing the labels) and wall
time:

* ``train``: ``eevflow.train_job.train_variant``, the code ``workflow_scripts/train.py`` runs (the
  small TCN below, 1 epoch; ``--families linear`` adds the ridge baseline);
* ``predict``: ``eevflow.inference.write_predictions`` (``workflow_scripts/predict.py``) with the
  trained checkpoint, over the N videos of the train split.

``--old-tree DIR`` (a copy of the previous code, e.g. ``git archive main | tar -x -C DIR``) also
runs the in-memory code of that tree (``load_split`` of every shard, then ``Trainer.fit`` /
``predict_split``) at the sizes of ``--old-sizes``. The features are 16 rows of values on a
0.25 grid repeated in random order, so that zstd shrinks the shards far below their 4 bytes per
value (the jobs still decode every value); each size's files are deleted before the next.

    python bench/bench_stream_memory.py --sizes 100 400 1600 --old-tree /tmp/eevflow_main \\
        --old-sizes 100 --json /tmp/stream.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TARGETS = [f"t{i:02d}" for i in range(15)]
SETTINGS = {
    "tcn": {"model": {"type": "tcn", "channels": 8, "dilations": [1, 2]},
            "training": {"epochs": 1, "optimizer": "sgd", "lr": 5e-3, "grad_accum": 32}},
    "linear": {"model": {"type": "linear", "lags_s": [1.0], "past_means_s": [2.0],
                         "alphas": [1.0, 100.0]}, "training": {}},
}
SCORING = {"constant_policy": "minus_one", "ignore_undetected": True}


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def free_gb(path: Path) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / 2**30


def make_split(out: Path, split: str, n: int, rows: int, dim: int, n_shards: int, seed: int):
    """One split: labels Parquet + ``n_shards`` embedding shards of one extractor."""
    import pandas as pd

    from eevflow.labels import write_labels_parquet
    from eevflow.shards import shard_of, write_shard

    rng = np.random.default_rng(seed)
    ids = [f"{split}{i:05d}" for i in range(n)]
    ts = (np.arange(rows) * 1e6 / 6).round().astype(np.int64)
    frames = []
    for vid in ids:
        y = rng.integers(0, 100, size=(rows, len(TARGETS))).astype(np.float32) / 100
        y[rng.random(rows) < 0.1] = 0.0
        f = pd.DataFrame(y, columns=TARGETS)
        f.insert(0, "timestamp_us", ts)
        f.insert(0, "video_id", vid)
        f["detected"] = y.sum(axis=1) > 1e-6
        frames.append(f)
    write_labels_parquet(pd.concat(frames, ignore_index=True), out / f"{split}_labels.parquet")
    del frames

    def videos(shard):
        for i, vid in enumerate(ids):
            if shard_of(vid, n_shards) != shard:
                continue
            r = np.random.default_rng([seed, i])
            pool = (r.integers(-8, 8, size=(16, dim)) * 0.25).astype(np.float32)
            yield vid, ts, pool[r.integers(16, size=rows)]

    paths = []
    for s in range(n_shards):
        path = out / f"{split}_x_{s}.parquet"
        write_shard(path, videos(s), dim, {"extractor": "x", "dim": dim})
        paths.append(str(path))
    return str(out / f"{split}_labels.parquet"), paths


def peak_rss_mb() -> float:
    """This process's own peak RSS (the high-water mark of its address space since exec), MiB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def child(args) -> None:
    """One job in this process; prints its peak RSS and wall time as JSON."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    if args.code == "old":
        sys.path.insert(0, args.old_tree)
    else:
        sys.path.insert(0, str(ROOT))
    data = json.loads(Path(args.data, "files.json").read_text())
    t0 = time.perf_counter()
    settings = {"features": ["x"], **SETTINGS[args.family]}
    model_path = str(Path(args.data, f"{args.family}_{args.code}.pt"))
    if args.mode == "train" and args.code == "new":
        from eevflow.train_job import train_variant

        train_variant(variant=args.family, labels=data["labels"],
                      shards={s: {"x": data["shards"][s]} for s in ("train", "val")},
                      settings=settings, targets=TARGETS, scoring=SCORING,
                      past_end={"policy": "keep", "tolerance_s": 0.5}, past_end_manifests=[],
                      weights_holdout_fraction=0.0, model_path=model_path,
                      history_path=model_path + ".json", threads=args.threads)
    elif args.mode == "train":  # the in-memory code: what workflow_scripts/train.py ran before
        import pandas as pd
        import torch

        from eevflow.models import model_config
        from eevflow.models.options import model_type
        from eevflow.sequences import load_split
        from eevflow.training import TrainConfig, Trainer

        split = {s: load_split(pd.read_parquet(data["labels"][s]), {"x": data["shards"][s]},
                               TARGETS) for s in ("train", "val")}
        dim = split["train"].videos[0].features.shape[1]
        cfg = model_config(model_type(settings["model"]), settings["model"], dim, len(TARGETS))
        trainer = Trainer(cfg, TrainConfig(**SCORING, **settings["training"]), threads=args.threads)
        trainer.fit(split["train"].videos, split["val"].videos,
                    blocks=[d for _, d in split["train"].blocks])
        torch.save(trainer.checkpoint(), model_path)
    elif args.code == "new":
        from eevflow.inference import write_predictions

        write_predictions(model_path, data["labels"]["train"],
                          {"x": data["shards"]["train"]}, TARGETS,
                          Path(args.data, "pred_new.parquet"), threads=args.threads, device="cpu")
    else:
        from eevflow.inference import predict_split

        df, _ = predict_split(model_path, data["labels"]["train"], {"x": data["shards"]["train"]},
                              TARGETS, threads=args.threads, device="cpu")
        df.to_parquet(Path(args.data, "pred_old.parquet"), index=False)
    wall = time.perf_counter() - t0
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "wall_s": wall,
                      "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(mode, code, family, data, args) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--code", code, "--family", family,
           "--data", str(data), "--threads", str(args.threads)]
    if args.old_tree:
        cmd += ["--old-tree", args.old_tree]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        return {"error": res.stderr[-2000:], "rc": res.returncode}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 1600])
    ap.add_argument("--rows", type=int, default=1500)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--val-videos", type=int, default=25)
    ap.add_argument("--families", nargs="+", default=["tcn"])
    ap.add_argument("--old-tree", help="a copy of the in-memory code to compare with")
    ap.add_argument("--old-sizes", type=int, nargs="*", default=[100])
    ap.add_argument("--workdir", default="/tmp/bench_stream")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-free-gb", type=float, default=8.0)
    ap.add_argument("--json")
    ap.add_argument("--child", choices=["train", "predict"])
    ap.add_argument("--code", default="new")
    ap.add_argument("--family", default="tcn")
    ap.add_argument("--data")
    args = ap.parse_args()
    if args.child:
        args.mode = args.child
        return child(args)
    sys.path.insert(0, str(ROOT))
    work = Path(args.workdir)
    results = []
    for n in args.sizes:
        data = work / f"n{n}"
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        t0 = time.perf_counter()
        files = {"labels": {}, "shards": {}}
        for split, count, seed in (("train", n, 0), ("val", args.val_videos, 1)):
            files["labels"][split], files["shards"][split] = make_split(
                data, split, count, args.rows, args.dim, args.shards, seed)
            if free_gb(data) < args.min_free_gb:
                raise SystemExit(f"only {free_gb(data):.1f} GB free: stopping")
        (data / "files.json").write_text(json.dumps(files))
        gen = {"videos": n, "val_videos": args.val_videos, "generate_s": time.perf_counter() - t0,
               "disk_mb": du(data) / 2**20, "raw_feature_mb":
               (n + args.val_videos) * args.rows * args.dim * 4 / 2**20,
               "free_gb": free_gb(data)}
        print(json.dumps(gen), flush=True)
        codes = ["new"] + (["old"] if args.old_tree and n in args.old_sizes else [])
        for family in args.families:
            for code in codes:
                for mode in ("train", "predict"):
                    r = run_child(mode, code, family, data, args)
                    row = {**gen, "family": family, "code": code, "job": mode, **r}
                    print(json.dumps(row), flush=True)
                    results.append(row)
                    if args.json:
                        Path(args.json).write_text(json.dumps(results, indent=1))
        shutil.rmtree(data)


if __name__ == "__main__":
    main()
