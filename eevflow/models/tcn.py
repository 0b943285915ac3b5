"""Temporal convolution network with positional encoding (the EEV 2021 winner's model).

Causal TCN as in Bai et al. / locuslab TCN (left padding + chomp, kernel 3, dilations 1, 2, 4, 8 per
stack, residual 1x1 convolution where widths differ, optional weight norm), over per-row features
concatenated with a positional channel: the row's timestamp in seconds (the authors' encoding),
a sinusoidal encoding as an option, or none. Head: Linear(C, 128, bias=False), ReLU,
Linear(128, n_targets, bias=False).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import get_args, get_type_hints

import torch
from torch import nn

from eevflow.models.options import TCNOptions

PE_MODES = get_args(get_type_hints(TCNOptions)["positional_encoding"])


@dataclass
class TCNConfig(TCNOptions):
    """The family's options (eevflow.models.options.TCNOptions, validated from the config) plus
    the sizes the data fixes."""

    input_dim: int = 0
    n_targets: int = 15

    @property
    def pe_channels(self) -> int:
        return {"timestamp": 1, "timestamp_tanh": 1, "sinusoidal": self.pe_dim,
                "none": 0}[self.positional_encoding]

    @property
    def receptive_field(self) -> int:
        """Steps of history one output sees: 1 + 2 (k - 1) sum(dilations) per stack."""
        return 1 + self.stacks * 2 * (self.kernel_size - 1) * sum(self.dilations)

    def to_dict(self) -> dict:
        return asdict(self)


class Chomp1d(nn.Module):
    """Drop the right padding so each output depends only on current and earlier inputs."""

    def __init__(self, chomp: int):
        super().__init__()
        self.chomp = chomp

    def forward(self, x):
        return x[:, :, : -self.chomp] if self.chomp else x


INIT_STD = {"pytorch": None, "normal_0.01": 0.01}


def _conv(c_in, c_out, kernel_size, init_std, **kw) -> nn.Conv1d:
    """A Conv1d, its weights drawn from normal(0, init_std) when given (PyTorch's default
    otherwise); biases keep PyTorch's default, as in locuslab's init_weights."""
    conv = nn.Conv1d(c_in, c_out, kernel_size, **kw)
    if init_std is not None:
        with torch.no_grad():
            conv.weight.normal_(0.0, init_std)
    return conv


class TemporalBlock(nn.Module):
    def __init__(self, n_in, n_out, kernel_size, dilation, dropout, weight_norm, init_std=None):
        super().__init__()
        pad = (kernel_size - 1) * dilation
        wn = nn.utils.parametrizations.weight_norm if weight_norm else (lambda m: m)
        layers = []
        for c_in in (n_in, n_out):
            conv = wn(_conv(c_in, n_out, kernel_size, init_std, padding=pad, dilation=dilation))
            layers += [conv, Chomp1d(pad), nn.ReLU(), nn.Dropout(dropout)]
        self.net = nn.Sequential(*layers)
        self.downsample = _conv(n_in, n_out, 1, init_std) if n_in != n_out else None
        self.relu = nn.ReLU()

    def forward(self, x):
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(self.net(x) + res)


def sinusoidal(seconds: torch.Tensor, dim: int, max_period: float = 1e4) -> torch.Tensor:
    """Transformer-style encoding of timestamps in seconds: (..., dim)."""
    half = dim // 2
    freq = torch.exp(-math.log(max_period) * torch.arange(half, device=seconds.device) / half)
    angles = seconds[..., None].float() * freq
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class EEVTCN(nn.Module):
    """features (B, T, D) + timestamps in seconds (B, T) -> scores (B, T, n_targets)."""

    def __init__(self, cfg: TCNConfig):
        super().__init__()
        self.cfg = cfg
        blocks = []
        n_in = cfg.input_dim + cfg.pe_channels
        for _ in range(cfg.stacks):
            for d in cfg.dilations:
                blocks.append(
                    TemporalBlock(
                        n_in, cfg.channels, cfg.kernel_size, d, cfg.dropout, cfg.weight_norm,
                        INIT_STD[cfg.init],
                    )
                )
                n_in = cfg.channels
        self.tcn = nn.Sequential(*blocks)
        self.input_dropout = nn.Dropout(cfg.input_dropout)  # identity in eval mode
        self.head = nn.Sequential(
            nn.Linear(cfg.channels, cfg.head_hidden, bias=False),
            nn.ReLU(),
            nn.Linear(cfg.head_hidden, cfg.n_targets, bias=False),
        )

    def encode_positions(self, seconds: torch.Tensor) -> torch.Tensor | None:
        mode = self.cfg.positional_encoding
        if mode == "timestamp":
            return seconds[..., None].float()
        if mode == "timestamp_tanh":
            return torch.tanh(seconds[..., None].float() / self.cfg.pe_scale_s)
        if mode == "sinusoidal":
            return sinusoidal(seconds, self.cfg.pe_dim)
        return None

    def forward(self, features: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        features = self.input_dropout(features)
        pe = self.encode_positions(seconds)
        x = features if pe is None else torch.cat([features, pe], dim=-1)
        h = self.tcn(x.transpose(1, 2)).transpose(1, 2)
        return self.head(h)


# the family's entry points for the registry (eevflow.models.build_model)
CONFIG = TCNConfig
MODEL = EEVTCN
