"""The report's score and training figures: per-expression Pearson's r per model (from the score
table) and the training loss and validation M_rho per epoch of each variant (their histories)."""

import _paths  # noqa: F401  (makes eevflow importable)
import json
import logging
from pathlib import Path

from eevflow.plots import pearson_bars, save_figure, training_curves
from eevflow.runtime import run_script


def main(sm):
    save_figure(pearson_bars(sm.input.scores), sm.output.pearson)
    histories = {
        variant: json.loads(Path(path).read_text())
        for variant, path in zip(sm.params.variants, sm.input.histories)
    }
    save_figure(training_curves(histories), sm.output.training)
    logging.info("drew %s and %s (%d variants)", sm.output.pearson, sm.output.training,
                 len(histories))


run_script(snakemake, main)  # noqa: F821
