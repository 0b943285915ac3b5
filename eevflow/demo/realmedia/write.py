"""Writing the real-media demo: one video's .mp4 (``generate_video``) and the whole dataset."""

from __future__ import annotations

from pathlib import Path

from eevflow.demo.encode import write_dataset, write_planned_mp4
from eevflow.demo.realmedia.media import check_media
from eevflow.demo.realmedia.plan import RealMediaSpec, plan_video, realmedia_video_ids
from eevflow.demo.realmedia.render import VideoRenderer, render_audio
from eevflow.demo.realmedia.signal import generate_labels_and_oracle


def generate_video(path, video_id: str, spec: RealMediaSpec, split: str) -> dict:
    """Write one video (H.264 + AAC in .mp4, atomically); return its plan (``plan_video``)."""
    meta = plan_video(video_id, spec, split)
    write_planned_mp4(path, meta, spec, VideoRenderer(meta, spec).frame, render_audio(meta, spec))
    return meta


def _one(args):
    videos_dir, video_id, spec, split = args
    meta = generate_video(Path(videos_dir) / f"{video_id}.mp4", video_id, spec, split)
    ts, scores, oracle = generate_labels_and_oracle(meta, spec)
    return split, video_id, ts, scores, oracle


def generate_realmedia(
    videos_dir,
    labels: dict[str, str],
    test_ground_truth: str,
    spec: RealMediaSpec = RealMediaSpec(),
    jobs: int = 1,
    test_oracle: str | None = None,
) -> None:
    """Write the real-media demo dataset, in the synthetic demo's layout
    (``eevflow.demo.generate_demo``): ``videos_dir/<id>.mp4``, the train / val / test label CSVs,
    the test ground truth and (when ``test_oracle`` is given) the test split's noise-free signal.
    Raises ``MediaMissingError`` (naming the packages to install) before writing anything when a
    media file is missing."""
    check_media()
    write_dataset(videos_dir, labels, test_ground_truth, spec, realmedia_video_ids, _one, jobs,
                  test_oracle)
