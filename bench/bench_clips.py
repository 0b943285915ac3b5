"""Clip stream cost per label row: decode_clips (every frame on the 10 fps grid) against the
6 Hz label rows, and the per-row window gather of s3d_clip at stride 1 and 4 (frames read per
row). The MIL-NCE weights are not on this machine: the model's compute is timed with
torchvision's S3D (the same separable-3D Inception backbone up to mixed_5c, random weights) on
32 x 224 x 224 clips, which gives the s3d_clip rows/s at each stride.

    .venv/bin/python bench/bench_clips.py [seconds]
"""

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import write_video  # noqa: E402

from eevflow.clips import ClipSettings, decode_clip_shard, iter_clip_videos, stride_rows  # noqa: E402
from eevflow.decoded_shard import decode_shard  # noqa: E402


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs; command: {' '.join(sys.argv)}")
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        rng = np.random.default_rng(0)
        path = write_video(d / "v.mp4", seconds=seconds, fps=25, size=(640, 360), audio=False,
                           frame_fn=lambda i: rng.integers(0, 255, (360, 640, 3), np.uint8)
                           if i % 50 == 0 else np.full((360, 640, 3), i % 250, np.uint8))
        ts = np.round(np.arange(int(seconds * 6)) * 1e6 / 6).astype(np.int64)
        t0 = time.perf_counter()
        decode_shard(d / "dec", [("v", str(path))], {"v": ts}, store="compressed")
        t_rows = time.perf_counter() - t0
        t0 = time.perf_counter()
        infos = decode_clip_shard(d / "clips", [("v", str(path))], {"v": seconds},
                                  ClipSettings.from_dict({"threads": 2}))
        t_clip = time.perf_counter() - t0
        n, g = len(ts), len(infos[0].timestamps_us)
        print(f"video {seconds:.0f} s 640x360 25 fps H.264, {n} label rows, {g} grid frames")
        print(f"decode (label rows): {t_rows / n * 1e3:.2f} ms/row")
        print(f"decode_clips (10 fps grid, compressed): {t_clip / n * 1e3:.2f} ms/row, "
              f"{g / n:.2f} grid frames decoded per row")
        (video,) = list(iter_clip_videos(d / "dec", d / "clips"))
        for stride in (1, 4):
            rows = stride_rows(n, stride)
            w = video.windows(32, rows)
            t0, read = time.perf_counter(), 0
            for lo in range(0, len(rows), 8):
                u = np.unique(w[lo:lo + 8])
                read += len(u)
                np.asarray(video.frames[u], np.float32)
            dt = time.perf_counter() - t0
            print(f"stride {stride}: {len(rows)} clips, {read / n:.2f} frames read per row, "
                  f"window gather {dt / n * 1e3:.2f} ms/row ({n / dt:.0f} rows/s), "
                  f"model calls per row {len(rows) / n:.2f}")


def s3d_compute(threads: int = 2, repeat: int = 2) -> float:
    """Seconds per 32 x 224 x 224 clip of the S3D backbone (torchvision's, random weights)."""
    import torch

    from eevflow.torchvision_compat import import_torchvision

    import_torchvision()
    from torchvision.models.video import s3d

    torch.set_num_threads(threads)
    net = s3d(weights=None).eval()
    x = torch.rand(2, 3, 32, 224, 224)
    with torch.inference_mode():
        net.features(x[:1])  # warm-up
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            net.features(x)
            times.append((time.perf_counter() - t0) / len(x))
    return min(times)


if __name__ == "__main__":
    main()
    per_clip = s3d_compute()
    print(f"S3D backbone (torchvision, random weights, batch 2, 2 threads): {per_clip:.2f} s/clip")
    for k in (1, 3, 6):
        print(f"  s3d_clip stride {k}: {k / per_clip:.2f} rows/s")
