"""The 3rd place system of EEV 2021 (Yan et al., "Multi-Granularity Network with Modal Attention
for Dense Affective Understanding", MGN-MA): every label row is a sample of its own, described by
features of several granularities, fused by modal attention and classified by a mixture of
experts. There is no temporal model: a row's prediction depends on its own row-level features and
on its video's pooled (video-level) vectors only; the timestamps are not used.

For the rows of one video (features (T, D), the rows given to the model):

1. streams (§2.1): each extractor's block of the features is a row-level stream (the paper's
   frame-level image and audio, clip-level action and subtitle embeddings: whatever the variant's
   extractors are). Each extractor named in ``video_level`` also gives a video-level stream
   (§2.1.3), one vector per video pooled over the rows given, the same for all of them:
   ``mean`` (the rows' mean, no parameters) or ``netvlad`` (learned NetVLAD pooling of
   ``video_frames`` rows taken uniformly over the video: the paper's 80 uniformly selected frames
   and its NetVLAD sub-networks; a video shorter than that repeats rows). The paper's video-level
   feature is the hidden layer of a video-level network trained apart on the videos' mean labels;
   here the pooling is trained with the rest of the model;
2. projection: every stream to ``hidden`` values (Linear, ReLU; a netvlad stream from its
   clusters x size descriptor). The paper sets "the dimension of the multi-modal feature" to
   1024; it is read here as the size of each modality's vector v_i of Eq. 1;
3. modal dropout (§2.2, training only): each projected stream of a row is replaced by zeros with
   probability ``modality_dropout`` (the paper gives no rate; 0.1 by default), never every stream
   of a row (one of them, at random, is then kept), without rescaling;
4. fusion (§2.2, Eq. 1): ``attention``: a score w_i . v_i + b_i per stream, a softmax over the
   streams (alpha, summing to 1 per row), V = concat_i(alpha_i v_i); ``concat``: V = concat_i v_i
   (Table 2's baseline, with the same projections, so that only the weights differ);
5. head (§2.3): ``moe``, YouTube-8M's MoeModel (Jordan & Jacobs' mixture): per target a softmax
   gate over ``experts`` experts (+ a dummy expert whose output is the range's lower bound, 0 for
   [0, 1], with ``dummy_expert``) and per expert a linear map through the output activation of
   ``target_range`` (Eq. 2's sigmoid for [0, 1]), the prediction the gated sum; batch norm
   before the gate's softmax and the experts' activation (§3.2). ``mlp``: Linear, batch norm,
   ReLU, Linear, the output activation (Table 2's baseline).

Training (§3.2: Adam, lr 1e-4, 30 epochs, mini-batches of 1536 rows, Eq. 3's binary cross-entropy
on the soft labels: ``training.optimizer/lr/epochs/loss`` of the variant) goes through
:func:`epoch`, which the Trainer calls instead of its per-video pass: the videos are read one at a
time in a random order, their (detected, standardised) rows go into a shuffle buffer of at most
``shuffle_buffer_rows`` rows (as the authors' TensorFlow input pipeline, tf.data's shuffle), and
batches of ``batch_rows`` rows drawn at random from it are the optimiser steps. Prediction and
validation take the usual path, one video per call, in eval mode (batch norm's running
statistics), which gives a row the output it gets in a training batch in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eevflow.inference import video_tensors
from eevflow.losses import video_loss
from eevflow.models.options import MGNOptions
from eevflow.models.streamed import StreamedConfig
from eevflow.sequences import dropped_rows
from eevflow.targets import UNIT, bounded, parse_range


@dataclass
class MGNConfig(StreamedConfig, MGNOptions):
    """The family's options plus the sizes the data fixes (``StreamedConfig``)."""

    def __post_init__(self):
        super().__post_init__()
        names = [name for name, _, _ in self.streams]
        unknown = [name for name in self.video_level if name not in names]
        if unknown:
            raise ValueError(f"mgn: video_level {unknown} not among the variant's feature "
                             f"streams {names}")
        if self.shuffle_buffer_rows < self.batch_rows:
            raise ValueError(f"mgn: shuffle_buffer_rows {self.shuffle_buffer_rows} is below "
                             f"batch_rows {self.batch_rows}")


def uniform_rows(n: int, count: int, device=None) -> torch.Tensor:
    """``count`` row indices spread uniformly over ``n`` rows, first and last included (rows
    repeat when n < count)."""
    return torch.linspace(0, n - 1, count, dtype=torch.float64, device=device).round().long()


class NetVLAD(nn.Module):
    """frames (V, F, d) -> (V, K d): each frame's residuals to K learned centres, weighted by its
    soft assignment (a softmax over the centres of a linear map), summed over the frames (so
    their order does not matter), normalised per centre, then as a whole (Arandjelovic et al.;
    the NetVLAD of the YouTube-8M systems the paper's video-level network follows)."""

    def __init__(self, dim: int, clusters: int):
        super().__init__()
        self.assign = nn.Linear(dim, clusters)
        self.centers = nn.Parameter(torch.randn(clusters, dim) / dim**0.5)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        a = torch.softmax(self.assign(frames), dim=-1)  # (V, F, K)
        vlad = torch.einsum("vfk,vfd->vkd", a, frames) - a.sum(1)[..., None] * self.centers
        return F.normalize(F.normalize(vlad, dim=-1).flatten(1), dim=-1)


class MoE(nn.Module):
    """YouTube-8M's MoeModel with batch norm: v (N, F) -> (N, C). Per target c a softmax gate
    over the experts (and the dummy one) and per expert e the activation of the target range of
    a linear map; the prediction is sum_e gate_ce expert_ce (+ gate_c,dummy x the lower bound)."""

    def __init__(self, dim: int, n_targets: int, experts: int, dummy: bool, target_range):
        super().__init__()
        self.c, self.e, self.range = n_targets, experts, target_range
        self.dummy = dummy
        gates = n_targets * (experts + int(dummy))
        self.gate = nn.Sequential(nn.Linear(dim, gates, bias=False), nn.BatchNorm1d(gates))
        self.expert = nn.Sequential(nn.Linear(dim, n_targets * experts, bias=False),
                                    nn.BatchNorm1d(n_targets * experts))
        r = parse_range(target_range)
        self.floor = 0.0 if r is None else r[0]

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        n = v.shape[0]
        gate = torch.softmax(self.gate(v).view(n, self.c, -1), dim=-1)
        out = bounded(self.expert(v).view(n, self.c, self.e), self.range)
        y = (gate[..., : self.e] * out).sum(-1)
        if self.dummy:
            y = y + gate[..., self.e] * self.floor
        return y


class MLPHead(nn.Module):
    """Linear, batch norm, ReLU, Linear, the activation of the target range: (N, F) -> (N, C)."""

    def __init__(self, dim: int, hidden: int, n_targets: int, target_range):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden),
                                 nn.ReLU(), nn.Linear(hidden, n_targets))
        self.range = target_range

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return bounded(self.net(v), self.range)


class MGN(nn.Module):
    """features (B, T, D) + timestamps (B, T, unused) -> scores (B, T, n_targets); each video's
    video-level streams are pooled over its T rows."""

    def __init__(self, cfg: MGNConfig):
        super().__init__()
        self.cfg = cfg
        self.dims = [int(d) for _, d, _ in cfg.streams]
        names = [name for name, _, _ in cfg.streams]
        self.video_streams = [names.index(name) for name in cfg.video_level]
        self.offsets = np.cumsum([0, *self.dims]).tolist()
        h, netvlad = cfg.hidden, cfg.video_pool == "netvlad"
        self.vlads = nn.ModuleList(NetVLAD(self.dims[i], cfg.netvlad_clusters)
                                   for i in self.video_streams if netvlad)
        pooled = [self.dims[i] * (cfg.netvlad_clusters if netvlad else 1)
                  for i in self.video_streams]
        self.project = nn.ModuleList(nn.Sequential(nn.Linear(d, h), nn.ReLU())
                                     for d in self.dims + pooled)
        n = len(self.project)  # streams: the row-level ones, then the video-level ones
        attention = cfg.fusion == "attention"
        self.scores = nn.ModuleList(nn.Linear(h, 1) for _ in range(n if attention else 0))
        if cfg.head == "moe":
            self.head = MoE(n * h, cfg.n_targets, cfg.experts, cfg.dummy_expert,
                            cfg.target_range)
        else:
            self.head = MLPHead(n * h, cfg.mlp_hidden, cfg.n_targets, cfg.target_range)

    # ------------------------------------------------------------------ video-level streams

    def video_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """What the video-level streams are pooled from, for the rows x (T, D) of one video:
        per stream its mean (d,) or its ``video_frames`` uniform rows (F, d). Data, no weights:
        the training buffer keeps them once per video."""
        out = []
        for i in self.video_streams:
            block = x[:, self.offsets[i]: self.offsets[i + 1]]
            if self.cfg.video_pool == "mean":
                out.append(block.mean(0))
            else:
                out.append(block[uniform_rows(len(block), self.cfg.video_frames, x.device)])
        return out

    def pool(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per video-level stream, the inputs of V videos stacked ((V, d) or (V, F, d)) -> the
        pooled vectors (V, d) or (V, K d)."""
        if self.cfg.video_pool == "mean":
            return list(inputs)
        return [vlad(u) for vlad, u in zip(self.vlads, inputs, strict=True)]

    # ------------------------------------------------------------------ rows

    def streams_of(self, x: torch.Tensor, inputs: list[torch.Tensor],
                   video: torch.Tensor) -> list[torch.Tensor]:
        """The projected streams (N, hidden) each of N rows x (N, D): the row-level ones, then
        the video-level ones, pooled and projected once per video from ``inputs`` (per
        video-level stream the :meth:`video_inputs` of V videos stacked) and taken for each row
        by its video's index ``video`` (N,) among them."""
        n = len(self.dims)
        vs = [proj(b) for proj, b in zip(self.project[:n], x.split(self.dims, dim=-1),
                                         strict=True)]
        pooled = self.pool(inputs)
        return vs + [proj(p)[video] for proj, p in zip(self.project[n:], pooled, strict=True)]

    def drop_streams(self, vs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Modal dropout (training only): each stream of a row zeroed with probability
        ``modality_dropout``; a row that would lose every stream keeps one at random."""
        p = self.cfg.modality_dropout
        if not self.training or p <= 0 or len(vs) < 2:
            return vs
        n, s = vs[0].shape[0], len(vs)
        drop = torch.rand(n, s, device=vs[0].device) < p
        every = drop.all(dim=1)
        if bool(every.any()):
            rows = every.nonzero().squeeze(1)
            drop[rows, torch.randint(s, (len(rows),), device=drop.device)] = False
        return [v.masked_fill(drop[:, i: i + 1], 0.0) for i, v in enumerate(vs)]

    def fuse(self, vs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Eq. 1: (V (N, S hidden), the weights alpha (N, S)); concat: (concat, None)."""
        if self.cfg.fusion == "concat":
            return torch.cat(vs, dim=-1), None
        alpha = torch.softmax(torch.cat([w(v) for w, v in zip(self.scores, vs, strict=True)],
                                        dim=-1), dim=-1)
        return torch.cat([v * alpha[:, i: i + 1] for i, v in enumerate(vs)], dim=-1), alpha

    def rows(self, x: torch.Tensor, inputs: list[torch.Tensor], video: torch.Tensor,
             weights: bool = False):
        """Scores (N, C) of N rows x (N, D) of V videos (``inputs``, ``video``: as for
        :meth:`streams_of`); with ``weights`` also the attention weights (N, S) (None for
        concat)."""
        v, alpha = self.fuse(self.drop_streams(self.streams_of(x, inputs, video)))
        y = self.head(v)
        return (y, alpha) if weights else y

    # ------------------------------------------------------------------ whole videos

    def _videos(self, features: torch.Tensor):
        """The arguments of :meth:`rows` for B videos of T rows, each pooled over its own."""
        b, t, d = features.shape
        per_video = [self.video_inputs(f) for f in features]
        stacked = [torch.stack(s) for s in zip(*per_video)]  # per video-level stream (B, .)
        video = torch.arange(b, device=features.device).repeat_interleave(t)
        return features.reshape(b * t, d), stacked, video

    def forward(self, features: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        b, t, _ = features.shape
        if t == 0:
            return features.new_zeros(b, 0, self.cfg.n_targets)
        return self.rows(*self._videos(features)).view(b, t, -1)

    def attention_weights(self, features: torch.Tensor, seconds: torch.Tensor):
        """The modal attention weights (B, T, S) of every row (streams in the order row-level,
        then video-level); None for ``fusion: concat``."""
        b, t, _ = features.shape
        _, alpha = self.rows(*self._videos(features), weights=True)
        return None if alpha is None else alpha.view(b, t, -1)


# ---------------------------------------------------------------------- training: row batches

class RowBuffer:
    """The shuffle buffer of :func:`epoch`: at most ``capacity`` rows (standardised features,
    labels, the slot of their video) and, once per video that still has rows in it, its
    video-level inputs (:meth:`MGN.video_inputs`)."""

    def __init__(self, capacity: int, dim: int, n_targets: int, device):
        self.capacity, self.size, self.device = capacity, 0, device
        self.x = torch.empty(capacity, dim, device=device)
        self.y = torch.empty(capacity, n_targets, device=device)
        self.slot = np.zeros(capacity, np.int64)
        self.videos: dict[int, list] = {}  # slot -> [video-level inputs, its rows in the buffer]
        self._next = 0

    def add_video(self, inputs: list[torch.Tensor], n_rows: int) -> int:
        self.videos[self._next] = [inputs, n_rows]
        self._next += 1
        return self._next - 1

    def put(self, x: torch.Tensor, y: torch.Tensor, slot: int) -> None:
        k, s = len(x), self.size
        self.x[s: s + k], self.y[s: s + k], self.slot[s: s + k] = x, y, slot
        self.size += k

    def take(self, idx: np.ndarray):
        """Remove the rows at positions ``idx`` (the last rows move into their places): their
        features (n, D), labels (n, C), their videos' inputs stacked per video-level stream
        ((V, .) for the V distinct videos) and each row's video among them (n,)."""
        t = torch.from_numpy(idx).to(self.device)
        x, y, slot = self.x[t], self.y[t], self.slot[idx]
        new = self.size - len(idx)
        gone = np.zeros(self.size, bool)
        gone[idx] = True
        holes, movers = np.sort(idx[idx < new]), np.flatnonzero(~gone[new:]) + new
        if len(holes):
            h, m = torch.from_numpy(holes).to(self.device), torch.from_numpy(movers).to(self.device)
            self.x[h], self.y[h] = self.x[m], self.y[m]
            self.slot[holes] = self.slot[movers]
        self.size = new
        videos, inverse = np.unique(slot, return_inverse=True)
        inputs = [self.videos[v][0] for v in videos]
        for v, count in zip(videos, np.bincount(inverse), strict=True):
            self.videos[v][1] -= int(count)
            if self.videos[v][1] == 0:
                del self.videos[v]
        stacked = [torch.stack(s) for s in zip(*inputs)]  # per video-level stream
        return x, y, stacked, torch.from_numpy(inverse.reshape(-1)).to(self.device)


def _step(trainer, opt, batch) -> float:
    """One optimiser step on a batch of rows; its loss."""
    model, cfg = trainer.model, trainer.cfg
    x, y, inputs, video = batch
    loss = video_loss(model.rows(x, inputs, video), y, cfg.target_scale, cfg.loss,
                      target_range=getattr(cfg, "target_range", list(UNIT)))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    trainer.step(opt)  # training.grad_clip_norm, then the step
    return float(loss.detach())


def epoch(trainer, train, opt, order_rng, drop_rng) -> dict:
    """One pass over ``train`` (a sequence of VideoSeq, read one video at a time) in batches of
    rows, for Trainer.fit. The videos in ``order_rng``'s order; each one's detected rows (after
    ``training.row_dropout``, with ``drop_rng``), standardised as for prediction, enter the buffer
    with its video-level inputs (pooled over those rows, as a call of the model on them pools);
    whenever the buffer is full, ``batch_rows`` rows drawn from it at random (``order_rng``) are
    one optimiser step; once every video is in, the rest is drawn the same way (a last batch of
    one row is left out: batch norm needs two). ``training.grad_accum`` does not apply. Returns
    the Trainer's keys: train_loss (the mean per row of the batches' losses), trained_videos and
    optimizer_steps."""
    cfg, mcfg, model = trainer.cfg, trainer.model_cfg, trainer.model
    model.train()
    buf = RowBuffer(mcfg.shuffle_buffer_rows, mcfg.input_dim, mcfg.n_targets, trainer.device)
    total, rows_trained, trained, steps = 0.0, 0, 0, 0

    def draw():
        nonlocal total, rows_trained, steps
        idx = order_rng.choice(buf.size, min(mcfg.batch_rows, buf.size), replace=False)
        batch = buf.take(idx)
        if len(idx) < 2:
            return
        total += _step(trainer, opt, batch) * len(idx)
        rows_trained, steps = rows_trained + len(idx), steps + 1

    for i in order_rng.permutation(len(train)):
        v = train[i]
        rows = dropped_rows(np.flatnonzero(v.detected), cfg.row_dropout, drop_rng,
                            cfg.row_dropout_mode)
        if len(rows) == 0:
            continue
        x = video_tensors(v, trainer.mean, trainer.std, trainer.device, rows)[0][0]
        y = torch.from_numpy(np.ascontiguousarray(v.labels[rows], np.float32)).to(trainer.device)
        with torch.no_grad():
            slot = buf.add_video(model.video_inputs(x), len(rows))
        trained, start = trained + 1, 0
        while start < len(rows):
            k = min(len(rows) - start, buf.capacity - buf.size)
            buf.put(x[start: start + k], y[start: start + k], slot)
            start += k
            if buf.size == buf.capacity:
                draw()
    while buf.size:
        draw()
    return {"train_loss": total / rows_trained if rows_trained else float("nan"),
            "trained_videos": trained, "optimizer_steps": steps}


# the family's entry points for the registry (eevflow.models.build_model) and the Trainer
CONFIG = MGNConfig
MODEL = MGN
EPOCH = epoch
