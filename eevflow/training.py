"""The training loop of one model variant (data: ``eevflow.sequences``; inference:
``eevflow.inference``; the network: the family's module through ``eevflow.models``).

Follows the winner's code (DESIGN.md, docs/fidelity.md): one video per forward pass with gradient
accumulation over ``grad_accum`` *trained* videos (a video with no detected row is skipped and
counts for nothing), rows with no detection dropped from the training sequence (so the positional
channel carries the gaps), the loss of Eq. 4 (squared error averaged over a video's trained rows and
the targets, on targets times ``target_scale``; ``training.loss`` picks another of
``eevflow.losses``), optional row dropout and stochastic weight
averaging, model selection by validation M_rho, the last epoch or the SWA weights.

Training is resumable: after each epoch the whole state (weights, optimiser, SWA, every random
generator, history) is written to a state file; a restarted job with the same inputs continues
after the last finished epoch and ends with the same weights as an uninterrupted run (on CPU,
where the algorithms are deterministic).
"""

from __future__ import annotations

import copy
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Callable

import numpy as np
import torch
from torch.optim.swa_utils import SWALR, AveragedModel

from eevflow import metrics
from eevflow.inference import pick_device, predict_videos, video_tensors
from eevflow.losses import check_loss, video_loss
from eevflow.models import build_model, family_module
from eevflow.models.options import TrainingOptions
from eevflow.progress import progress
from eevflow.sequences import VideoSeq, dropped_rows, feature_stats, shuffled_labels
from eevflow.train_events import open_events

log = logging.getLogger(__name__)


@dataclass
class TrainConfig(TrainingOptions):
    """The variant's training options (eevflow.models.options.TrainingOptions, validated from the
    config) plus the scoring rules of validation M_rho."""

    constant_policy: str = "minus_one"
    ignore_undetected: bool = True  # scoring.ignore_undetected, for val_rows: scoring
    # the config's target_range ([low, high] or None: unbounded), for the bce and kl losses
    target_range: list[float] | None = field(default_factory=lambda: [0.0, 1.0])


def combined_m_rho(per_video: list[np.ndarray]) -> float:
    """M_rho from each video's row of per-target r (``ScoreResult.per_video`` of a one-video
    ``metrics.score``: nan where a pair was skipped or the video is unscorable), averaged as
    ``metrics.score`` does: the nan-mean over targets, then the mean over the videos that have
    one."""
    if not per_video:
        raise ValueError("no rows to score")
    video_mean = metrics._nanmean(np.stack(per_video), axis=1)
    included = ~np.isnan(video_mean)
    return float(video_mean[included].mean()) if included.any() else float("nan")


class Trainer:
    def __init__(self, model_cfg, train_cfg: TrainConfig, threads: int = 1):
        self.model_cfg, self.cfg = model_cfg, train_cfg
        check_loss(train_cfg.loss, train_cfg.target_range)  # before any data is read
        torch.set_num_threads(max(1, threads))
        torch.manual_seed(train_cfg.seed)
        self.device = pick_device(train_cfg.device)
        if self.device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        self.model = build_model(model_cfg).to(self.device)
        self.mean = np.zeros(model_cfg.input_dim, np.float32)  # feature standardisation
        self.std = np.ones(model_cfg.input_dim, np.float32)

    # ------------------------------------------------------------------ validation

    def predict(self, videos: Sequence[VideoSeq]) -> list[np.ndarray]:
        return predict_videos(self.model, videos, self.mean, self.std, self.device,
                              self.cfg.target_scale)

    def validate(self, videos: Sequence[VideoSeq], model=None) -> float:
        """Validation M_rho under ``val_rows``: scoring (all rows in, undetected rows scored as
        ``scoring.ignore_undetected``), detected (undetected rows neither fed nor scored), all.

        Streamed: each video is predicted and scored on its own (``metrics.score`` of its rows:
        a video's Pearson r depends on its rows alone, computed by the same in-order sums as in
        a call over the whole split) and only its row of per-target r is kept; the rows are then
        averaged as ``metrics.score`` averages them, so the number is the one a single call on
        the concatenated split gives (tests/test_streaming.py)."""
        model = self.model if model is None else model
        mode = self.cfg.val_rows
        ignore = {"scoring": self.cfg.ignore_undetected, "detected": True, "all": False}[mode]
        per_video = []
        for v in videos:
            rows = np.flatnonzero(v.detected) if mode == "detected" else None
            if rows is not None and len(rows) == 0:
                continue  # no rows: not a video of the metric's input
            pred = predict_videos(model, [v], self.mean, self.std, self.device,
                                  self.cfg.target_scale, None if rows is None else [rows])[0]
            y = v.labels if rows is None else v.labels[rows]
            res = metrics.score(np.zeros(len(pred), np.int64), y, pred,
                                policy=self.cfg.constant_policy, ignore_undetected=ignore)
            per_video.append(res.per_video[0])
        return combined_m_rho(per_video)

    # ------------------------------------------------------------------ training

    def _optimizer(self):
        cfg, params = self.cfg, self.model.parameters()
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay)
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def step(self, opt) -> None:
        """One optimiser step (the gradient norm clipped at ``grad_clip_norm`` first), then the
        gradients cleared."""
        if self.cfg.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def _epoch(self, train, opt, order_rng, drop_rng) -> dict:
        """One pass: returns the loss and the counts of trained videos and optimiser steps. A
        family module's ``EPOCH`` (same arguments and keys; e.g. mgn's batches of rows) replaces
        this per-video pass."""
        family_epoch = getattr(family_module(self.model_cfg.family), "EPOCH", None)
        if family_epoch is not None:
            return family_epoch(self, train, opt, order_rng, drop_rng)
        cfg = self.cfg
        self.model.train()
        opt.zero_grad(set_to_none=True)
        total, trained, pending, steps = 0.0, 0, 0, 0
        for i in order_rng.permutation(len(train)):
            v = train[i]
            rows = dropped_rows(np.flatnonzero(v.detected), cfg.row_dropout, drop_rng,
                                cfg.row_dropout_mode)
            if len(rows) == 0:  # the authors drop undetected rows: nothing left to train on
                continue
            x, s = video_tensors(v, self.mean, self.std, self.device, rows)
            y = torch.from_numpy(v.labels[rows]).to(self.device)
            loss = video_loss(self.model(x, s)[0], y, cfg.target_scale, cfg.loss,
                              target_range=cfg.target_range)
            (loss / cfg.grad_accum).backward()
            total += float(loss.detach())
            trained, pending = trained + 1, pending + 1
            if pending == cfg.grad_accum:
                self.step(opt)
                pending, steps = 0, steps + 1
        if pending:  # the last, partial window
            self.step(opt)
            steps += 1
        return {"train_loss": total / trained if trained else float("nan"),
                "trained_videos": trained, "optimizer_steps": steps}

    def fit(self, train: Sequence[VideoSeq], val: Sequence[VideoSeq], state_path: str | None = None,
            resume_key: str = "", on_epoch_end: Callable[[int], None] | None = None,
            blocks: list[int] | None = None, tensorboard_dir: str | None = None,
            tensorboard_text: dict | None = None) -> dict:
        """Train; with ``state_path``, resume from it when its ``resume_key`` matches and write it
        after every epoch (removed once training ends). ``on_epoch_end(epoch)`` runs after the
        state is written. ``blocks``: the size of each extractor's block of the features, in
        order (needed by ``balance_extractors``). ``tensorboard_dir``: write TensorBoard events
        there (eevflow.train_events: each epoch's scalars, the model and training settings and
        ``tensorboard_text``'s tags as text); None: no events. One progress line
        (eevflow.progress) every few seconds, counting epochs."""
        cfg = self.cfg
        if not train:
            raise ValueError("no training videos with both labels and features")
        if cfg.balance_extractors and blocks is None:
            raise ValueError("training.balance_extractors needs the extractors' block sizes")
        if cfg.standardize:
            self.mean, self.std = feature_stats(
                train, list(blocks) if cfg.balance_extractors else None)
        if cfg.shuffle_labels:
            train = shuffled_labels(train, cfg.seed)
        closed_form = getattr(family_module(self.model_cfg.family), "FIT", None)
        if closed_form is not None:  # e.g. the linear family's ridge: no epochs, nothing to resume
            if state_path and os.path.exists(state_path):
                os.remove(state_path)  # left by an earlier run of another family
            result = closed_form(self, train, val)
            events = open_events(tensorboard_dir, self._event_text(tensorboard_text),
                                 result["history"])
            if events is not None:
                events.close()
            return result
        opt = self._optimizer()
        order_rng = np.random.default_rng(cfg.seed)
        drop_rng = np.random.default_rng([cfg.seed, 1])  # row dropout: its own stream
        swa = AveragedModel(self.model) if cfg.swa_start is not None else None
        swa_sched = None
        if swa is not None:
            swa_sched = SWALR(opt, swa_lr=cfg.swa_lr or cfg.lr, anneal_epochs=cfg.swa_anneal_epochs,
                              anneal_strategy=cfg.swa_anneal_strategy)
        # the step schedule (MultiStepLR; SWALR drives the rate once averaging starts)
        self.lr_sched = (torch.optim.lr_scheduler.MultiStepLR(opt, cfg.lr_milestones, cfg.lr_gamma)
                         if cfg.lr_milestones else None)
        state = {"history": [], "best": {"epoch": -1, "val_m_rho": -np.inf}, "best_state": None}
        start = 0
        if state_path and os.path.exists(state_path):
            saved = torch.load(state_path, map_location=self.device, weights_only=False)
            if saved.get("key") == resume_key:
                start = self._restore(saved, opt, order_rng, drop_rng, swa, swa_sched, state)
                log.info("resuming after epoch %d from %s", start - 1, state_path)
            else:
                log.info("ignoring %s: it belongs to other inputs or settings", state_path)
        events = open_events(tensorboard_dir, self._event_text(tensorboard_text),
                             state["history"])
        bar = progress(desc="train", unit="epochs", total=cfg.epochs, initial=start)
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            averaging = swa is not None and epoch >= cfg.swa_start
            if averaging and cfg.swa_update == "epoch_start":  # the weights before this epoch
                swa.update_parameters(self.model)
            rec = {"epoch": epoch, "lr": float(opt.param_groups[0]["lr"]),
                   **self._epoch(train, opt, order_rng, drop_rng)}
            if self.lr_sched is not None:
                self.lr_sched.step()
            if averaging:
                if cfg.swa_update == "epoch_end":
                    swa.update_parameters(self.model)
                swa_sched.step()
            rec["val_m_rho"] = self.validate(val) if val else float("nan")
            rec["seconds"] = time.perf_counter() - t0
            state["history"].append(rec)
            log.info("epoch %d: %s", epoch, rec)
            if events is not None:
                events.record(rec, epoch)
            bar.set_postfix(loss=rec["train_loss"], val_m_rho=rec["val_m_rho"])
            bar.update()
            take_best = cfg.selection == "best_val" and val and rec["val_m_rho"] > state["best"][
                "val_m_rho"]
            if take_best or cfg.selection == "last" or (cfg.selection == "best_val" and not val):
                state["best"] = {"epoch": epoch, "val_m_rho": rec["val_m_rho"]}
                state["best_state"] = copy.deepcopy(self.model.state_dict())
            stop = (cfg.patience is not None and bool(val)
                    and epoch - state["best"]["epoch"] >= cfg.patience)
            if stop:
                log.info("early stop after epoch %d: no better validation M_rho for %d epochs",
                         epoch, cfg.patience)
                state["stopped_early"] = epoch
            if state_path:
                self._save(state_path, resume_key, epoch, opt, order_rng, drop_rng, swa, swa_sched,
                           state)
            if on_epoch_end is not None:
                on_epoch_end(epoch)
            if stop:
                break
        bar.close()
        if events is not None:
            events.close()
        if cfg.selection == "swa":
            self.model.load_state_dict(swa.module.state_dict())
            state["best"] = {"epoch": "swa", "val_m_rho": self.validate(val) if val else np.nan,
                             "averaged_epochs": int(swa.n_averaged)}
        elif state["best_state"] is not None:
            self.model.load_state_dict(state["best_state"])
        if state_path and os.path.exists(state_path):
            os.remove(state_path)
        out = {"history": state["history"], "best": state["best"]}
        if "stopped_early" in state:
            out["stopped_early_after_epoch"] = state["stopped_early"]
        return out

    def _event_text(self, extra: dict | None) -> dict:
        """The text tags of the TensorBoard events: the caller's, then the settings trained."""
        return {**(extra or {}), "model_config": self.model_cfg.to_dict(),
                "train_config": asdict(self.cfg)}

    # ------------------------------------------------------------------ resumable state

    def _save(self, path, key, epoch, opt, order_rng, drop_rng, swa, swa_sched, state):
        blob = {
            "key": key, "epoch": epoch,
            "model": self.model.state_dict(), "optimizer": opt.state_dict(),
            "swa": swa.state_dict() if swa is not None else None,
            "swa_sched": swa_sched.state_dict() if swa_sched is not None else None,
            "lr_sched": self.lr_sched.state_dict() if self.lr_sched is not None else None,
            "order_rng": order_rng.bit_generator.state, "drop_rng": drop_rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            **state,
        }
        tmp = Path(f"{path}.tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        torch.save(blob, tmp)
        os.replace(tmp, path)  # a kill mid-write leaves the previous epoch's state

    def _restore(self, saved, opt, order_rng, drop_rng, swa, swa_sched, state) -> int:
        self.model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        if swa is not None:
            swa.load_state_dict(saved["swa"])
            swa_sched.load_state_dict(saved["swa_sched"])
        if self.lr_sched is not None:
            self.lr_sched.load_state_dict(saved["lr_sched"])
        order_rng.bit_generator.state = saved["order_rng"]
        drop_rng.bit_generator.state = saved["drop_rng"]
        torch.set_rng_state(saved["torch_rng"].cpu())
        if saved["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all([s.cpu() for s in saved["cuda_rng"]])
        for k in ("history", "best", "best_state", "stopped_early"):
            if k in saved:
                state[k] = saved[k]
        if "stopped_early" in saved:  # killed after stopping early: nothing left to train
            return self.cfg.epochs
        return int(saved["epoch"]) + 1

    def checkpoint(self, **extra) -> dict:
        return {
            "family": self.model_cfg.family,
            "model_state": {k: v.cpu() for k, v in self.model.state_dict().items()},
            "model_config": self.model_cfg.to_dict(),
            "train_config": asdict(self.cfg),
            "feature_mean": torch.from_numpy(self.mean),
            "feature_std": torch.from_numpy(self.std),
            **extra,
        }
