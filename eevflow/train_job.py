"""One train job, from its files to its checkpoint and history: what ``workflow_scripts/train.py``
runs and ``bench/bench_stream_memory.py`` measures. The splits stream from their shards
(``eevflow.split_stream.open_split``), so the job's memory follows its longest video, not the size
of the training set."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
import torch

import eevflow
from eevflow import feature_inputs
from eevflow.io import atomic_path, inputs_key, write_json
from eevflow.models import model_config
from eevflow.models.options import model_type
from eevflow.sequences import SplitData
from eevflow.split_stream import (label_video_ids, open_split, return_large_buffers,
                                  shard_modality)
from eevflow.training import TrainConfig, Trainer
from eevflow.validation import weights_holdout

log = logging.getLogger(__name__)


def past_end_durations(manifests: list[str], past_end: Mapping[str, Any]):
    """``(video -> duration_s, tolerance_s)`` for ``probe.labels_past_end: drop`` (what
    ``eevflow.past_end.drop_past_end(..., "unlabel")`` applies to a label frame), else None."""
    if past_end["policy"] != "drop" or not manifests:
        return None
    manifest = pd.concat([pd.read_parquet(p, columns=["video_id", "duration_s"])
                          for p in manifests])
    durations = dict(zip(manifest["video_id"], manifest["duration_s"].astype(float)))
    return durations, float(past_end["tolerance_s"])


def log_split(name: str, split: SplitData) -> None:
    log.info("%s: %d videos, %d skipped", name, len(split.videos), len(split.skipped))
    for vid, why in split.skipped.items():
        log.warning("%s: skipped %s: %s", name, vid, why)


def init_branches(trainer: Trainer, paths: Mapping[str, str] | None, n_train_videos: int):
    """omg ``model.init_from`` (two-stage training): each branch's trained weights loaded into
    the new model (eevflow.models.omg.init_branches); None for a model without."""
    if not paths and not getattr(trainer.model_cfg, "init_from", None):
        return None
    from eevflow.models.omg import init_branches as load

    return load(trainer.model, dict(paths or {}), n_train_videos)


def init_stats(trainer: Trainer, checkpoints: dict, report: dict) -> dict:
    """What was loaded, and whether the model's own feature standardisation (its training set's)
    equals, on each loaded branch's columns, the one that branch was trained with."""
    from eevflow.models.omg import stats_check

    stats = stats_check(trainer.model_cfg, trainer.mean, trainer.std, checkpoints)
    return {b: {**r, "feature_stats": stats[b]} for b, r in report.items()}


def train_variant(
    *,
    variant: str,
    labels: Mapping[str, str],
    shards: Mapping[str, Mapping[str, list[str]]],
    settings: dict,
    targets: list[str],
    scoring: Mapping[str, Any],
    target_range: list[float] | None = (0.0, 1.0),
    past_end: Mapping[str, Any],
    past_end_manifests: list[str],
    weights_holdout_fraction: float,
    model_path: str,
    history_path: str,
    state_path: str | None = None,
    key_inputs: list[str] | None = None,
    code: Any = None,
    threads: int = 1,
    init_models: Mapping[str, str] | None = None,
    tensorboard_dir: str | None = None,
) -> dict:
    """Train ``variant`` on ``labels["train"]`` / ``shards["train"]`` (extractor -> shard
    paths), select on ``labels["val"]`` less the ``validation.weights_holdout`` videos, and write
    the checkpoint and history (atomically). ``key_inputs`` and ``code``: what the resume key of
    the state file is made of (the job's input files by default: labels, shards, manifests).
    ``target_range``: the config's (the output activation of the families that have one).
    ``init_models``: omg ``model.init_from``, branch -> the checkpoint its weights start from.
    ``tensorboard_dir``: TensorBoard events of the training there (Trainer.fit), None: none.
    Returns the history written."""
    return_large_buffers()
    feats = settings["features"]
    durations = past_end_durations(list(past_end_manifests), past_end)
    # validation.weights_holdout: those validation videos choose ensemble weights, not this model
    held = weights_holdout(label_video_ids(labels["val"]), weights_holdout_fraction)
    if held:
        log.info("val: %d videos held out for ensemble weights: %s", len(held), held)
    train = open_split(labels["train"], {f: list(shards["train"][f]) for f in feats}, targets,
                       past_end=durations)
    val = open_split(labels["val"], {f: list(shards["val"][f]) for f in feats}, targets,
                     exclude=held, past_end=durations)
    for name, split in (("train", train), ("val", val)):
        log_split(name, split)
    log.info("longest video: %d rows (train), %d rows (val)", train.videos.longest,
             val.videos.longest)
    input_dim = sum(dim for _, dim in train.blocks)
    streams = [[name, dim, shard_modality(shards["train"][name])] for name, dim in train.blocks]
    model_cfg = model_config(model_type(settings["model"]), settings["model"], input_dim,
                             len(targets), streams=streams, target_range=target_range)
    train_cfg = TrainConfig(constant_policy=scoring["constant_policy"],
                            ignore_undetected=scoring["ignore_undetected"],
                            target_range=None if target_range is None else list(target_range),
                            **settings["training"])
    trainer = Trainer(model_cfg, train_cfg, threads=threads)
    log.info("device %s, model %s", trainer.device, model_cfg)
    init = init_branches(trainer, init_models, len(train.videos))
    # a killed job restarted with the same inputs and params continues after its last epoch
    if key_inputs is None:
        key_inputs = [labels["train"], labels["val"], *past_end_manifests,
                      *(p for split in ("train", "val") for f in feats for p in shards[split][f]),
                      *(init_models or {}).values()]
    key = inputs_key(list(key_inputs), {"settings": settings, "targets": list(targets),
                                        "target_range": target_range,
                                        "scoring": dict(scoring), "code": code,
                                        "weights_holdout": weights_holdout_fraction})
    result = trainer.fit(train.videos, val.videos, state_path=state_path, resume_key=key,
                         blocks=[dim for _, dim in train.blocks], tensorboard_dir=tensorboard_dir,
                         tensorboard_text={"variant": variant, "settings": settings})
    init_report = {} if init is None else {"init_from": init_stats(trainer, *init)}
    ckpt = trainer.checkpoint(
        variant=variant,
        settings=settings,
        targets=list(targets),
        target_range=None if target_range is None else list(target_range),
        best=result["best"],
        n_train_videos=len(train.videos),
        n_val_videos=len(val.videos),
        eevflow_version=eevflow.__version__,
        # how each feature was made (extractor options, decode settings): eevflow.new_videos
        inputs=feature_inputs.from_shards({f: list(shards["train"][f]) for f in feats}),
        **init_report,
    )
    with atomic_path(model_path) as tmp:
        torch.save(ckpt, tmp)
    history = {"variant": variant, "settings": settings, **result,
               "skipped": {"train": train.skipped, "val": val.skipped},
               "val_held_out_for_weights": held, **init_report}
    write_json(history, history_path)
    log.info("kept epoch %s, val M_rho %.4f", result["best"]["epoch"], result["best"]["val_m_rho"])
    return history
