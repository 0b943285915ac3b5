"""Train one variant and write its self-describing checkpoint and training history."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd
import torch

import eevflow
from eevflow.io import atomic_path, write_json
from eevflow.past_end import drop_past_end
from eevflow.models.options import family_options, model_type
from eevflow.models.tcn import TCNConfig
from eevflow.runtime import run_script
from eevflow.training import Trainer, TrainConfig, load_split


def main(sm):
    settings, targets = sm.params.settings, sm.params.targets
    feats = settings["features"]
    manifests = list(sm.input.past_end_manifests)  # probe.labels_past_end: drop only
    labels = {
        split: drop_past_end(pd.read_parquet(path), manifests, sm.params.past_end, "unlabel")
        for split, path in (("train", sm.input.train_labels), ("val", sm.input.val_labels))
    }
    shards = {s: {f: list(sm.input[f"{s}__{f}"]) for f in feats} for s in ("train", "val")}
    train = load_split(labels["train"], shards["train"], targets)
    val = load_split(labels["val"], shards["val"], targets)
    for name, split in (("train", train), ("val", val)):
        logging.info("%s: %d videos, %d skipped", name, len(split.videos), len(split.skipped))
        for vid, why in split.skipped.items():
            logging.warning("%s: skipped %s: %s", name, vid, why)
    input_dim = train.videos[0].features.shape[1] if train.videos else 0
    family = family_options(model_type(settings["model"])).from_dict(settings["model"])
    model_cfg = TCNConfig(input_dim=input_dim, n_targets=len(targets), **family.to_dict())
    train_cfg = TrainConfig(constant_policy=sm.params.constant_policy, **settings["training"])
    trainer = Trainer(model_cfg, train_cfg, threads=sm.threads)
    logging.info("device %s, receptive field %d steps", trainer.device, model_cfg.receptive_field)
    result = trainer.fit(train.videos, val.videos)
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
         "skipped": {"train": train.skipped, "val": val.skipped}},
        sm.output.history,
    )
    logging.info("best epoch %d, val M_rho %.4f", result["best"]["epoch"], result["best"]["val_m_rho"])


run_script(snakemake, main)  # noqa: F821
