"""The 2nd place bi-GRU family (eevflow/models/bigru.py): sampling, windows, interpolation,
streams, context gating, and that it learns a planted signal and not shuffled labels."""

import numpy as np
import pytest
import torch

from eevflow.models import build_model, model_config
from eevflow.models.bigru import ContextGating, interpolate, sample_rows
from eevflow.training import TrainConfig, Trainer, video_loss
from tests.planted import assert_checkpoint_round_trip, slow_signal_videos

STREAMS = [["effnet", 8, "visual"], ["logmel", 4, "audio"]]


def _model(**opts):
    cfg = model_config("bigru", {"type": "bigru", "hidden_visual": 6, "hidden_audio": 3, **opts},
                       12, 5, streams=STREAMS)
    torch.manual_seed(0)
    return build_model(cfg)


def _seconds(T, hz=6.0):
    return torch.from_numpy((np.arange(T) * 1e6 / hz).round() / 1e6)


def test_one_prediction_per_label_row_in_range_with_gaps_and_any_length():
    m = _model().eval()
    for T in (1, 2, 7, 361, 1000):
        s = _seconds(T)
        keep = torch.arange(T) % 5 != 3 if T > 5 else torch.ones(T, dtype=torch.bool)
        x = torch.randn(1, int(keep.sum()), 12)
        y = m(x, s[keep][None])
        assert y.shape == (1, int(keep.sum()), 5)
        assert torch.all((y > 0) & (y < 1))


def test_sampling_takes_the_row_nearest_each_second_once():
    s = _seconds(40)  # 0, 1/6, ..., 6.5 s
    assert sample_rows(s, 1.0).tolist() == [0, 6, 12, 18, 24, 30, 36]
    assert sample_rows(s, 2.0).tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39]
    gap = torch.tensor([0.0, 0.1, 3.4, 3.5])  # a hole: second 1 picks row 1, seconds 2, 3 row 2
    assert sample_rows(gap, 1.0).tolist() == [0, 1, 2]
    assert sample_rows(s, None).tolist() == list(range(40))


def test_interpolation_is_exact_on_a_linear_signal_and_constant_beyond_the_ends():
    times = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    values = torch.stack([3 * times + 1, -times], dim=1).float()
    at = torch.tensor([0.0, 1.0, 1.5, 2.0, 3.0, 3.9, 4.0, 9.0], dtype=torch.float64)
    got = interpolate(times, values, at)
    inside = (at >= 1) & (at <= 4)
    want = torch.stack([3 * at + 1, -at], dim=1).float()
    assert torch.allclose(got[inside], want[inside], atol=1e-6)
    assert torch.equal(got[0], values[0]) and torch.equal(got[-1], values[-1])
    assert interpolate(times[:1], values[:1], at).shape == (8, 2)


def test_the_model_at_6hz_interpolates_its_1hz_outputs():
    m = _model().eval()
    s = _seconds(90)
    x = torch.randn(1, 90, 12)
    full = m(x, s[None])[0]
    rows = sample_rows(s, 1.0)
    # the outputs at the sampled rows come from the sampled rows alone
    assert torch.allclose(full[rows], m(x[:, rows], s[rows][None])[0], atol=1e-6)
    between = full[rows[0] + 3]  # halfway between the first two sampled rows
    assert torch.allclose(between, (full[rows[0]] + full[rows[1]]) / 2, atol=1e-6)


def test_windows_cut_the_video_and_move_only_in_training():
    m = _model(window_s=10.0)
    s = _seconds(6 * 35)[sample_rows(_seconds(6 * 35), 1.0)]  # 35 samples, 0..34 s
    m.eval()
    assert [len(w) for w in m.windows(s)] == [10, 10, 10, 5]
    m.train()
    torch.manual_seed(1)
    cuts = {tuple(len(w) for w in m.windows(s)) for _ in range(5)}
    assert len(cuts) > 1 and all(sum(c) == 35 for c in cuts)
    # a window is a sequence of its own: the outputs of the first window ignore the rest
    m.eval()
    x = torch.randn(35, 12)
    h = m.encode(x, s)
    x2 = x.clone()
    x2[10:] = torch.randn(25, 12)
    assert torch.equal(m.encode(x2, s)[:10], h[:10]) and not torch.equal(m.encode(x2, s), h)
    assert len(_model(window_s=None).eval().windows(s)) == 1


def test_one_gru_per_stream_with_its_modality_width_and_no_sharing():
    m = _model(layers=2)
    assert [g.input_size for g in m.grus] == [8, 4]
    assert [g.hidden_size for g in m.grus] == [6, 3]
    assert all(g.bidirectional and g.num_layers == 2 for g in m.grus)
    assert m.gate_in.fc.in_features == 2 * 6 + 2 * 3 and m.fc.out_features == 5
    with pytest.raises(ValueError, match="do not add up"):
        model_config("bigru", {"type": "bigru"}, 13, 5, streams=STREAMS)


def test_context_gating_is_sigmoid_of_an_affine_map_times_the_input():
    g = ContextGating(4)
    x = torch.randn(3, 4)
    want = torch.sigmoid(x @ g.fc.weight.T + g.fc.bias) * x
    assert torch.allclose(g(x), want, atol=1e-6)


def test_l1_loss_is_the_mean_absolute_error():
    out, y = torch.tensor([[0.2, 0.9]]), torch.tensor([[0.5, 0.5]])
    assert float(video_loss(out, y, loss="l1")) == pytest.approx(0.35)
    assert float(video_loss(out, y, loss="mse")) == pytest.approx((0.09 + 0.16) / 2)
    with pytest.raises(ValueError, match="unknown loss"):
        video_loss(out, y, loss="huber")


_videos = slow_signal_videos


def _fit(**training):
    cfg = model_config("bigru", {"type": "bigru", "hidden_visual": 16, "hidden_audio": 8,
                                 "window_s": 20.0}, 12, 5, streams=STREAMS)
    tc = TrainConfig(**{"epochs": 12, "optimizer": "adam", "lr": 3e-3, "grad_accum": 2,
                        "loss": "l1", **training})
    trainer = Trainer(cfg, tc, threads=1)
    return trainer, trainer.fit(_videos(10, 0), _videos(4, 1))


def test_learns_a_planted_signal_and_not_shuffled_labels_and_round_trips(tmp_path):
    trainer, result = _fit()
    assert result["best"]["val_m_rho"] > 0.5, result["best"]
    _, control = _fit(shuffle_labels=True)
    assert abs(control["history"][-1]["val_m_rho"]) < 0.2, control["history"][-1]
    assert_checkpoint_round_trip(trainer, tmp_path, _videos(2, 5))
    again, result2 = _fit()
    assert result2["history"][-1]["train_loss"] == result["history"][-1]["train_loss"]


def test_eval_rows_every_feeds_every_row_in_eval_windows_like_lin_table_1():
    """The 6 Hz rows of Lin et al.'s Table 1: the same weights fed every row over eval_window_s
    windows in evaluation equal a model configured that way; training still samples at 1 Hz."""
    torch.manual_seed(0)
    ablation = _model(eval_rows="every", eval_window_s=10.0, window_s=60.0).eval()
    dense = _model(sample_hz=None, window_s=10.0).eval()
    dense.load_state_dict(ablation.state_dict())
    s = _seconds(400)
    x = torch.randn(1, 400, 12)
    with torch.no_grad():
        torch.testing.assert_close(ablation(x, s[None]), dense(x, s[None]))
        sparse = _model(window_s=60.0).eval()
        sparse.load_state_dict(ablation.state_dict())
        assert not torch.allclose(ablation(x, s[None]), sparse(x, s[None]))
    ablation.train()
    assert len(ablation.windows(s[sample_rows(s, 1.0)])) in (2, 3)  # 1 Hz rows, 60 s windows
    ablation.eval()
    assert len(ablation.windows(s)) == 7  # 66.5 s of rows in 10 s windows
