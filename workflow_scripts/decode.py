"""Decode one video: frames at its label timestamps (224, square) and 16 kHz mono audio."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd

from eevflow.media import decode_video
from eevflow.runtime import run_script


def main(sm):
    video = sm.wildcards.video
    labels = pd.read_parquet(sm.input.labels, columns=["video_id", "timestamp_us"])
    ts = labels.loc[labels["video_id"] == video, "timestamp_us"].to_numpy()
    d = sm.params.decode
    info = decode_video(
        video, sm.input.video, ts, sm.output.frames, sm.output.audio, sm.output.meta,
        frame_size=d["frame_size"], sample_rate=d["audio_sample_rate"],
        chunk_frames=d["chunk_frames"],
    )
    logging.info(
        "%s: %d rows from %d frames at %.3f fps (%dx%d), %d audio samples",
        video, len(ts), info.n_frames, info.fps, info.width, info.height, info.n_samples,
    )


run_script(snakemake, main)  # noqa: F821
