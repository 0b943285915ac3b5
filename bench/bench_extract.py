"""EfficientNet-Lite0 frame embedding throughput by batch size, on real decoded frames.

Reads a decoded ``frames.npy`` (from the workflow's results/decoded/...; default: the first one
found) or, with none, a demo clip made on the fly, and times ``embed_frames`` at each batch size
(frames/s, median of --repeat). On CPU small batches win: the activations stay in cache.

    python bench/bench_extract.py --frames 192 --batch-sizes 1 2 4 8 16 32
"""

from __future__ import annotations

import argparse
import glob
import os
import platform
import statistics
import tempfile
import time

import numpy as np
import torch

from eevflow.media_store import FILES
from eevflow.features.efficientnet_lite import embed_frames, load_efficientnet_lite0
from eevflow.layout import Layout


def _frames(path: str | None, n: int) -> tuple[np.ndarray, str]:
    # any split, shard, video of a decode.store: raw run
    pattern = f"{Layout('results').decoded('*', '*')}/*/{FILES['raw']['frames']}"
    found = [path] if path else sorted(glob.glob(pattern))
    if found:
        return np.load(found[0], mmap_mode="r")[:n], found[0]
    from eevflow.demo import DemoSpec, demo_video_ids, generate_video
    from eevflow.decoding import decode_video

    tmp = tempfile.mkdtemp()
    spec = DemoSpec(n_train=1, n_val=1, n_test=1, min_seconds=40, max_seconds=40)
    vid = demo_video_ids("train", 1)[0]
    generate_video(f"{tmp}/{vid}.mp4", vid, spec, "train")
    ts = (np.arange(n) * 1e6 / 6).round().astype(np.int64)
    decode_video(vid, f"{tmp}/{vid}.mp4", ts, f"{tmp}/f.npy", f"{tmp}/a.npy", f"{tmp}/m.json")
    return np.load(f"{tmp}/f.npy", mmap_mode="r"), "generated demo clip"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames-file")
    ap.add_argument("--frames", type=int, default=192)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    frames, source = _frames(args.frames_file, args.frames)
    model = load_efficientnet_lite0()
    print(f"machine: {platform.platform()}, {platform.processor()}, cpus={os.cpu_count()}, "
          f"torch={torch.__version__}, threads={torch.get_num_threads()}")
    print(f"frames: {len(frames)} x {frames.shape[1:]} from {source}")
    embed_frames(model, frames[:8], 4)  # warm-up
    for bs in args.batch_sizes:
        rates = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            embed_frames(model, frames, bs)
            rates.append(len(frames) / (time.perf_counter() - t0))
        print(f"batch {bs:3d}: {statistics.median(rates):6.1f} frames/s "
              f"(runs: {', '.join(f'{r:.1f}' for r in rates)})")


if __name__ == "__main__":
    main()
