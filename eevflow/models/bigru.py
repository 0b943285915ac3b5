"""The 2nd place system of EEV 2021 (Lin et al., HenryLittle/EEV-Challenge-2021 ``Baseline``):
a bidirectional GRU per feature stream, no weight sharing between streams, sparse sampling in time.

For one video (features (T, D) at the label rows, their timestamps in seconds):

1. sampling: with ``sample_hz`` the GRUs see only the row nearest each multiple of 1 / sample_hz
   seconds from the first row (rows that two multiples pick are taken once);
2. windows: the sampled rows are cut into consecutive windows of ``window_s`` seconds (the
   authors' 60-step clips at 1 Hz) and every window is a sequence of its own; in training the
   boundaries move by a random offset at each forward pass (``random_offset``), in evaluation
   they start at the first row;
3. per stream (an extractor's block of the features): ``layers`` bidirectional GRU layers, width
   ``hidden_visual`` or ``hidden_audio`` by the extractor's modality, dropout between layers;
4. the streams' outputs concatenated, context gating (sigmoid(W x + b) * x), a linear layer to
   the targets, context gating, sigmoid (the activation of ``target_range``: tanh for [-1, 1]);
5. interpolation: the outputs at the sampled rows are interpolated linearly in time to every row
   (held constant before the first and after the last sampled row), so there is exactly one
   prediction per label row, and the loss is taken at every trained row.

The authors' Table 1 compares, for a model trained on 1 Hz 60 s clips, three ways to predict at
6 Hz: every row over 10 s windows, every row over 60 s windows, and 1 Hz + interpolation
(``eval_rows`` and ``eval_window_s``: how validation and prediction feed the GRUs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from eevflow.models.options import BiGRUOptions
from eevflow.models.streamed import StreamedConfig
from eevflow.targets import bounded


@dataclass
class BiGRUConfig(StreamedConfig, BiGRUOptions):
    """The family's options plus the sizes the data fixes (``StreamedConfig``); a stream of
    unknown modality gets the visual width."""

    def hidden(self, modality: str) -> int:
        return self.hidden_audio if modality == "audio" else self.hidden_visual


class ContextGating(nn.Module):
    """y = sigmoid(W x + b) * x (Miech et al.; the authors' ``ContextGating``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.fc = nn.Linear(dim, dim)

    def forward(self, x):
        return torch.sigmoid(self.fc(x)) * x


def sample_rows(seconds: torch.Tensor, hz: float | None) -> torch.Tensor:
    """Indices of the rows nearest each multiple of 1 / hz seconds after the first row, in
    order, each once; every row when ``hz`` is None."""
    n = seconds.shape[0]
    if hz is None or n == 0:
        return torch.arange(n, device=seconds.device)
    s = seconds.double()
    grid = s[0] + torch.arange(int(((s[-1] - s[0]) * hz).floor()) + 1, device=s.device,
                               dtype=torch.float64) / hz
    right = torch.searchsorted(s, grid).clamp(max=n - 1)
    left = (right - 1).clamp(min=0)
    nearest = torch.where((grid - s[left]).abs() <= (s[right] - grid).abs(), left, right)
    return torch.unique_consecutive(nearest)


def interpolate(times: torch.Tensor, values: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of ``values`` (N, C) given at increasing ``times`` (N,) to the times
    ``at`` (T,): (T, C), constant beyond either end. Differentiable in ``values``."""
    n = times.shape[0]
    if n == 1:
        return values.expand(at.shape[0], -1)
    t, a = times.double(), at.double()
    hi = torch.searchsorted(t, a).clamp(1, n - 1)
    lo = hi - 1
    w = ((a - t[lo]) / (t[hi] - t[lo])).clamp(0, 1).to(values.dtype)[:, None]
    return values[lo] * (1 - w) + values[hi] * w


class BiGRU(nn.Module):
    """features (B, T, D) + timestamps in seconds (B, T) -> scores in (0, 1), (B, T, n_targets)."""

    def __init__(self, cfg: BiGRUConfig):
        super().__init__()
        self.cfg = cfg
        self.dims = [int(d) for _, d, _ in cfg.streams]
        self.grus = nn.ModuleList(
            nn.GRU(int(d), cfg.hidden(m), num_layers=cfg.layers, batch_first=True,
                   bidirectional=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0)
            for _, d, m in cfg.streams)
        width = sum(2 * cfg.hidden(m) for _, _, m in cfg.streams)
        self.gate_in = ContextGating(width)
        self.fc = nn.Linear(width, cfg.n_targets)
        self.gate_out = ContextGating(cfg.n_targets)

    def windows(self, seconds: torch.Tensor) -> list[torch.Tensor]:
        """The sampled rows' positions cut into consecutive windows of ``window_s`` seconds
        (``eval_window_s`` when set, in evaluation)."""
        n = seconds.shape[0]
        window_s = self.cfg.window_s
        if not self.training and self.cfg.eval_window_s is not None:
            window_s = self.cfg.eval_window_s
        if window_s is None or n == 0:
            return [torch.arange(n, device=seconds.device)]
        offset = 0.0
        if self.training and self.cfg.random_offset:
            offset = float(torch.rand(())) * window_s
        rel = seconds.double() - seconds[0].double() + offset
        wid = torch.floor(rel / window_s).long()
        _, counts = torch.unique_consecutive(wid, return_counts=True)
        return list(torch.arange(n, device=seconds.device).split(counts.tolist()))

    def encode(self, x: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        """The GRUs over the windows of one sampled sequence x (N, D): (N, width)."""
        parts = self.windows(seconds)
        lengths = torch.tensor([len(p) for p in parts])
        padded = nn.utils.rnn.pad_sequence([x[p] for p in parts], batch_first=True)
        outs = []
        for gru, block in zip(self.grus, padded.split(self.dims, dim=-1), strict=True):
            packed = pack_padded_sequence(block, lengths, batch_first=True, enforce_sorted=False)
            h, _ = pad_packed_sequence(gru(packed)[0], batch_first=True,
                                       total_length=padded.shape[1])
            outs.append(h)
        h = torch.cat(outs, dim=-1)
        return torch.cat([h[i, : len(p)] for i, p in enumerate(parts)])

    def forward_one(self, features: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        hz = self.cfg.sample_hz
        if not self.training and self.cfg.eval_rows == "every":
            hz = None
        rows = sample_rows(seconds, hz)
        h = self.encode(features[rows], seconds[rows])
        y = bounded(self.gate_out(self.fc(self.gate_in(h))), self.cfg.target_range)
        if hz is None:
            return y
        return interpolate(seconds[rows], y, seconds)

    def forward(self, features: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.forward_one(f, s) for f, s in zip(features, seconds,
                                                                   strict=True)])


# the family's entry points for the registry (eevflow.models.build_model)
CONFIG = BiGRUConfig
MODEL = BiGRU
