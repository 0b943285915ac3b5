"""Train one variant and write its self-describing checkpoint and training history."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd
import torch

import eevflow
from eevflow.io import atomic_path, inputs_key, write_json
from eevflow.past_end import drop_past_end
from eevflow.models import model_config
from eevflow.models.options import model_type
from eevflow.runtime import run_script
from eevflow.sequences import load_split
from eevflow.training import Trainer, TrainConfig
from eevflow.validation import split_rows


def main(sm):
    settings, targets = sm.params.settings, sm.params.targets
    feats = settings["features"]
    manifests = list(sm.input.past_end_manifests)  # probe.labels_past_end: drop only
    labels = {
        split: drop_past_end(pd.read_parquet(path), manifests, sm.params.past_end, "unlabel")
        for split, path in (("train", sm.input.train_labels), ("val", sm.input.val_labels))
    }
    # validation.weights_holdout: those validation videos choose ensemble weights, not this model
    labels["val"], held = split_rows(
        labels["val"], sm.params.weights_holdout, "selection",
        pd.read_parquet(sm.input.val_labels, columns=["video_id"])["video_id"].unique())
    if held:
        logging.info("val: %d videos held out for ensemble weights: %s", len(held), held)
    shards = {s: {f: list(sm.input[f"{s}__{f}"]) for f in feats} for s in ("train", "val")}
    train = load_split(labels["train"], shards["train"], targets)
    val = load_split(labels["val"], shards["val"], targets)
    for name, split in (("train", train), ("val", val)):
        logging.info("%s: %d videos, %d skipped", name, len(split.videos), len(split.skipped))
        for vid, why in split.skipped.items():
            logging.warning("%s: skipped %s: %s", name, vid, why)
    input_dim = train.videos[0].features.shape[1] if train.videos else 0
    model_cfg = model_config(model_type(settings["model"]), settings["model"], input_dim,
                             len(targets))
    train_cfg = TrainConfig(constant_policy=sm.params.scoring["constant_policy"],
                            ignore_undetected=sm.params.scoring["ignore_undetected"],
                            **settings["training"])
    trainer = Trainer(model_cfg, train_cfg, threads=sm.threads)
    logging.info("device %s, model %s", trainer.device, model_cfg)
    # a killed job restarted with the same inputs and params continues after its last epoch
    key = inputs_key(list(sm.input), {"settings": settings, "targets": list(targets),
                                      "scoring": dict(sm.params.scoring), "code": sm.params.code,
                                      "weights_holdout": sm.params.weights_holdout})
    result = trainer.fit(train.videos, val.videos, state_path=sm.params.state, resume_key=key,
                         blocks=[dim for _, dim in train.blocks])
    ckpt = trainer.checkpoint(
        variant=sm.wildcards.variant,
        settings=settings,
        targets=list(targets),
        best=result["best"],
        n_train_videos=len(train.videos),
        n_val_videos=len(val.videos),
        eevflow_version=eevflow.__version__,
    )
    with atomic_path(sm.output.model) as tmp:
        torch.save(ckpt, tmp)
    write_json(
        {"variant": sm.wildcards.variant, "settings": settings, **result,
         "skipped": {"train": train.skipped, "val": val.skipped},
         "val_held_out_for_weights": held},
        sm.output.history,
    )
    logging.info("kept epoch %s, val M_rho %.4f", result["best"]["epoch"], result["best"]["val_m_rho"])


run_script(snakemake, main)  # noqa: F821
