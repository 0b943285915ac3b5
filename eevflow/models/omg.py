"""Peng et al.'s audio-visual network for OMG-Emotion (ADSC, "A Deep Network for Arousal-Valence
Emotion Prediction with Acoustic-Visual Cues"), made dense: one prediction per label row.

The paper predicts one score per utterance (snippet); here a row's snippet is the window of
``window_s`` seconds centred on it (the rows within window_s / 2 before or after, so fewer at the
video's ends; centred because the paper's snippet is a whole utterance seen at once, and a
prediction here is made offline with the whole video at hand). For each row:

- VNet (the visual streams, concatenated): ``n_visual`` rows of the snippet, one per equal
  segment of its rows (the paper's TSN sampling, its section III-B: random within the segment in
  training, the segment's centre in evaluation), a bidirectional LSTM over them, temporal mean,
  FC to ``feature_dim`` (ReLU, dropout; the paper's "FC" before its output layer);
- ANet (the audio streams): ``n_audio`` rows sampled the same way, each through two FC layers
  with dropout (ReLU, dropout after each; section III-A), their outputs averaged (the paper's
  "average their outputs of the penultimate FC layer", III-C);
- output: the penultimate features of the branches it has (one, or both concatenated for the
  joint model, III-C), FC, and the activation of ``target_range`` (tanh for [-1, 1], the paper's;
  sigmoid for EEV's [0, 1]).

Vectorised over rows: the (T, n) sample indices are gathered at once and the rows run in chunks
of ``CHUNK_ROWS``; in training each chunk is checkpointed (recomputed in the backward pass), so
memory follows a chunk, not the video, up to videos of tens of thousands of rows.

Two-stage training (``init_from``): :func:`load_branches` copies each branch's tensors from the
checkpoint of a variant with that branch alone; ``freeze_branches`` keeps them fixed (our reading
of III-C's "with VNet kept the same": not updated, its dropout off; the sampling stays random).
The joint model z-scores its features with its own training set's statistics, as every variant
does; a column's mean and std depend only on that column over the training rows, so on the
same training videos a branch's columns get exactly the statistics the branch was trained with.
The joint's videos are those with every one of its extractors, possibly fewer than a branch's:
the train job compares the two (:func:`stats_check`), warns when they differ and records it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from eevflow.models.options import OMGOptions
from eevflow.models.streamed import StreamedConfig
from eevflow.targets import bounded

log = logging.getLogger(__name__)


@dataclass
class OMGConfig(StreamedConfig, OMGOptions):
    """The family's options plus the sizes the data fixes (``StreamedConfig``; a stream of
    unknown modality goes to VNet)."""

    def __post_init__(self):
        super().__post_init__()
        bad = sorted({m for _, _, m in self.streams} - set(self.BRANCHES))
        if bad:
            raise ValueError(f"omg: unknown modality {bad}; allowed values: {list(self.BRANCHES)}")

    @property
    def branches(self) -> tuple[str, ...]:
        """The branches the streams' modalities give, visual first."""
        return tuple(b for b in self.BRANCHES if any(m == b for _, _, m in self.streams))

    def branch_streams(self, branch: str) -> list[list]:
        """``[extractor, dim]`` of the branch's streams, in order."""
        return [[name, int(d)] for name, d, m in self.streams if m == branch]

    def columns(self, branch: str) -> list[int]:
        """The branch's columns of the concatenated features."""
        out, start = [], 0
        for _, d, m in self.streams:
            if m == branch:
                out += range(start, start + int(d))
            start += int(d)
        return out


def segment_indices(seconds: torch.Tensor, window_s: float, n: int,
                    random: bool) -> torch.Tensor:
    """(T, n) row indices: for each row, the rows within window_s / 2 seconds of it (``seconds``
    increasing) cut in order into n segments of (nearly) equal counts of rows, segment j the
    rows [floor(c j / n), floor(c (j + 1) / n)) of the c in the snippet, and one row of each: a
    uniformly random one (``random``, TSN's training sampling) or its centre. A snippet of
    fewer than n rows repeats rows (its empty segments take the next row)."""
    s = seconds.double()
    lo = torch.searchsorted(s, s - window_s / 2, side="left")
    hi = torch.searchsorted(s, s + window_s / 2, side="right")  # > lo: the row itself
    count = (hi - lo)[:, None]
    j = torch.arange(n + 1, device=s.device)
    bounds = torch.div(count * j, n, rounding_mode="floor")  # (T, n + 1)
    start, length = bounds[:, :-1], (bounds[:, 1:] - bounds[:, :-1]).clamp(min=1)
    u = torch.rand(len(s), n, device=s.device, dtype=torch.float64) if random else 0.5
    pos = lo[:, None] + start + torch.floor(u * length).long()
    return torch.minimum(pos, hi[:, None] - 1)


class VNet(nn.Module):
    """(rows, n_visual, D) sampled visual rows -> (rows, feature_dim)."""

    def __init__(self, dim: int, cfg: OMGConfig):
        super().__init__()
        self.lstm = nn.LSTM(dim, cfg.lstm_hidden, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * cfg.lstm_hidden, cfg.feature_dim)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        h, _ = self.lstm(x)
        return self.drop(torch.relu(self.fc(h.mean(dim=1))))


class ANet(nn.Module):
    """(rows, n_audio, D) sampled audio rows -> (rows, feature_dim), averaged over the samples."""

    def __init__(self, dim: int, cfg: OMGConfig):
        super().__init__()
        self.fc1 = nn.Linear(dim, cfg.fc_hidden)
        self.fc2 = nn.Linear(cfg.fc_hidden, cfg.feature_dim)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        h = self.drop(torch.relu(self.fc1(x)))
        return self.drop(torch.relu(self.fc2(h))).mean(dim=1)


NETS = {"visual": VNet, "audio": ANet}


class OMGNet(nn.Module):
    """features (B, T, D) + timestamps in seconds (B, T) -> scores (B, T, n_targets) in the
    target range."""

    def __init__(self, cfg: OMGConfig):
        super().__init__()
        self.cfg = cfg
        self.branches = nn.ModuleDict()
        for b in cfg.branches:
            cols = cfg.columns(b)
            whole = cols == list(range(cfg.input_dim))
            self.register_buffer(f"cols_{b}", None if whole else torch.tensor(cols),
                                 persistent=False)
            self.branches[b] = NETS[b](len(cols), cfg)
        self.head = nn.Linear(len(self.branches) * cfg.feature_dim, cfg.n_targets)
        self.frozen = [b for b in cfg.init_from if cfg.freeze_branches and b in self.branches]
        for b in self.frozen:
            self.branches[b].requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        for b in self.frozen:  # kept the same: no dropout either (the sampling stays random)
            self.branches[b].eval()
        return self

    def n_samples(self, branch: str) -> int:
        return self.cfg.n_visual if branch == "visual" else self.cfg.n_audio

    def _rows(self, *parts: torch.Tensor) -> torch.Tensor:
        """Per branch (its features (T, D_b), its sample indices (c, n)): scores (c, targets)."""
        feats = [net(parts[2 * i][parts[2 * i + 1]])
                 for i, net in enumerate(self.branches.values())]
        return bounded(self.head(torch.cat(feats, dim=-1)), self.cfg.target_range)

    def forward_one(self, x: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        T, step = x.shape[0], self.cfg.CHUNK_ROWS
        if T == 0:
            return x.new_zeros(0, self.cfg.n_targets)
        xs = {b: x if getattr(self, f"cols_{b}") is None else x[:, getattr(self, f"cols_{b}")]
              for b in self.branches}
        idx = {b: segment_indices(seconds, self.cfg.window_s, self.n_samples(b), self.training)
               for b in self.branches}
        keep = torch.is_grad_enabled() and T > step  # recompute each chunk in the backward pass
        out = []
        for start in range(0, T, step):
            parts = [t for b in self.branches for t in (xs[b], idx[b][start : start + step])]
            out.append(checkpoint(self._rows, *parts, use_reentrant=False) if keep
                       else self._rows(*parts))
        return torch.cat(out)

    def forward(self, features: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.forward_one(f, s) for f, s in zip(features, seconds,
                                                                   strict=True)])


# ---------------------------------------------------------------------------- two-stage training


def load_branches(model: OMGNet, checkpoints: Mapping[str, dict]) -> dict[str, list[str]]:
    """Copy each branch's tensors (``branches.<branch>.*``) from the checkpoint (Trainer's) of
    an omg model with that branch alone and the same streams; the output layer stays new.
    Returns the names of the tensors loaded, per branch."""
    cfg, loaded = model.cfg, {}
    for branch, ckpt in checkpoints.items():
        name = ckpt.get("variant", "the checkpoint")
        if branch not in model.branches:
            raise ValueError(f"omg init_from.{branch}: this model has no {branch} branch")
        if ckpt.get("family") != "omg":
            raise ValueError(f"omg init_from.{branch}: {name} is a {ckpt.get('family')} model")
        src = OMGConfig(**ckpt["model_config"])
        if src.branches != (branch,):
            raise ValueError(f"omg init_from.{branch}: {name} has the branches {src.branches}, "
                             f"not {branch} alone")
        if src.branch_streams(branch) != cfg.branch_streams(branch):
            raise ValueError(f"omg init_from.{branch}: {name}'s streams "
                             f"{src.branch_streams(branch)} differ from this model's "
                             f"{cfg.branch_streams(branch)}")
        prefix = f"branches.{branch}."
        state = {k[len(prefix):]: v for k, v in ckpt["model_state"].items()
                 if k.startswith(prefix)}
        try:
            model.branches[branch].load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"omg init_from.{branch}: {name}'s weights do not fit: {e}") from None
        loaded[branch] = sorted(prefix + k for k in state)
        log.info("init_from %s: loaded %d tensors from %s: %s", branch, len(state), name,
                 ", ".join(f"{k} {tuple(state[k[len(prefix):]].shape)}" for k in loaded[branch]))
    return loaded


def init_branches(model: OMGNet, paths: Mapping[str, str], n_train_videos: int | None = None):
    """The train job's first stage: load ``paths`` (branch -> checkpoint file) into ``model``,
    which must name exactly its ``init_from`` branches. Returns the checkpoints and a report."""
    want = set(model.cfg.init_from)
    if set(paths) != want:
        raise ValueError(f"omg init_from names {sorted(want)}, the job got checkpoints for "
                         f"{sorted(paths)}")
    ckpts = {b: torch.load(p, map_location="cpu", weights_only=True) for b, p in paths.items()}
    for b, c in ckpts.items():
        if n_train_videos is not None and c.get("n_train_videos") != n_train_videos:
            log.warning("init_from %s: %s was trained on %s videos, this model on %d: the "
                        "feature statistics of its columns may differ (compared after "
                        "training)", b, c.get("variant"), c.get("n_train_videos"), n_train_videos)
    loaded = load_branches(model, ckpts)
    report = {b: {"variant": ckpts[b].get("variant"), "path": str(paths[b]), "tensors": names,
                  "frozen": b in model.frozen} for b, names in loaded.items()}
    return ckpts, report


def stats_check(cfg: OMGConfig, mean: np.ndarray, std: np.ndarray,
                checkpoints: Mapping[str, dict]) -> dict[str, dict]:
    """Compare this model's feature standardisation on each loaded branch's columns with the
    statistics that branch was trained with: equal when both saw the same training videos
    (a column's mean and std depend on that column over the training rows alone)."""
    out = {}
    for b, ckpt in checkpoints.items():
        cols = cfg.columns(b)
        m0, s0 = ckpt["feature_mean"].numpy(), ckpt["feature_std"].numpy()
        d_mean = float(np.max(np.abs(mean[cols] - m0), initial=0.0))
        d_std = float(np.max(np.abs(std[cols] / s0 - 1), initial=0.0))
        same = bool(np.allclose(mean[cols], m0, rtol=1e-5, atol=1e-6)
                    and np.allclose(std[cols], s0, rtol=1e-5, atol=1e-6))
        out[b] = {"same": same, "max_abs_mean_diff": d_mean, "max_rel_std_diff": d_std}
        if same:
            log.info("init_from %s: feature statistics equal the branch's training ones", b)
        else:
            log.warning("init_from %s: feature statistics differ from %s's (max |mean diff| "
                        "%.3g, max relative std diff %.3g): its training videos were not this "
                        "model's", b, ckpt.get("variant"), d_mean, d_std)
    return out


# the family's entry points for the registry (eevflow.models.build_model)
CONFIG = OMGConfig
MODEL = OMGNet
