"""``timm_image`` backend throughput (rows/s) on CPU: Swin-L 22K (the default) and Swin-T.

Each model gets random-init weights (the same compute as the real ones) saved to a temporary
.safetensors file and is run through the backend itself (``build_extractor`` ... ``embed_frames``)
on 224 px uint8 frames; the figure is the median of --repeat timed passes after one warm-up batch.

    python bench/bench_timm.py --threads 2 --batch-size 8 --frames 16
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eevflow.features import build_extractor  # noqa: E402
from eevflow.features.timm_image import import_timm  # noqa: E402

MODELS = ["swin_large_patch4_window7_224.ms_in22k", "swin_tiny_patch4_window7_224"]


def bench(model: str, frames: np.ndarray, batch: int, threads: int, repeat: int) -> dict:
    timm = import_timm()
    import safetensors.torch

    torch.manual_seed(0)
    net = timm.create_model(model, pretrained=False)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "weights.safetensors")
        safetensors.torch.save_file({k: v.contiguous() for k, v in net.state_dict().items()}, path)
        del net
        t0 = time.perf_counter()
        ext = build_extractor("bench", {"backend": "timm_image", "model": model,
                                        "checkpoint": path, "batch_size": batch}, threads=threads)
        ext.embed_frames(frames[:batch])  # warm-up (also builds and loads the model)
        load_s = time.perf_counter() - t0
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            out = ext.embed_frames(frames)
            times.append(time.perf_counter() - t)
        params = sum(p.numel() for p in ext.model().parameters())
    return dict(model=model, dim=out.shape[1], params_m=params / 1e6, load_s=load_s,
                rows_per_s=len(frames) / statistics.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    frames = np.random.default_rng(0).integers(0, 256, (args.frames, 224, 224, 3), np.uint8)
    timm = import_timm()
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"cpus={os.cpu_count()}, torch={torch.__version__}, timm={timm.__version__}, "
          f"threads={args.threads}")
    print("command: python " + " ".join(sys.argv))
    for model in args.models:
        r = bench(model, frames, args.batch_size, args.threads, args.repeat)
        print(f"{r['model']}: {r['params_m']:.1f}M params, {r['dim']}-D, batch {args.batch_size}: "
              f"{r['rows_per_s']:.2f} rows/s ({1 / r['rows_per_s']:.3f} s/row; build+load+warm-up "
              f"{r['load_s']:.1f} s)")


if __name__ == "__main__":
    main()
