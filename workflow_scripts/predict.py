"""Predict one split with one trained variant (every label row kept, as the authors did),
video by video into the predictions Parquet (eevflow.inference.write_predictions)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

from eevflow.inference import write_predictions
from eevflow.runtime import run_script


def main(sm):
    shards = {f: list(sm.input[f"shards__{f}"]) for f in sm.params.features}
    n, skipped = write_predictions(sm.input.model, sm.input.labels, shards,
                                   list(sm.params.targets), sm.output[0], threads=sm.threads,
                                   desc=f"predict {sm.wildcards.variant} split "
                                        f"{sm.wildcards.pred_split}")
    logging.info("%d rows predicted, %d videos without features", n, len(skipped))
    for vid, why in skipped.items():
        logging.warning("no prediction for %s: %s", vid, why)


run_script(snakemake, main)  # noqa: F821
