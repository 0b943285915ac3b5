"""Encoding and writing the built-in datasets: an H.264 + AAC ``.mp4`` with PyAV (single-threaded,
so byte-identical from run to run), and the EEV-format label CSVs. Shared by the synthetic demo
(``eevflow.demo.write``) and the real-media demo (``eevflow.demo.realmedia``)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from eevflow.demo.spec import EXPRESSIONS, ID_HEADER_TEST, ID_HEADER_TRAIN, SPLITS, TIMESTAMP_HEADER
from eevflow.io import atomic_path


def write_mp4(
    path,
    frame: Callable[[int], np.ndarray],
    n_frames: int,
    audio: np.ndarray,
    *,
    fps: int,
    sample_rate: int,
    width: int,
    height: int,
    x264_preset: str,
    x264_crf: int,
    keyframe_seconds: float,
    aac_coder: str,
) -> None:
    """Write ``n_frames`` frames (``frame(j)``: RGB uint8 (height, width, 3)) at ``fps`` and the
    float32 (channels, n_samples) ``audio`` as H.264 (yuv420p) + AAC in an ``.mp4``, atomically."""
    import av

    sr, ch = sample_rate, audio.shape[0]
    n_samples = audio.shape[1]
    layout = "mono" if ch == 1 else "stereo"
    keyint = max(1, round(keyframe_seconds * fps))
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            vs = container.add_stream(
                "libx264",
                rate=fps,
                options={
                    "preset": x264_preset,
                    "crf": str(x264_crf),
                    # single-threaded (frame and lookahead) x264 is deterministic, but for its
                    # macroblock-tree rate control, whose output depends on uninitialised
                    # memory for some sizes (240x240: other bytes under MALLOC_PERTURB_=165,
                    # and now and then in a long-lived test process): off
                    "x264-params": f"threads=1:lookahead-threads=1:mbtree=0:keyint={keyint}",
                },
            )
            vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
            vs.codec_context.thread_count = 1
            aus = container.add_stream(
                "aac", rate=sr, layout=layout, options={"aac_coder": aac_coder}
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

            for j in range(n_frames):
                vf = av.VideoFrame.from_ndarray(frame(j), format="rgb24")
                vf.pts, vf.time_base = j, vtb
                container.mux(vs.encode(vf))
                # keep audio in step with video; whole 1024-sample frames until the end
                target = round((j + 1) * sr / fps)
                if j == n_frames - 1:
                    encode_audio(n_samples)
                else:
                    encode_audio(a_pos + ((target - a_pos) // frame_size) * frame_size)
            container.mux(vs.encode(None))
            container.mux(aus.encode(None))


# --------------------------------------------------------------------------------------------------
# label CSVs


def fmt_rows(video_id: str, ts: np.ndarray, scores: np.ndarray | None) -> list[str]:
    if scores is None:
        return [f"{video_id},{int(t)}\n" for t in ts]
    return [
        f"{video_id},{int(t)}," + ",".join(f"{v:.6f}" for v in row) + "\n"
        for t, row in zip(ts, scores)
    ]


def write_text(path, lines: list[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(lines)


def write_label_csvs(
    results,
    labels: dict[str, str],
    test_ground_truth: str,
    test_oracle: str | None = None,
    names: tuple[str, ...] = EXPRESSIONS,
) -> None:
    """Write the EEV-format CSVs of a generated dataset (score columns ``names``).

    ``results``: ``(split, video_id, timestamps_us, scores, oracle)`` per video in order, where
    ``oracle`` is the noise-free signal of the same rows (all 0.0 on the no-detection rows).
    ``labels["train"]`` / ``labels["val"]``: ``YouTube ID,Timestamp (milliseconds),<15 scores>``;
    ``labels["test"]``: the released-test layout (``Video ID,Timestamp (milliseconds)`` only);
    ``test_ground_truth``: the test videos' scores (``Video ID,Timestamp (milliseconds),<15>``);
    ``test_oracle`` (when given): the test videos' noise-free signal in the ground-truth layout.
    """
    names = ",".join(names)
    out: dict[str, list[str]] = {
        "train": [f"{ID_HEADER_TRAIN},{TIMESTAMP_HEADER},{names}\n"],
        "val": [f"{ID_HEADER_TRAIN},{TIMESTAMP_HEADER},{names}\n"],
        "test": [f"{ID_HEADER_TEST},{TIMESTAMP_HEADER}\n"],
        "gt": [f"{ID_HEADER_TEST},{TIMESTAMP_HEADER},{names}\n"],
        "oracle": [f"{ID_HEADER_TEST},{TIMESTAMP_HEADER},{names}\n"],
    }
    for split, vid, ts, scores, oracle in results:
        if split == "test":
            out["test"] += fmt_rows(vid, ts, None)
            out["gt"] += fmt_rows(vid, ts, scores)
            out["oracle"] += fmt_rows(vid, ts, oracle)
        else:
            out[split] += fmt_rows(vid, ts, scores)
    for split in SPLITS:
        write_text(labels[split], out[split])
    write_text(test_ground_truth, out["gt"])
    if test_oracle:
        write_text(test_oracle, out["oracle"])


def write_planned_mp4(path, meta: dict, spec, frame, audio) -> None:
    """Encode one planned video (``meta``: its n_frames, fps, sample_rate, width, height) with
    the spec's encoder settings: ``frame(i)`` gives frame i, ``audio`` the whole track."""
    write_mp4(
        path,
        frame,
        meta["n_frames"],
        audio,
        fps=meta["fps"],
        sample_rate=meta["sample_rate"],
        width=meta["width"],
        height=meta["height"],
        x264_preset=spec.x264_preset,
        x264_crf=spec.x264_crf,
        keyframe_seconds=spec.keyframe_seconds,
        aac_coder=spec.aac_coder,
    )


def write_dataset(videos_dir, labels: dict[str, str], test_ground_truth: str, spec, video_ids,
                  one, jobs: int = 1, test_oracle: str | None = None) -> None:
    """Write a demo dataset: ``one((videos_dir, video_id, spec, split))`` writes a video and
    returns ``(split, video_id, timestamps, scores, oracle)``, for every ID of
    ``video_ids(split, spec.count(split))``, in ``jobs`` processes (the output does not depend on
    it); then the label CSVs (``write_label_csvs``)."""
    missing = [s for s in SPLITS if s not in labels]
    if missing:
        raise KeyError(f"labels needs paths for splits {missing}")
    videos_dir = Path(videos_dir)
    videos_dir.mkdir(parents=True, exist_ok=True)
    work = [
        (str(videos_dir), vid, spec, split)
        for split in SPLITS
        for vid in video_ids(split, spec.count(split))
    ]
    ids = [w[1] for w in work]
    if len(set(ids)) != len(ids):  # pragma: no cover - a sha256 prefix collision
        raise RuntimeError("demo video IDs collide")
    if jobs > 1 and len(work) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, work))
    else:
        results = [one(w) for w in work]
    write_label_csvs(results, labels, test_ground_truth, test_oracle,
                     getattr(spec, "target_names", EXPRESSIONS))
