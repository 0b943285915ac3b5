"""Frame-level visual backbones through their eevflow backends, rows per second on this machine:
EfficientNet-Lite0 and -Lite2 (the shipped ImageNet weights) and Inception-ResNet-v2 through
``tfhub_image`` (MGN-MA's image stream). No network here: the Inception-ResNet-v2 is Keras's
architecture with random weights saved as a SavedModel with the TF Hub feature-vector signature
and loaded through the backend's real handle code (a local folder), so its compute is the real
model's; its outputs are not.

    python bench/bench_backbones.py --rows 96 --threads 2
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np

from eevflow.decoding import DecodeInfo, Decoded
from eevflow.features import build_extractor


def _frames(n: int, size: int = 224) -> np.ndarray:
    """Real photos (scikit-image's), letterboxed to the decoder's square, cycled to n rows."""
    from PIL import Image
    from skimage import data

    out = []
    for img in (data.chelsea(), data.coffee(), data.astronaut(), data.rocket()):
        h, w, _ = img.shape
        m = max(h, w)
        sq = np.zeros((m, m, 3), np.uint8)
        sq[(m - h) // 2:(m - h) // 2 + h, (m - w) // 2:(m - w) // 2 + w] = img
        out.append(np.asarray(Image.fromarray(sq).resize((size, size), Image.BILINEAR)))
    return np.stack([out[i % len(out)] for i in range(n)])


def _irv2_savedmodel(folder: str) -> str:
    import tensorflow as tf

    net = tf.keras.applications.InceptionResNetV2(weights=None, include_top=False,
                                                  pooling="avg", input_shape=(299, 299, 3))

    class Module(tf.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
        def __call__(self, images):
            return self.net(images * 2.0 - 1.0, training=False)

    tf.saved_model.save(Module(), folder)
    return folder


def _rate(ext, frames: np.ndarray, repeat: int) -> tuple[float, float]:
    ts = (np.arange(len(frames)) * 1e6 / 6).round().astype(np.int64)
    info = DecodeInfo("bench", 30.0, len(frames), 224, 224, 224, 16000, 0, ts.tolist(),
                      list(range(len(frames))))
    video = Decoded(info=info, frames=frames, audio=None)
    t0 = time.perf_counter()
    ext.embed(video)  # first call: loads the model (timed separately)
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = ext.embed(video)
        times.append(time.perf_counter() - t0)
    assert out.shape == (len(frames), ext.dim) and out.dtype == np.float32
    return len(frames) / min(times), first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=96)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--only", nargs="*", default=["lite0", "lite2", "irv2"])
    args = ap.parse_args()
    frames = _frames(args.rows)
    print(f"machine: {platform.platform()}, {platform.processor() or 'cpu'}, "
          f"cpus={os.cpu_count()}, threads={args.threads}, rows={args.rows} (224 px frames)")
    entries = {
        "lite0": {"backend": "efficientnet_lite0", "batch_size": 32},
        "lite2": {"backend": "efficientnet_lite2", "batch_size": 16},
    }
    with tempfile.TemporaryDirectory() as tmp:
        if "irv2" in args.only:
            entries["irv2"] = {"backend": "tfhub_image", "model": "inception_resnet_v2",
                               "handle": _irv2_savedmodel(os.path.join(tmp, "irv2"))}
        for name in args.only:
            ext = build_extractor(name, entries[name], threads=args.threads)
            rate, first = _rate(ext, frames, args.repeat)
            print(f"{name:6s} {entries[name]['backend']:18s} dim={ext.dim:5d} "
                  f"{rate:7.1f} rows/s  ({1000 / rate:6.1f} ms/row; first call {first:.1f} s)")


if __name__ == "__main__":
    main()
