"""The linear baseline family: each row's features plus their causal context (lagged copies and
past means, in seconds), then one linear map to the targets, fitted in closed form (ridge) with
the penalty chosen on the validation split.

Context of row t (timestamps s): a lag L adds the features of the last row with s_j <= s_t - L (the
first row when there is none); a past mean W adds the mean features of the rows with
s_t - W < s_j <= s_t. Both look only backwards, like the TCN. Training uses the detected rows of
every training video (the features standardised as for the other families when
``training.standardize``); the ridge has an intercept (columns and targets centred) and penalty
``alpha x n_rows``; each alpha of ``alphas`` is scored on validation M_rho (rows as
``training.val_rows`` says) and the best kept. The normal equations are accumulated video by
video in float64, so memory is (context dim)^2, not rows x dims.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from eevflow.models.options import LinearOptions

log = logging.getLogger(__name__)


@dataclass
class LinearConfig(LinearOptions):
    input_dim: int = 0
    n_targets: int = 15

    @property
    def context_dim(self) -> int:
        return self.input_dim * (1 + len(self.lags_s) + len(self.past_means_s))

    def to_dict(self) -> dict:
        return asdict(self)


def context_features(features: torch.Tensor, seconds: torch.Tensor, lags_s, past_means_s,
                     tolerance_s: float = 1e-6) -> torch.Tensor:
    """(T, D) features and (T,) seconds of one video -> (T, D (1 + lags + means))."""
    parts = [features]
    for lag in lags_s:
        idx = torch.searchsorted(seconds, seconds - lag + tolerance_s, right=True) - 1
        parts.append(features[idx.clamp(min=0)])
    if past_means_s:
        csum = torch.cat([features.new_zeros(1, features.shape[1]),
                          torch.cumsum(features.double(), dim=0).to(features.dtype)])
        hi = torch.arange(1, len(seconds) + 1, device=seconds.device)
        for window in past_means_s:
            lo = torch.searchsorted(seconds, seconds - window + tolerance_s, right=True)
            lo = torch.minimum(lo, hi - 1)
            parts.append((csum[hi] - csum[lo]) / (hi - lo)[:, None].to(features.dtype))
    return torch.cat(parts, dim=1)


class ContextRidge(nn.Module):
    """features (B, T, D) + seconds (B, T) -> scores (B, T, n_targets)."""

    def __init__(self, cfg: LinearConfig):
        super().__init__()
        self.cfg = cfg
        self.linear = nn.Linear(cfg.context_dim, cfg.n_targets)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def context(self, features: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        return torch.stack([
            context_features(f, s.double(), self.cfg.lags_s, self.cfg.past_means_s)
            for f, s in zip(features, seconds)
        ])

    def forward(self, features: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        return self.linear(self.context(features, seconds))


def ridge_solutions(xtx, xty, x_sum, y_sum, n, alphas):
    """Closed-form ridge with an intercept from the accumulated sums, one (W, b) per alpha:
    W = (Xc'Xc + alpha n I)^-1 Xc'Yc over centred columns, b = mean(y) - mean(x) W."""
    mx, my = x_sum / n, y_sum / n
    cxx = xtx - n * np.outer(mx, mx)
    cxy = xty - n * np.outer(mx, my)
    eye = np.eye(len(cxx))
    for alpha in alphas:
        w = np.linalg.solve(cxx + alpha * n * eye, cxy)
        yield alpha, w, my - mx @ w


def fit(trainer, train, val) -> dict:
    """The family's closed-form fit, called by Trainer.fit (features standardised, labels shuffled
    for the control): accumulate the normal equations over the training videos' detected rows,
    solve for each alpha, keep the one with the best validation M_rho (the largest alpha without
    a validation split)."""
    model, model_cfg = trainer.model, trainer.model_cfg
    d = model_cfg.context_dim
    xtx, xty = np.zeros((d, d)), np.zeros((d, model_cfg.n_targets))
    x_sum, y_sum, n = np.zeros(d), np.zeros(model_cfg.n_targets), 0
    with torch.no_grad():
        for v in train:
            rows = np.flatnonzero(v.detected)
            if len(rows) == 0:
                continue
            f = torch.from_numpy(((v.features - trainer.mean) / trainer.std).astype(np.float32))
            ctx = context_features(f, torch.from_numpy(v.seconds.astype(np.float64)),
                                   model_cfg.lags_s, model_cfg.past_means_s)
            x = ctx.numpy().astype(np.float64)[rows]
            y = v.labels[rows].astype(np.float64) * trainer.cfg.target_scale
            xtx += x.T @ x
            xty += x.T @ y
            x_sum += x.sum(0)
            y_sum += y.sum(0)
            n += len(rows)
    if n == 0:
        raise ValueError("no detected training rows to fit the linear model on")
    history, best = [], {"alpha": None, "val_m_rho": -np.inf}
    best_params = None
    for alpha, w, b in ridge_solutions(xtx, xty, x_sum, y_sum, n, model_cfg.alphas):
        with torch.no_grad():
            model.linear.weight.copy_(torch.from_numpy(w.T))
            model.linear.bias.copy_(torch.from_numpy(b))
        score = trainer.validate(val) if val else float("nan")
        history.append({"alpha": alpha, "val_m_rho": score, "train_rows": n})
        log.info("alpha %g: val M_rho %.4f", alpha, score)
        if (val and score > best["val_m_rho"]) or not val:
            best = {"alpha": alpha, "val_m_rho": score}
            best_params = (w, b)
    w, b = best_params
    with torch.no_grad():
        model.linear.weight.copy_(torch.from_numpy(w.T))
        model.linear.bias.copy_(torch.from_numpy(b))
    return {"history": history, "best": {"epoch": f"alpha={best['alpha']:g}", **best}}


# the family's entry points for the registry (eevflow.models)
CONFIG = LinearConfig
MODEL = ContextRidge
FIT = fit
