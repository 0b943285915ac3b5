"""Import a ``pretrained:`` variant's checkpoint as its model file, checked against the variant and
the config (eevflow.pretrained), with a history saying it was imported, not trained."""

import _paths  # noqa: F401  (makes eevflow importable)

from eevflow.pretrained import import_checkpoint
from eevflow.runtime import run_script


def main(sm):
    import_checkpoint(
        source=sm.input.checkpoint,
        variant=sm.wildcards.variant,
        settings=sm.params.settings,
        extractors=dict(sm.params.extractors),
        targets=list(sm.params.targets),
        target_range=sm.params.target_range,
        model_path=sm.output.model,
        history_path=sm.output.history,
    )


run_script(snakemake, main)  # noqa: F821
