"""Training and prediction time of every model family at its paper's widths, on synthetic videos
of EEV's mean length, through the real Trainer (one epoch of ``Trainer.fit``) and predict path.

EEV's training split: 3,023 usable videos of 4.3 minutes on average (Lin et al.), 1,548 label rows
each at 6 Hz, 4.7 M rows. Each family trains ``--videos`` videos for ``--epochs`` epochs (the
first epoch is a warm-up and not counted); the seconds per training row and per predicted row
are extrapolated linearly to one EEV epoch and to predicting EEV's val + test (2,132 videos).

    python bench/bench_families.py --videos 4 --json /tmp/families.json
    python bench/bench_families.py --device cuda --videos 32
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from eevflow.inference import predict_videos
from eevflow.models import model_config
from eevflow.sequences import VideoSeq
from eevflow.training import TrainConfig, Trainer

EEV_TRAIN_VIDEOS, EEV_PRED_VIDEOS, EEV_ROWS = 3023, 745 + 1387, 1548

#: each family as its paper trains it (options at their defaults, the papers' widths)
FAMILIES = {
    "tcn": ({"type": "tcn"}, {"optimizer": "sgd", "lr": 5e-3, "grad_accum": 32}),
    "bigru": ({"type": "bigru"}, {"optimizer": "adam", "lr": 2e-4, "loss": "l1"}),
    "mgn": ({"type": "mgn", "video_level": ["visual"]},
            {"optimizer": "adam", "lr": 1e-4, "loss": "bce"}),
    "omg": ({"type": "omg"}, {"optimizer": "adam", "lr": 1e-3, "loss": "ccc"}),
}


def videos(n: int, rows: int, dims: int, seed: int) -> list[VideoSeq]:
    rng = np.random.default_rng(seed)
    ts = (np.arange(rows) * 1e6 / 6).round().astype(np.int64)
    return [VideoSeq(f"v{i}", ts, rng.normal(size=(rows, dims)).astype(np.float32),
                     rng.random((rows, 15)).astype(np.float32), np.ones(rows, bool))
            for i in range(n)]


def bench(family: str, args) -> dict:
    opts, training = FAMILIES[family]
    streams = [["visual", args.visual, "visual"], ["audio", args.audio, "audio"]]
    dims = args.visual + args.audio
    cfg = model_config(family, opts, dims, 15, streams=streams)
    tc = TrainConfig(epochs=args.epochs, standardize=False, device=args.device, **training)
    trainer = Trainer(cfg, tc, threads=args.threads)
    train = videos(args.videos, args.rows, dims, 0)
    result = trainer.fit(train, [])
    epoch_s = float(np.median([r["seconds"] for r in result["history"][1:]]))
    pred = videos(2, args.rows, dims, 1)
    predict_videos(trainer.model, pred[:1], trainer.mean, trainer.std, trainer.device)  # warm-up
    t0 = time.perf_counter()
    predict_videos(trainer.model, pred, trainer.mean, trainer.std, trainer.device)
    if args.device == "cuda":
        torch.cuda.synchronize()
    pred_s = (time.perf_counter() - t0) / len(pred)
    train_row_s = epoch_s / (args.videos * args.rows)
    return {
        "family": family,
        "params": sum(p.numel() for p in trainer.model.parameters()),
        "train_epoch_s": epoch_s,
        "train_ms_per_1000_rows": 1000 * 1000 * train_row_s,
        "predict_ms_per_1000_rows": 1000 * 1000 * pred_s / args.rows,
        "eev_epoch_h": train_row_s * EEV_TRAIN_VIDEOS * EEV_ROWS / 3600,
        "eev_predict_h": pred_s / args.rows * EEV_PRED_VIDEOS * EEV_ROWS / 3600,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--videos", type=int, default=4, help="training videos per epoch")
    ap.add_argument("--epochs", type=int, default=2, help="the first is a warm-up")
    ap.add_argument("--rows", type=int, default=EEV_ROWS, help="label rows per video")
    ap.add_argument("--visual", type=int, default=1280, help="visual stream size")
    ap.add_argument("--audio", type=int, default=128, help="audio stream size")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    args = ap.parse_args()
    out = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
        "cpus": os.cpu_count(), "torch": torch.__version__,
        "device": args.device + (f" ({torch.cuda.get_device_name()})"
                                 if args.device == "cuda" else ""),
        "shape": f"{args.videos} videos x {args.rows} rows, streams {args.visual} + {args.audio}",
        "families": [],
    }
    for family in args.families:
        row = bench(family, args)
        out["families"].append(row)
        print(json.dumps(row))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
