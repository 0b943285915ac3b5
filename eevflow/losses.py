"""The per-video training losses (``training.loss``), over one video's rows ``(T, C)`` or a batch
of rows ``(B, C)`` (targets last; for ``ccc``, rows on the second last axis).

The model's ``output`` is in scaled units (``training.target_scale``): a prediction is
``output / target_scale``. ``mse`` and ``l1`` compare ``output`` with ``y * target_scale`` (the
winner's Eq. 4, so the loss grows with the scale's square or the scale); the others compare the
prediction ``p = output / target_scale`` with ``y``:

``mse``  mean over rows and targets of ``(output - target_scale y)^2`` (the winner's Eq. 4).
``l1``   mean of ``|output - target_scale y|`` (Lin et al.'s element-wise L1).
``bce``  binary cross-entropy on soft labels (MGN-MA's Eq. 3): mean of ``-(y log p + (1 - y)
         log(1 - p))``, ``p`` clamped into ``[EPS, 1 - EPS]``. A bounded ``target_range`` other
         than [0, 1] maps ``p`` and ``y`` onto [0, 1] first (:func:`eevflow.targets.to_unit`).
``kl``   Lin et al.'s Table 3 option: per row, ``q = y / sum_c y`` and ``r = p' / sum_c p'`` with
         ``p' = max(p, EPS)`` (after ``to_unit`` for a range other than [0, 1]), then
         ``KL(q || r) = sum_c q_c (log q_c - log r_c)`` with ``0 log 0 = 0``, averaged over rows.
``ccc``  ``1 - mean_c ccc_c``, Lin's concordance correlation coefficient per target over the rows:
         ``ccc = 2 cov / (var_p + var_y + (mean_p - mean_y)^2 + CCC_EPS)`` with population (biased)
         moments.

Edge cases. bce and kl need probabilities: an unbounded ``target_range`` is a ValueError. The
clamps of bce and kl stop the gradient of a prediction outside ``[EPS, 1 - EPS]`` (resp. below
EPS): they suit the families with a bounded output activation (bi-GRU, MGN-MA, OMG); the TCN's and
the linear baseline's outputs are unbounded. kl: a row whose targets sum to <= EPS (all zero: in
EEV an undetected row, which training drops anyway) is no distribution and is left out of the mean;
with no such row left the loss is 0 (zero gradient). ccc: ``CCC_EPS`` (1e-8, small beside the
variances of a video's scores, ~1e-4 or more in EEV) in the denominator makes a target constant on
both sides score ccc 0 (loss contribution 1, zero gradient: a constant truth carries no
concordance signal); with fewer than 2 rows there is no variance over time, so the loss is 0 with
a zero gradient (the metric leaves such a video out too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from eevflow.targets import UNIT, parse_range, to_unit

#: clamp of bce's and kl's probabilities and the all-zero test of kl's rows
EPS = 1e-6
#: ccc's denominator guard (an absolute variance)
CCC_EPS = 1e-8


def _zero(output: torch.Tensor) -> torch.Tensor:
    """A 0 loss that is still part of the graph (backward gives zero gradients)."""
    return output.sum() * 0.0


def _bounded(loss: str, target_range) -> tuple[float, float]:
    """The parsed range; a ValueError when unbounded (the loss needs probabilities)."""
    r = parse_range(target_range)
    if r is None:
        raise ValueError(f"loss {loss!r} needs a bounded target_range (it treats the targets as "
                         f"probabilities); use mse, l1 or ccc for unbounded targets")
    return r


def _unit(p: torch.Tensor, y: torch.Tensor, target_range, loss: str):
    """Prediction and targets on [0, 1]: as they are for [0, 1], through ``to_unit`` for another
    bounded range."""
    r = _bounded(loss, target_range)
    if r == UNIT:
        return p, y
    return to_unit(p, r), to_unit(y, r)


def mse(output, y, target_scale=1.0, target_range=UNIT):
    return torch.mean((output - y * target_scale) ** 2)


def l1(output, y, target_scale=1.0, target_range=UNIT):
    return torch.mean((output - y * target_scale).abs())


def bce(output, y, target_scale=1.0, target_range=UNIT):
    p, t = _unit(output / target_scale, y, target_range, "bce")
    p = p.clamp(EPS, 1.0 - EPS)
    return -torch.mean(t * torch.log(p) + (1.0 - t) * torch.log1p(-p))


def kl(output, y, target_scale=1.0, target_range=UNIT):
    p, t = _unit(output / target_scale, y, target_range, "kl")
    t = t.clamp_min(0.0)  # to_unit of a target inside the range is >= 0; float noise aside
    mass = t.sum(dim=-1, keepdim=True)
    rows = mass.squeeze(-1) > EPS
    if not bool(rows.any()):
        return _zero(output)
    q = t[rows] / mass[rows]
    p = p[rows].clamp_min(EPS)
    log_r = torch.log(p) - torch.log(p.sum(dim=-1, keepdim=True))
    per_row = (torch.xlogy(q, q) - q * log_r).sum(dim=-1)
    return per_row.mean()


def ccc(output, y, target_scale=1.0, target_range=UNIT):
    p = output / target_scale
    if p.shape[-2] < 2:
        return _zero(output)
    mp, my = p.mean(dim=-2, keepdim=True), y.mean(dim=-2, keepdim=True)
    dp, dy = p - mp, y - my
    cov = (dp * dy).mean(dim=-2)
    denom = (dp**2).mean(dim=-2) + (dy**2).mean(dim=-2) + (mp - my).squeeze(-2) ** 2
    return 1.0 - torch.mean(2.0 * cov / (denom + CCC_EPS))


LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "mse": mse, "l1": l1, "bce": bce, "kl": kl, "ccc": ccc,
}


def check_loss(loss: str, target_range: Sequence[float] | None = UNIT) -> None:
    """ValueError for an unknown loss or one that cannot train targets of ``target_range``."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")
    if loss in ("bce", "kl"):
        _bounded(loss, target_range)


def video_loss(output: torch.Tensor, y: torch.Tensor, target_scale: float = 1.0,
               loss: str = "mse", *, target_range: Sequence[float] | None = UNIT) -> torch.Tensor:
    """The ``loss`` of one video's rows (or a batch of rows): ``output`` (the model's, in scaled
    units) against the targets ``y`` of ``target_range``; see the module docstring."""
    try:
        fn = LOSSES[loss]
    except KeyError:
        raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}") from None
    return fn(output, y, target_scale, target_range)
