"""Writing the demo: one video's .mp4 (``generate_video``) and the whole dataset (the command
line is ``eevflow.demo.dataset.main``)."""

from __future__ import annotations

from pathlib import Path

from eevflow.demo.encode import write_label_csvs, write_mp4
from eevflow.demo.render import FrameRenderer, render_audio
from eevflow.demo.signal import generate_labels_and_oracle
from eevflow.demo.spec import SPLITS, DemoSpec, demo_video_ids, plan_video

# --------------------------------------------------------------------------------------------------
# encoding


def generate_video(path, video_id: str, spec: DemoSpec, split: str) -> dict:
    """Write one demo video (H.264 + AAC in .mp4, atomically); return its plan (``plan_video``)."""
    meta = plan_video(video_id, spec, split)
    renderer = FrameRenderer(meta, spec)
    write_mp4(
        path,
        renderer.frame,
        meta["n_frames"],
        render_audio(meta, spec),
        fps=meta["fps"],
        sample_rate=meta["sample_rate"],
        width=meta["width"],
        height=meta["height"],
        x264_preset=spec.x264_preset,
        x264_crf=spec.x264_crf,
        keyframe_seconds=spec.keyframe_seconds,
        aac_coder=spec.aac_coder,
    )
    return meta


# --------------------------------------------------------------------------------------------------
# the whole dataset


def _one(args):
    videos_dir, video_id, spec, split = args
    meta = generate_video(Path(videos_dir) / f"{video_id}.mp4", video_id, spec, split)
    ts, scores, oracle = generate_labels_and_oracle(meta, spec)
    return split, video_id, ts, scores, oracle


def generate_demo(
    videos_dir,
    labels: dict[str, str],
    test_ground_truth: str,
    spec: DemoSpec = DemoSpec(),
    jobs: int = 1,
    test_oracle: str | None = None,
) -> None:
    """Write the demo dataset.

    ``videos_dir/<id>.mp4`` for every video; ``labels["train"]`` and ``labels["val"]`` as EEV CSVs
    (``YouTube ID,Timestamp (milliseconds),<15 scores>``); ``labels["test"]`` in the released-test
    layout (``Video ID,Timestamp (milliseconds)`` only); ``test_ground_truth`` with the test videos'
    scores (``Video ID,Timestamp (milliseconds),<15 scores>``); ``test_oracle`` (optional) with the
    test videos' noise-free signal (the scores before noise) in the same layout. ``jobs`` > 1
    encodes videos in that many processes (the output does not depend on it).
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
    write_label_csvs(results, labels, test_ground_truth, test_oracle)
