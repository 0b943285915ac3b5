"""Training time per epoch at EEV-like sizes with synthetic features.

EEV train: about 3,000 videos of about 1,500 label rows; TRILL features are 2048-D, plus the
positional channel = 2,049 inputs. One epoch = one forward/backward per video (the winner's one
video per step, gradient accumulation 32). Times ``--videos`` steps after ``--warmup`` and
extrapolates linearly to ``--epoch-videos``; prints machine info and, with --json, writes them.

    python bench/bench_train.py --device cpu --videos 8
    python bench/bench_train.py --device cuda --videos 200
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch

from eevflow.inference import video_tensors
from eevflow.models.tcn import TCNConfig
from eevflow.sequences import VideoSeq
from eevflow.training import Trainer, TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--videos", type=int, default=8, help="timed training steps (videos)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1500, help="label rows per video")
    ap.add_argument("--features", type=int, default=2048)
    ap.add_argument("--channels", type=int, default=512)
    ap.add_argument("--stacks", type=int, default=2, help="2 = the paper's audio model")
    ap.add_argument("--epoch-videos", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    ts = (np.arange(args.steps) * 1e6 / 6).round().astype(np.int64)
    n = args.videos + args.warmup
    videos = [
        VideoSeq(f"v{i}", ts, rng.normal(size=(args.steps, args.features)).astype(np.float32),
                 rng.random((args.steps, 15)).astype(np.float32), np.ones(args.steps, bool))
        for i in range(n)
    ]
    model_cfg = TCNConfig(input_dim=args.features, channels=args.channels, stacks=args.stacks)
    train_cfg = TrainConfig(epochs=1, optimizer="sgd", lr=5e-3, grad_accum=32,
                            standardize=False, device=args.device)
    trainer = Trainer(model_cfg, train_cfg, threads=args.threads)
    opt = torch.optim.SGD(trainer.model.parameters(), lr=5e-3)
    trainer.model.train()
    times = []
    for i, v in enumerate(videos):
        t0 = time.perf_counter()
        x, s = video_tensors(v, trainer.mean, trainer.std, trainer.device)
        y = torch.from_numpy(v.labels).to(trainer.device)
        loss = torch.mean((trainer.model(x, s)[0] - y) ** 2) / 32
        loss.backward()
        if (i + 1) % 32 == 0:
            opt.step()
            opt.zero_grad(set_to_none=True)
        if args.device == "cuda":
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
    per_video = statistics.median(times)
    result = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}",
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "device": args.device
        + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""),
        "threads": torch.get_num_threads(),
        "shape": f"{args.steps} steps x {args.features + 1} inputs, {args.channels} ch, "
        f"{args.stacks} stack(s), receptive field {model_cfg.receptive_field}",
        "timed_videos": len(times),
        "seconds_per_video_median": per_video,
        "epoch_seconds_extrapolated": per_video * args.epoch_videos,
        "epoch_videos": args.epoch_videos,
    }
    for k, v in result.items():
        print(f"{k}: {v}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
