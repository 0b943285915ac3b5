"""The per-video training losses (eevflow.losses) against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eevflow.losses import EPS, LOSSES, check_loss, video_loss
from eevflow.training import video_loss as training_video_loss


def _data(T=40, C=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(T, C, generator=g, dtype=dtype) * 0.8 + 0.1
    p = (0.5 * y + 0.4 * torch.rand(T, C, generator=g, dtype=dtype)).clamp(0.05, 0.95)
    return p, y


def hand_ccc(p: np.ndarray, y: np.ndarray) -> float:
    """Mean over targets of Lin's CCC with population moments, by a loop."""
    out = []
    for c in range(y.shape[1]):
        x, t = p[:, c], y[:, c]
        cov = np.mean((x - x.mean()) * (t - t.mean()))
        out.append(2 * cov / (x.var() + t.var() + (x.mean() - t.mean()) ** 2))
    return float(np.mean(out))


def test_video_loss_is_the_one_of_training():
    assert training_video_loss is video_loss


def test_mse_and_l1_are_unchanged():
    p, y = _data()
    for scale in (1.0, 10.0):
        out = p * scale
        err = out - y * scale
        assert float(video_loss(out, y, scale)) == pytest.approx(float(torch.mean(err**2)))
        assert float(video_loss(out, y, scale, "mse")) == float(torch.mean(err**2))
        assert float(video_loss(out, y, scale, "l1")) == float(torch.mean(err.abs()))
    # the old hand values
    out, y1 = torch.tensor([[0.2, 0.5]]), torch.tensor([[0.5, 0.1]])
    assert float(video_loss(out, y1, loss="l1")) == pytest.approx(0.35)
    assert float(video_loss(out, y1, loss="mse")) == pytest.approx((0.09 + 0.16) / 2)


def test_ccc_loss_is_zero_for_identical_sequences_and_matches_the_formula():
    p, y = _data()
    assert float(video_loss(y.clone(), y, loss="ccc")) == pytest.approx(0.0, abs=1e-6)
    got = float(video_loss(p, y, loss="ccc"))
    assert got == pytest.approx(1 - hand_ccc(p.numpy(), y.numpy()), abs=1e-5)
    # on the prediction scale: output / target_scale
    assert float(video_loss(10 * p, y, 10.0, "ccc")) == pytest.approx(got, abs=1e-12)
    # a constant shift lowers the CCC (raises the loss), Pearson would not see it
    assert float(video_loss(y + 0.3, y, loss="ccc")) > 0.05
    # a small example by hand: x = [0, 1], y = [0, 2]: cov 0.5, var 0.25 and 1, means 0.5 and 1
    x2, y2 = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]])
    ccc = 2 * 0.5 / (0.25 + 1.0 + 0.25)
    assert float(video_loss(x2, y2, loss="ccc")) == pytest.approx(1 - ccc, abs=1e-6)


def test_ccc_loss_edge_cases():
    # one row: no variance over time -> 0 with zero gradient
    out = torch.tensor([[0.3, 0.6]], requires_grad=True)
    loss = video_loss(out, torch.tensor([[0.5, 0.5]]), loss="ccc")
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.equal(out.grad, torch.zeros_like(out))
    # a target constant on both sides: ccc 0 (the eps guard), finite; the other target counts
    y = torch.tensor([[0.2, 0.1], [0.2, 0.5], [0.2, 0.9]])
    got = float(video_loss(y.clone(), y, loss="ccc"))
    assert np.isfinite(got) and got == pytest.approx(0.5, abs=1e-4)


def test_bce_equals_torch_on_unit_data_and_maps_other_ranges():
    p, y = _data()
    ref = F.binary_cross_entropy(p, y)
    assert float(video_loss(p, y, loss="bce")) == pytest.approx(float(ref), rel=1e-10)
    # scaled outputs: the prediction is output / target_scale
    assert float(video_loss(10 * p, y, 10.0, "bce")) == pytest.approx(float(ref), rel=1e-10)
    # [-1, 1] targets: both sides mapped onto [0, 1] by to_unit
    got = video_loss(2 * p - 1, 2 * y - 1, loss="bce", target_range=[-1, 1])
    assert float(got) == pytest.approx(float(ref), rel=1e-10)
    # predictions at 0 and 1 are clamped: finite
    hard = video_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([[0.5, 0.5]]), loss="bce")
    assert np.isfinite(float(hard)) and float(hard) == pytest.approx(-np.log(EPS) / 2, rel=1e-3)


def test_kl_is_zero_for_identical_rows_and_positive_otherwise():
    p, y = _data()
    assert float(video_loss(y.clone(), y, loss="kl")) == pytest.approx(0.0, abs=1e-12)
    # proportional rows are the same distribution
    assert float(video_loss(3 * y, y, loss="kl")) == pytest.approx(0.0, abs=1e-12)
    got = float(video_loss(p, y, loss="kl"))
    q, r = y / y.sum(-1, keepdim=True), p / p.sum(-1, keepdim=True)
    ref = float(torch.mean(torch.sum(q * torch.log(q / r), dim=-1)))
    assert got > 0 and got == pytest.approx(ref, rel=1e-10)
    # [-1, 1] through to_unit
    mapped = float(video_loss(2 * p - 1, 2 * y - 1, loss="kl", target_range=[-1, 1]))
    assert mapped == pytest.approx(ref, rel=1e-10)


def test_kl_guards_zeros_and_all_zero_rows():
    y = torch.tensor([[0.0, 0.5, 0.5], [0.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    p = torch.tensor([[0.0, 0.5, 0.5], [0.3, 0.3, 0.3], [0.2, 0.3, 0.5]], requires_grad=True)
    loss = video_loss(p, y, loss="kl")
    loss.backward()
    # the zero target contributes 0 log 0 = 0; the zero prediction is clamped to EPS (a tiny
    # positive KL); the all-zero row is left out of the mean
    assert 0 <= float(loss.detach()) < 1e-5 and torch.isfinite(p.grad).all()
    assert torch.equal(p.grad[1], torch.zeros(3))
    # every row all-zero: 0, zero gradient
    out = torch.rand(4, 3, requires_grad=True)
    none = video_loss(out, torch.zeros(4, 3), loss="kl")
    none.backward()
    assert float(none.detach()) == 0.0 and torch.equal(out.grad, torch.zeros_like(out))


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_each_loss_is_differentiable(name, scale):
    p, y = _data(dtype=torch.float32)
    y[3] = 0.0  # an all-zero row (kl leaves it out)
    y[:, 1] = 0.0  # a zero target (kl's 0 log 0, bce's soft label 0)
    out = (p * scale).requires_grad_(True)
    loss = video_loss(out, y, scale, name)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(out.grad).all()
    assert float(out.grad.abs().sum()) > 0
    # a batch of rows (B, C) works the same way
    batch = (p[:8] * scale).requires_grad_(True)
    video_loss(batch, y[:8], scale, name).backward()
    assert torch.isfinite(batch.grad).all()


def test_unknown_loss_and_unbounded_bce_are_clear_errors():
    p, y = _data()
    with pytest.raises(ValueError, match="unknown loss 'huber'"):
        video_loss(p, y, loss="huber")
    with pytest.raises(ValueError, match="unknown loss 'huber'"):
        check_loss("huber")
    for name in ("bce", "kl"):
        with pytest.raises(ValueError, match="needs a bounded target_range"):
            video_loss(p, y, loss=name, target_range=None)
        with pytest.raises(ValueError, match="needs a bounded target_range"):
            check_loss(name, None)
    for name in ("mse", "l1", "ccc"):  # these train unbounded targets
        check_loss(name, None)
        assert torch.isfinite(video_loss(p, y, loss=name, target_range=None))
