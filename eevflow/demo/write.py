"""Writing the demo: one video's .mp4 (``generate_video``), the whole dataset, the CLI."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

from eevflow.demo.render import FrameRenderer, render_audio
from eevflow.demo.signal import generate_labels
from eevflow.demo.spec import (
    EXPRESSIONS,
    ID_HEADER_TEST,
    ID_HEADER_TRAIN,
    SPLITS,
    TIMESTAMP_HEADER,
    DemoSpec,
    demo_video_ids,
    plan_video,
)
from eevflow.io import atomic_path

_DESCRIPTION = "A deterministic synthetic EEV-style dataset with a planted, learnable signal."

# --------------------------------------------------------------------------------------------------
# encoding


def generate_video(path, video_id: str, spec: DemoSpec, split: str) -> dict:
    """Write one demo video (H.264 + AAC in .mp4, atomically); return its plan (``plan_video``)."""
    import av

    meta = plan_video(video_id, spec, split)
    fps, sr, ch = meta["fps"], meta["sample_rate"], meta["channels"]
    layout = "mono" if ch == 1 else "stereo"
    renderer = FrameRenderer(meta, spec)
    audio = render_audio(meta, spec)
    keyint = max(1, round(spec.keyframe_seconds * fps))
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            vs = container.add_stream(
                "libx264",
                rate=fps,
                options={
                    "preset": spec.x264_preset,
                    "crf": str(spec.x264_crf),
                    # single-threaded (frame and lookahead) x264 is deterministic
                    "x264-params": f"threads=1:lookahead-threads=1:keyint={keyint}",
                },
            )
            vs.width, vs.height, vs.pix_fmt = meta["width"], meta["height"], "yuv420p"
            vs.codec_context.thread_count = 1
            aus = container.add_stream(
                "aac", rate=sr, layout=layout, options={"aac_coder": spec.aac_coder}
            )
            aus.codec_context.bit_rate = 64000 * ch
            aus.codec_context.thread_count = 1
            frame_size = 1024
            vtb, atb = Fraction(1, fps), Fraction(1, sr)
            a_pos = 0

            def encode_audio(upto: int) -> None:
                nonlocal a_pos
                while a_pos < upto:
                    stop = min(upto, a_pos + frame_size)
                    af = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(audio[:, a_pos:stop]), format="fltp", layout=layout
                    )
                    af.sample_rate, af.pts, af.time_base = sr, a_pos, atb
                    container.mux(aus.encode(af))
                    a_pos = stop

            for j in range(meta["n_frames"]):
                vf = av.VideoFrame.from_ndarray(renderer.frame(j), format="rgb24")
                vf.pts, vf.time_base = j, vtb
                container.mux(vs.encode(vf))
                # keep audio in step with video; whole 1024-sample frames until the end
                target = round((j + 1) * sr / fps)
                if j == meta["n_frames"] - 1:
                    encode_audio(meta["n_samples"])
                else:
                    encode_audio(a_pos + ((target - a_pos) // frame_size) * frame_size)
            container.mux(vs.encode(None))
            container.mux(aus.encode(None))
    return meta


# --------------------------------------------------------------------------------------------------
# the whole dataset


def _fmt_rows(video_id: str, ts: np.ndarray, scores: np.ndarray | None) -> list[str]:
    if scores is None:
        return [f"{video_id},{int(t)}\n" for t in ts]
    return [
        f"{video_id},{int(t)}," + ",".join(f"{v:.6f}" for v in row) + "\n"
        for t, row in zip(ts, scores)
    ]


def _write_text(path, lines: list[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(lines)


def _one(args) -> tuple[str, str, np.ndarray, np.ndarray]:
    videos_dir, video_id, spec, split = args
    meta = generate_video(Path(videos_dir) / f"{video_id}.mp4", video_id, spec, split)
    ts, scores = generate_labels(meta, spec)
    return split, video_id, ts, scores


def generate_demo(
    videos_dir,
    labels: dict[str, str],
    test_ground_truth: str,
    spec: DemoSpec = DemoSpec(),
    jobs: int = 1,
) -> None:
    """Write the demo dataset.

    ``videos_dir/<id>.mp4`` for every video; ``labels["train"]`` and ``labels["val"]`` as EEV CSVs
    (``YouTube ID,Timestamp (milliseconds),<15 scores>``); ``labels["test"]`` in the released-test
    layout (``Video ID,Timestamp (milliseconds)`` only); ``test_ground_truth`` with the test videos'
    scores (``Video ID,Timestamp (milliseconds),<15 scores>``). ``jobs`` > 1 encodes videos in that
    many processes (the output does not depend on it).
    """
    missing = [s for s in SPLITS if s not in labels]
    if missing:
        raise KeyError(f"labels needs paths for splits {missing}")
    videos_dir = Path(videos_dir)
    videos_dir.mkdir(parents=True, exist_ok=True)
    work = [
        (str(videos_dir), vid, spec, split)
        for split in SPLITS
        for vid in demo_video_ids(split, spec.count(split))
    ]
    ids = [w[1] for w in work]
    if len(set(ids)) != len(ids):  # pragma: no cover - a sha256 prefix collision
        raise RuntimeError("demo video IDs collide")
    if jobs > 1 and len(work) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_one, work))
    else:
        results = [_one(w) for w in work]

    names = ",".join(EXPRESSIONS)
    out: dict[str, list[str]] = {
        "train": [f"{ID_HEADER_TRAIN},{TIMESTAMP_HEADER},{names}\n"],
        "val": [f"{ID_HEADER_TRAIN},{TIMESTAMP_HEADER},{names}\n"],
        "test": [f"{ID_HEADER_TEST},{TIMESTAMP_HEADER}\n"],
        "gt": [f"{ID_HEADER_TEST},{TIMESTAMP_HEADER},{names}\n"],
    }
    for split, vid, ts, scores in results:
        if split == "test":
            out["test"] += _fmt_rows(vid, ts, None)
            out["gt"] += _fmt_rows(vid, ts, scores)
        else:
            out[split] += _fmt_rows(vid, ts, scores)
    for split in SPLITS:
        _write_text(labels[split], out[split])
    _write_text(test_ground_truth, out["gt"])


def main(argv: list[str] | None = None) -> int:
    defaults = DemoSpec()
    p = argparse.ArgumentParser(prog="python -m eevflow.demo", description=_DESCRIPTION)
    p.add_argument("--videos-dir", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--test-ground-truth", required=True)
    for field in ("n_train", "n_val", "n_test", "seed"):
        p.add_argument(f"--{field.replace('_', '-')}", type=int, default=getattr(defaults, field))
    for field in ("min_seconds", "max_seconds", "noise_std", "no_detection_fraction"):
        p.add_argument(f"--{field.replace('_', '-')}", type=float, default=getattr(defaults, field))
    p.add_argument("--jobs", type=int, default=1)
    a = p.parse_args(argv)
    spec = dataclasses.replace(
        defaults,
        **{
            f: getattr(a, f)
            for f in (
                "n_train",
                "n_val",
                "n_test",
                "seed",
                "min_seconds",
                "max_seconds",
                "noise_std",
                "no_detection_fraction",
            )
        },
    )
    generate_demo(
        a.videos_dir,
        {"train": a.train, "val": a.val, "test": a.test},
        a.test_ground_truth,
        spec,
        jobs=a.jobs,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
