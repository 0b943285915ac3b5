"""Predict one split with one trained variant (every label row kept, as the authors did)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

from eevflow.inference import predict_split
from eevflow.io import atomic_path
from eevflow.runtime import run_script


def main(sm):
    shards = {f: list(sm.input[f"shards__{f}"]) for f in sm.params.features}
    df, skipped = predict_split(sm.input.model, sm.input.labels, shards, list(sm.params.targets),
                                threads=sm.threads)
    logging.info("%d rows predicted, %d videos without features", len(df), len(skipped))
    for vid, why in skipped.items():
        logging.warning("no prediction for %s: %s", vid, why)
    with atomic_path(sm.output[0]) as tmp:
        df.to_parquet(tmp, index=False)


run_script(snakemake, main)  # noqa: F821
