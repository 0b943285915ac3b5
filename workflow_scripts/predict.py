"""Predict one split with one trained variant (every label row kept, as the authors did)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd
import torch

from eevflow.io import atomic_path
from eevflow.runtime import run_script
from eevflow.inference import Predictor, predictions_frame
from eevflow.sequences import load_split


def main(sm):
    ckpt = torch.load(sm.input.model, map_location="cpu", weights_only=True)
    predictor = Predictor.from_checkpoint(ckpt, device="auto", threads=sm.threads)
    labels = pd.read_parquet(sm.input.labels, columns=["video_id", "timestamp_us"])
    shards = {f: list(sm.input[f"shards__{f}"]) for f in sm.params.features}
    data = load_split(labels, shards, None)
    logging.info("%d videos to predict, %d without features", len(data.videos), len(data.skipped))
    for vid, why in data.skipped.items():
        logging.warning("no prediction for %s: %s", vid, why)
    df = predictions_frame(data.videos, predictor.predict(data.videos), list(sm.params.targets))
    with atomic_path(sm.output[0]) as tmp:
        df.to_parquet(tmp, index=False)


run_script(snakemake, main)  # noqa: F821
