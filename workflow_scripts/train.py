"""Train one variant and write its self-describing checkpoint and training history (the videos
stream from the shards: eevflow.train_job)."""

import _paths  # noqa: F401  (makes eevflow importable)

from eevflow.runtime import run_script
from eevflow.train_job import train_variant


def main(sm):
    feats = sm.params.settings["features"]
    train_variant(
        variant=sm.wildcards.variant,
        labels={"train": sm.input.train_labels, "val": sm.input.val_labels},
        shards={s: {f: list(sm.input[f"{s}__{f}"]) for f in feats} for s in ("train", "val")},
        settings=sm.params.settings,
        targets=list(sm.params.targets),
        scoring=sm.params.scoring,
        target_range=sm.params.target_range,
        past_end=sm.params.past_end,
        past_end_manifests=list(sm.input.past_end_manifests),  # probe.labels_past_end: drop only
        weights_holdout_fraction=sm.params.weights_holdout,
        model_path=sm.output.model,
        history_path=sm.output.history,
        tensorboard_dir=sm.output.tensorboard,  # TensorBoard events (eevflow.train_events)
        state_path=sm.params.state,
        key_inputs=list(sm.input),
        # omg model.init_from: branch -> the checkpoint it starts from (rules/model.smk)
        init_models={k[len("init__"):]: sm.input[k] for k in sm.input.keys()
                     if k.startswith("init__")},
        code=sm.params.code,
        threads=sm.threads,
    )


run_script(snakemake, main)  # noqa: F821
