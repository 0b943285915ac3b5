"""Weighted average of member variants' predictions for one split."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd

from eevflow.ensemble import weighted_average
from eevflow.io import atomic_path
from eevflow.runtime import run_script


def main(sm):
    weights = dict(sm.params.weights)
    members = {name: pd.read_parquet(sm.input[name]) for name in weights}
    df = weighted_average(members, weights, list(sm.params.targets))
    logging.info("weights %s: %d rows", weights, len(df))
    with atomic_path(sm.output[0]) as tmp:
        df.to_parquet(tmp, index=False)


run_script(snakemake, main)  # noqa: F821
