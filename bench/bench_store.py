"""decode.store: bytes and time of each store, and what JPEG / 16-bit FLAC do to the embeddings.

On the videos of both built-in demos (synthetic and realmedia: real photos, clips and sounds),
made here into --work (kept between runs), each video is decoded by the workflow's code
(eevflow.decoded_shard.decode_shard) with each store, and:

* bytes per 6 Hz frame row (raw ``frames.npy``; JPEG at each --qualities x --subsamplings, the
  ``compressed`` store's encoder on the same squares) and per second of sound (raw float32, FLAC);
* decode time per row of each store, JPEG encode and decode time per row;
* EfficientNet-Lite0 (the workflow's extractor) on raw frames and on each JPEG setting: cosine
  similarity per row, median over all rows and the worst video's median and row;
* the 64-band log-mel extractor on the float32 track and on the FLAC one (cosine, max |diff|);
* extract time per row (iter_shard + embed, as the extract job runs) for raw, compressed, none.

    python bench/bench_store.py --videos 3 --seconds 30 --json /tmp/bench_store.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import av
import numpy as np
import torch

from eevflow.decoded_shard import decode_shard, iter_shard, video_files
from eevflow.features import build_extractor
from eevflow.media_store import BATCH_ROWS, SUBSAMPLING, encode_jpeg

ROWS_PER_S = 6
EEV_HOURS = 370


def make_videos(kind: str, n: int, seconds: float, work: Path) -> list[tuple[str, str]]:
    """``n`` train videos of the demo ``kind`` (``seconds`` long), written once."""
    out = work / kind
    out.mkdir(parents=True, exist_ok=True)
    if kind == "synthetic":
        from eevflow.demo import DemoSpec, demo_video_ids
        from eevflow.demo.write import generate_video

        spec = DemoSpec(n_train=n, n_val=1, n_test=1, min_seconds=seconds, max_seconds=seconds)
        ids = demo_video_ids("train", n)
    else:
        from eevflow.demo.realmedia.plan import RealMediaSpec, realmedia_video_ids
        from eevflow.demo.realmedia.write import generate_video

        spec = RealMediaSpec(n_train=n, n_val=1, n_test=1, min_seconds=seconds,
                             max_seconds=seconds)
        ids = realmedia_video_ids("train", n)
    videos = []
    for vid in ids:
        path = out / f"{vid}.mp4"
        if not path.exists():
            generate_video(path, vid, spec, "train")
        videos.append((vid, str(path)))
    return videos


def label_times(path: str) -> np.ndarray:
    with av.open(path) as c:
        seconds = c.duration / 1e6
    return (np.arange(int(seconds * ROWS_PER_S)) * 1e6 / ROWS_PER_S).round().astype(np.int64)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.where(den > 0, (a * b).sum(axis=1) / np.maximum(den, 1e-300), 1.0)


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def bench_kind(kind, args, effnet, logmel) -> dict:
    work = Path(args.work)
    videos = make_videos(kind, args.videos, args.seconds, work / "videos")
    stamps = {v: label_times(p) for v, p in videos}
    rows = sum(len(t) for t in stamps.values())
    seconds = rows / ROWS_PER_S
    res: dict = {"videos": len(videos), "rows": rows}
    shards = {}
    for store in ("raw", "compressed", "none"):
        d = work / "shards" / kind / store
        shutil.rmtree(d, ignore_errors=True)
        _, dt = timed(lambda: decode_shard(d, videos, stamps, store=store, threads=args.threads,
                                           jpeg_quality=args.quality,
                                           jpeg_subsampling=args.subsampling))
        shards[store] = d
        res[f"decode_ms_per_row_{store}"] = 1000 * dt / rows
    sizes = {k: sum(f.stat().st_size for v, _ in videos
                    for f in [video_files(shards["raw" if k.startswith("raw") else "compressed"],
                                          v, "raw" if k.startswith("raw") else "compressed")[
                        "frames" if k.endswith("frames") else "audio"]])
             for k in ("raw_frames", "raw_audio", "flac_frames", "flac_audio")}
    res["raw_bytes_per_row"] = sizes["raw_frames"] / rows
    res["raw_audio_bytes_per_s"] = sizes["raw_audio"] / seconds
    res["flac_audio_bytes_per_s"] = sizes["flac_audio"] / seconds
    res["store_frames_bytes_per_row"] = sizes["flac_frames"] / rows  # the compressed store's file

    # EfficientNet-Lite0 on raw frames, and on each JPEG setting's frames
    raw = {v.info.video_id: np.array(v.frames) for v in iter_shard(shards["raw"], "visual")}
    ref = {v: effnet.embed_frames(f) for v, f in raw.items()}
    res["jpeg"] = {}
    from PIL import Image
    import io

    for sub in args.subsamplings:
        for q in args.qualities:
            n_bytes, enc_s, dec_s, cos = 0, 0.0, 0.0, {}
            for vid, frames in raw.items():
                t0 = time.perf_counter()
                blobs = [encode_jpeg(f, q, sub) for f in frames]
                t1 = time.perf_counter()
                back = np.stack([np.asarray(Image.open(io.BytesIO(b))) for b in blobs])
                t2 = time.perf_counter()
                enc_s, dec_s = enc_s + t1 - t0, dec_s + t2 - t1
                n_bytes += sum(map(len, blobs))
                cos[vid] = cosine(ref[vid], effnet.embed_frames(back))
            every = np.concatenate(list(cos.values()))
            worst = min(cos, key=lambda v: np.median(cos[v]))
            res["jpeg"][f"q{q} {sub}"] = {
                "bytes_per_row": n_bytes / rows,
                "encode_ms_per_row": 1000 * enc_s / rows,
                "decode_ms_per_row": 1000 * dec_s / rows,
                "cos_median": float(np.median(every)),
                "cos_worst_video_median": float(np.median(cos[worst])),
                "cos_min_row": float(every.min()),
            }
            print(kind, f"q{q} {sub}", json.dumps(res["jpeg"][f"q{q} {sub}"]), flush=True)

    # log-mel on float32 vs FLAC int16
    flac = {v.info.video_id: v for v in iter_shard(shards["compressed"], "audio")}
    cos_a, diff = [], 0.0
    for v in iter_shard(shards["raw"], "audio"):
        a, b = logmel.embed(v), logmel.embed(flac[v.info.video_id])
        cos_a.append(cosine(a, b))
        diff = max(diff, float(np.abs(a - b).max()))
        res.setdefault("audio_max_abs_sample_diff", 0.0)
        res["audio_max_abs_sample_diff"] = max(res["audio_max_abs_sample_diff"], float(
            np.abs(v.audio - flac[v.info.video_id].audio).max()))
    cos_a = np.concatenate(cos_a)
    res["logmel_cos_median"] = float(np.median(cos_a))
    res["logmel_cos_min_row"] = float(cos_a.min())
    res["logmel_max_abs_diff"] = diff

    # extract time per row: reading the store + embedding, as the extract job does
    for store in ("raw", "compressed", "none"):
        def run():
            for v in iter_shard(shards[store], "visual", threads=args.threads):
                effnet.embed(v)
        _, dt = timed(run)
        res[f"extract_ms_per_row_{store}"] = 1000 * dt / rows
        def run_audio():
            for v in iter_shard(shards[store], "audio"):
                logmel.embed(v)
        _, dt = timed(run_audio)
        res[f"extract_audio_ms_per_row_{store}"] = 1000 * dt / rows
    print(kind, json.dumps({k: v for k, v in res.items() if k != "jpeg"}), flush=True)
    return res


class _Effnet:
    def __init__(self, threads):
        self.ext = build_extractor("effnet_lite0", {"backend": "efficientnet_lite0"},
                                   threads=threads)

    def embed_frames(self, frames):
        from eevflow.features.efficientnet_lite import embed_frames

        return embed_frames(self.ext.model(), frames, self.ext.batch_size)

    def embed(self, video):
        return self.ext.embed(video)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/bench_store")
    ap.add_argument("--videos", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--kinds", nargs="+", default=["synthetic", "realmedia"])
    ap.add_argument("--qualities", type=int, nargs="+", default=[85, 90, 95])
    ap.add_argument("--subsamplings", nargs="+", default=["4:2:0", "4:4:4"],
                    choices=list(SUBSAMPLING))
    ap.add_argument("--quality", type=int, default=90, help="the compressed store's, decoded")
    ap.add_argument("--subsampling", default="4:2:0")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    effnet = _Effnet(args.threads)
    logmel = build_extractor("logmel64", {"backend": "logmel", "n_mels": 64},
                             threads=args.threads)
    print(f"machine: {platform.platform()}, cpus={os.cpu_count()}, threads={args.threads}, "
          f"batch rows={BATCH_ROWS}")
    out = {k: bench_kind(k, args, effnet, logmel) for k in args.kinds}
    for kind, r in out.items():
        print(f"\n{kind}: {r['videos']} videos, {r['rows']} rows")
        print(f"  raw: {r['raw_bytes_per_row'] / 1e3:.1f} KB/row, "
              f"{r['raw_audio_bytes_per_s'] / 1e3:.1f} KB/s audio; FLAC "
              f"{r['flac_audio_bytes_per_s'] / 1e3:.1f} KB/s")
        for name, j in r["jpeg"].items():
            print(f"  {name}: {j['bytes_per_row'] / 1e3:.1f} KB/row, cos median "
                  f"{j['cos_median']:.4f}, worst video {j['cos_worst_video_median']:.4f}, "
                  f"min row {j['cos_min_row']:.4f}")
        for s in ("raw", "compressed", "none"):
            row_kb = {"raw": r["raw_bytes_per_row"], "compressed": r["store_frames_bytes_per_row"],
                      "none": 0.0}[s]
            audio = {"raw": r["raw_audio_bytes_per_s"], "compressed": r["flac_audio_bytes_per_s"],
                     "none": 0.0}[s]
            hour = row_kb * ROWS_PER_S * 3600 + audio * 3600
            print(f"  {s}: decode {r[f'decode_ms_per_row_{s}']:.2f} ms/row, extract effnet "
                  f"{r[f'extract_ms_per_row_{s}']:.2f} ms/row, logmel "
                  f"{r[f'extract_audio_ms_per_row_{s}']:.2f} ms/row; {hour / 1e9:.3f} GB/hour, "
                  f"EEV {EEV_HOURS} h {hour * EEV_HOURS / 1e9:.0f} GB")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
