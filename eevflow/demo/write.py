"""Writing the demo: one video's .mp4 (``generate_video``) and the whole dataset (the command
line is ``eevflow.demo.dataset.main``)."""

from __future__ import annotations

from pathlib import Path

from eevflow.demo.encode import write_dataset, write_planned_mp4
from eevflow.demo.render import FrameRenderer, render_audio
from eevflow.demo.signal import generate_labels_and_oracle
from eevflow.demo.spec import DemoSpec, demo_video_ids, plan_video

# --------------------------------------------------------------------------------------------------
# encoding


def generate_video(path, video_id: str, spec: DemoSpec, split: str) -> dict:
    """Write one demo video (H.264 + AAC in .mp4, atomically); return its plan (``plan_video``)."""
    meta = plan_video(video_id, spec, split)
    write_planned_mp4(path, meta, spec, FrameRenderer(meta, spec).frame, render_audio(meta, spec))
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
    write_dataset(videos_dir, labels, test_ground_truth, spec, demo_video_ids, _one, jobs,
                  test_oracle)
