import numpy as np
import pytest
import torch

from eevflow.models.tcn import EEVTCN, TCNConfig


def _model(**kw):
    torch.manual_seed(0)
    cfg = TCNConfig(input_dim=6, n_targets=15, channels=16, dropout=0.0, **kw)
    return EEVTCN(cfg).eval()


@pytest.mark.parametrize("stacks, rf", [(1, 61), (2, 121)])
def test_receptive_field(stacks, rf):
    cfg = TCNConfig(input_dim=4, stacks=stacks)
    assert cfg.receptive_field == rf
    # empirically: the output at the last step responds to the input exactly rf - 1 steps back
    model = _model(stacks=stacks, positional_encoding="none")
    T = rf + 20
    x = torch.zeros(1, T, 6, requires_grad=True)
    model(x, torch.zeros(1, T))[0, -1].sum().backward()
    touched = np.flatnonzero(x.grad[0].abs().sum(-1).numpy() > 0)
    assert T - 1 - touched.min() == rf - 1


@pytest.mark.parametrize("pe", ["timestamp", "sinusoidal", "none"])
def test_causal(pe):
    model = _model(positional_encoding=pe)
    x = torch.randn(1, 50, 6)
    s = torch.arange(50).float()[None] / 6
    y = model(x, s)
    x2, s2 = x.clone(), s.clone()
    x2[:, 30:] = torch.randn(1, 20, 6)
    s2[:, 30:] += 100
    y2 = model(x2, s2)
    assert torch.equal(y[:, :30], y2[:, :30])
    assert not torch.allclose(y[:, 30:], y2[:, 30:])


@pytest.mark.parametrize("pe, extra", [("timestamp", 1), ("sinusoidal", 16), ("none", 0)])
def test_positional_channel_present_exactly_when_enabled(pe, extra):
    model = _model(positional_encoding=pe)
    first_conv = model.tcn[0].net[0]
    assert first_conv.in_channels == 6 + extra
    s = torch.arange(10).float()[None]
    y1 = model(torch.zeros(1, 10, 6), s)
    y2 = model(torch.zeros(1, 10, 6), s + 7.0)
    assert torch.equal(y1, y2) == (pe == "none")


def test_head_and_weight_norm():
    model = _model(weight_norm=True)
    assert [type(m).__name__ for m in model.head] == ["Linear", "ReLU", "Linear"]
    assert model.head[0].bias is None and model.head[2].bias is None
    assert model.head[0].out_features == 128
    assert hasattr(model.tcn[0].net[0], "parametrizations")
    assert model.tcn[0].downsample is not None and model.tcn[1].downsample is None
    assert model(torch.zeros(2, 9, 6), torch.zeros(2, 9)).shape == (2, 9, 15)
