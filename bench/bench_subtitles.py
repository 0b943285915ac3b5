"""Cost of the ``text_subtitles`` backend: parsing a video's subtitles and aligning them to its
6 Hz rows (per row), and the whole ``embed`` (rows/s) with a model.

The video: ``--minutes`` of rows at 6 Hz and a WebVTT file with a cue every ``--cue-s`` seconds
(2 s on screen), ``--distinct`` different lines repeated in turn. The model: by default the tiny
BERT-signature SavedModels of tests/test_subtitles.py (a hashing preprocessor and a 768-D
encoder; their cost is not BERT's), placed at the real handles' TF Hub cache folders; or
``--handle`` / ``--preprocess-handle`` (e.g. BERT base, cached: ``TFHUB_CACHE_DIR``).

    python bench/bench_subtitles.py
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def write_vtt(path: Path, seconds: float, cue_s: float, distinct: int) -> int:
    def ts(t):
        return f"{int(t // 3600):02d}:{int(t // 60 % 60):02d}:{t % 60:06.3f}"

    lines, t, k = ["WEBVTT", ""], 0.0, 0
    while t < seconds:
        lines += [f"{ts(t)} --> {ts(t + 2.0)}", f"<i>line {k % distinct}</i> of the film",
                  f"and its second part {k % distinct}", ""]
        t, k = t + cue_s, k + 1
    path.write_text("\n".join(lines))
    return k


def tiny_models(cache: Path) -> None:
    import tensorflow as tf
    from test_subtitles import FakeBert, FakePreprocess
    from test_tfhub import _save

    from eevflow.features.text_subtitles_options import BERT_BASE_URL, BERT_PREPROCESS_URL

    spec = {k: tf.TensorSpec([None, 128], tf.int32)
            for k in ("input_word_ids", "input_mask", "input_type_ids")}
    tmp = cache.parent / "models"
    for url, module, traces in (
        (BERT_PREPROCESS_URL, FakePreprocess(), ()),
        (BERT_BASE_URL, FakeBert(), (((spec,), {"training": False}),)),
    ):
        path = _save(module, tmp / hashlib.sha1(url.encode()).hexdigest(), *traces)
        shutil.copytree(path, cache / path.name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--cue-s", type=float, default=3.0)
    ap.add_argument("--distinct", type=int, default=100)
    ap.add_argument("--handle")
    ap.add_argument("--preprocess-handle")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from eevflow.features import build_extractor
    from eevflow.features.precomputed import LabelInfo
    from eevflow.features.text_subtitles import SubtitleRows
    from eevflow.subtitles import align, parse_cues

    work = Path(tempfile.mkdtemp(prefix="bench-subtitles-"))
    try:
        seconds = args.minutes * 60
        n_cues = write_vtt(work / "v.vtt", seconds, args.cue_s, args.distinct)
        ts = (np.arange(int(seconds * 6)) * 1e6 / 6).round().astype(np.int64)
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            cues = parse_cues(str(work / "v.vtt"))
            idx = align(cues, ts, 1.0)
            best = min(best, time.perf_counter() - t0)
        options = {"backend": "text_subtitles"}
        if args.handle:
            options["handle"] = args.handle
            options["preprocess_handle"] = args.preprocess_handle
        else:
            os.environ["TFHUB_CACHE_DIR"] = str(work / "cache")
            os.environ["EEVFLOW_HUB_OFFLINE"] = "1"
            tiny_models(work / "cache")
        ext = build_extractor("subs", options, threads=args.threads)
        rows = SubtitleRows(LabelInfo("bench", ts.tolist()), cues)
        t0 = time.perf_counter()
        ext.models()
        load_s = time.perf_counter() - t0
        embed_s = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = ext.embed(rows)
            embed_s = min(embed_s, time.perf_counter() - t0)
        print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}, threads {args.threads}")
        print("command: python " + " ".join(sys.argv))
        model = args.handle or "tiny BERT-signature SavedModels (tests/test_subtitles.py)"
        print(f"video: {len(ts)} rows ({args.minutes} min at 6 Hz), {n_cues} cues, "
              f"{args.distinct} distinct lines, {int((idx >= 0).sum())} rows with a line")
        print(f"parse + align: {best * 1e3:.1f} ms, {best / len(ts) * 1e6:.2f} us/row "
              f"({len(ts) / best:,.0f} rows/s)")
        print(f"model: {model}; load {load_s:.2f} s")
        print(f"embed: {embed_s:.3f} s, {len(ts) / embed_s:,.0f} rows/s "
              f"(output {out.shape} {out.dtype})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def bert_base_compute(threads: int = 2, batch: int = 32, seq: int = 128) -> float:
    """Seconds per line of a BERT-base-sized encoder (12 layers, 768 wide, 12 heads, 3072 FFN,
    random weights; torch) on ``seq`` tokens: the cost the real BERT adds per distinct line."""
    import torch

    torch.set_num_threads(threads)
    layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, batch_first=True)
    net = torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False).eval()
    x = torch.rand(batch, seq, 768)
    with torch.inference_mode():
        net(x[:2])
        t0 = time.perf_counter()
        net(x)
    return (time.perf_counter() - t0) / batch


if __name__ == "__main__":
    main()
    per_line = bert_base_compute()
    print(f"BERT-base-sized encoder (torch, random weights, 128 tokens, batch 32, 2 threads): "
          f"{per_line * 1e3:.0f} ms/line ({1 / per_line:.1f} lines/s)")
