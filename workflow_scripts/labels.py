"""Parse and validate one EEV label CSV into Parquet."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

from eevflow.labels import read_labels, write_labels_parquet
from eevflow.runtime import run_script


def main(sm):
    df = read_labels(sm.input.csv, sm.params.targets, require_scores=sm.params.require_scores,
                     target_range=sm.params.target_range)
    logging.info(
        "%s: %d rows, %d videos, %d rows with no detection",
        sm.input.csv, len(df), df["video_id"].nunique(), int((~df["detected"]).sum()),
    )
    write_labels_parquet(df, sm.output[0])


run_script(snakemake, main)  # noqa: F821
