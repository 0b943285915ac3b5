"""The 3rd place MGN-MA family (eevflow/models/mgn.py): shapes and range, modal attention and
modal dropout, the fusion and head choices, the video-level streams (mean, NetVLAD), the row-batch
epoch with its shuffle buffer, and that it learns a planted signal and not shuffled labels."""

import numpy as np
import pytest
import torch

from eevflow.models import build_model, mgn, model_config
from eevflow.models.mgn import MoE, NetVLAD, RowBuffer, uniform_rows
from eevflow.options import OptionError
from eevflow.sequences import VideoSeq
from eevflow.training import TrainConfig, Trainer
from tests.planted import assert_checkpoint_round_trip

STREAMS = [["effnet", 8, "visual"], ["logmel", 4, "audio"]]


def _cfg(target_range="default", **opts):
    return model_config("mgn", {"type": "mgn", "hidden": 6, "mlp_hidden": 5, "batch_rows": 16,
                                "shuffle_buffer_rows": 48, **opts}, 12, 5, streams=STREAMS,
                        target_range=target_range)


def _model(target_range="default", **opts):
    torch.manual_seed(0)
    return build_model(_cfg(target_range, **opts))


def _x(b, t, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, 12, generator=g), torch.zeros(b, t)


def _warm_bn(m):
    """A few training-mode passes, so that batch norm's running statistics are not the init."""
    m.train()
    with torch.no_grad():
        for i in range(3):
            m(*_x(2, 40, seed=100 + i))
    return m.eval()


@pytest.mark.parametrize("opts", [{}, {"head": "mlp"}, {"fusion": "concat"},
                                  {"video_level": ["effnet", "logmel"]},
                                  {"video_level": ["logmel"], "video_pool": "netvlad"}])
def test_one_score_per_row_in_range_for_every_length(opts):
    m = _warm_bn(_model(**opts))
    for t in (1, 2, 7, 90):
        y = m(*_x(2, t))
        assert y.shape == (2, t, 5) and torch.all((y > 0) & (y < 1))
    assert m(*_x(1, 0)).shape == (1, 0, 5)
    m.train()  # batch norm over the rows of the call
    assert m(*_x(2, 30)).shape == (2, 30, 5)


def test_other_target_ranges_give_their_activation():
    y = _warm_bn(_model([-1.0, 1.0]))(*_x(1, 50))
    assert torch.all((y > -1) & (y < 1)) and (y < 0).any()
    y = _warm_bn(_model(None, head="mlp"))(*_x(1, 50))
    assert y.shape == (1, 50, 5)


def test_modal_attention_weights_sum_to_one_per_row_and_scale_the_streams():
    m = _warm_bn(_model(video_level=["effnet"]))
    x, s = _x(2, 20)
    w = m.attention_weights(x, s)
    assert w.shape == (2, 20, 3)  # two row-level streams and one video-level
    assert torch.allclose(w.sum(-1), torch.ones(2, 20), atol=1e-6) and torch.all(w > 0)
    flat, inputs, video = m._videos(x)
    vs = m.streams_of(flat, inputs, video)
    fused, alpha = m.fuse(vs)
    assert torch.allclose(alpha, w.reshape(40, 3))
    assert torch.allclose(fused[:, 6:12], vs[1] * alpha[:, 1:2])  # Eq. 1: v_i alpha_i, concat
    assert w.std(dim=(0, 1)).max() > 0  # weights differ from row to row


def test_concat_fusion_has_no_weights_and_the_same_head_width():
    att, cat = _model(), _model(fusion="concat")
    assert len(att.scores) == 2 and len(cat.scores) == 0
    assert att.head.gate[0].in_features == cat.head.gate[0].in_features == 2 * 6
    assert cat.eval().attention_weights(*_x(1, 5)) is None
    x, s = _x(1, 10)
    assert not torch.allclose(att.eval()(x, s), cat(x, s))


def test_modality_dropout_zeros_whole_streams_of_a_row_never_all_and_only_in_training():
    m = _model(modality_dropout=0.5, video_level=["effnet"])
    vs = [torch.rand(400, 6) + 0.1 for _ in range(3)]
    m.train()
    torch.manual_seed(3)
    out = m.drop_streams(vs)
    dropped = torch.stack([(o == 0).all(dim=1) for o in out], dim=1)  # (rows, streams)
    for o, v, d in zip(out, vs, dropped.T, strict=True):
        assert torch.equal(o[~d], v[~d])  # untouched where kept
        assert torch.all(o[d] == 0)  # every element of a dropped stream
    assert not dropped.all(dim=1).any()  # never every stream of a row
    assert 0.3 < float(dropped.float().mean()) < 0.5  # 0.5, less the rows kept from all-dropped
    m.eval()
    assert all(torch.equal(o, v) for o, v in zip(m.drop_streams(vs), vs, strict=True))
    assert _model(modality_dropout=0.0).train().drop_streams(vs) is vs


def test_moe_is_the_gated_sum_of_sigmoid_experts_and_a_dummy_at_the_lower_bound():
    torch.manual_seed(0)
    head = MoE(7, 4, 3, True, [0.0, 1.0]).eval()
    v = torch.randn(10, 7)
    gate = torch.softmax(head.gate(v).view(10, 4, 4), -1)
    expert = torch.sigmoid(head.expert(v).view(10, 4, 3))
    assert torch.allclose(head(v), (gate[..., :3] * expert).sum(-1), atol=1e-6)
    wide = MoE(7, 4, 3, True, [2.0, 5.0]).eval()  # the dummy expert gives the lower bound
    gate = torch.softmax(wide.gate(v).view(10, 4, 4), -1)
    expert = 2.0 + 3.0 * torch.sigmoid(wide.expert(v).view(10, 4, 3))
    assert torch.allclose(wide(v), (gate[..., :3] * expert).sum(-1) + 2.0 * gate[..., 3])
    assert MoE(7, 4, 3, False, [0.0, 1.0]).gate[0].out_features == 12
    # batch norm before the non-linearities; the mlp baseline is Linear, BN, ReLU, Linear
    assert isinstance(head.gate[1], torch.nn.BatchNorm1d)
    mlp = _model(head="mlp").head.net
    assert [type(layer).__name__ for layer in mlp] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert _model(experts=2).head.expert[0].out_features == 5 * 2


def test_video_mean_stream_is_the_mean_broadcast_to_every_row():
    m = _warm_bn(_model(video_level=["effnet"]))
    x, s = _x(1, 30)
    y = m(x, s)[0]
    # a row alone, with its video's mean of the effnet block, gets its score in the video
    mean = x[0, :, :8].mean(0)
    one = m.rows(x[0, 7:8], [mean[None]], torch.zeros(1, dtype=torch.long))
    assert torch.allclose(one, y[7:8], atol=1e-6)
    # another row of the video changes it; without video_level it does not
    x2 = x.clone()
    x2[0, 20] += 3.0
    assert not torch.allclose(m(x2, s)[0, 7], y[7])
    plain = _warm_bn(_model())
    assert torch.allclose(plain(x2, s)[0, :20], plain(x, s)[0, :20], atol=1e-6)
    # in a batch of videos, each is pooled over its own rows
    xb = torch.cat([x, _x(1, 30, seed=9)[0]])
    assert torch.allclose(m(xb, torch.zeros(2, 30))[0], y, atol=1e-6)
    with pytest.raises(ValueError, match=r"video_level \['clip'\] not among"):
        _cfg(video_level=["clip"])


def test_netvlad_shape_norm_and_frame_order_invariance():
    torch.manual_seed(0)
    vlad = NetVLAD(4, 3)
    frames = torch.randn(2, 80, 4)
    out = vlad(frames)
    assert out.shape == (2, 12)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-6)
    assert torch.allclose(vlad(frames[:, torch.randperm(80)]), out, atol=1e-5)
    assert not torch.allclose(vlad(frames.flip(0)), out)
    assert uniform_rows(10, 4).tolist() == [0, 3, 6, 9]
    assert uniform_rows(3, 80).unique().tolist() == [0, 1, 2]  # a short video repeats rows
    m = _warm_bn(_model(video_level=["logmel"], video_pool="netvlad", netvlad_clusters=3,
                        video_frames=20))
    assert m.project[2][0].in_features == 3 * 4
    x, s = _x(1, 60)
    frames = m.video_inputs(x[0])[0]
    assert torch.equal(frames, x[0, uniform_rows(60, 20), 8:])  # the logmel block's rows
    assert m(x, s).shape == (1, 60, 5)


def test_options_are_checked():
    with pytest.raises(OptionError, match="below batch_rows"):
        _cfg(batch_rows=64, shuffle_buffer_rows=32)
    with pytest.raises(OptionError, match="not_a_pool"):
        _cfg(video_pool="not_a_pool")
    with pytest.raises(ValueError, match="do not add up"):
        model_config("mgn", {"type": "mgn"}, 13, 5, streams=STREAMS)


def _videos(n, seed, T=90, undetected=0.1):
    """Scores: the sigmoid of a linear map of each row's features plus an offset of the video
    that follows its mean features; ~10% of the rows undetected."""
    rng = np.random.default_rng(seed)
    w = np.random.default_rng(42).normal(size=(12, 5)) / 2
    out = []
    for i in range(n):
        shift = rng.normal(size=12)
        f = (rng.normal(size=(T, 12)) + shift).astype(np.float32)
        y = (1 / (1 + np.exp(-(f - shift) @ w - shift @ w))).astype(np.float32)
        det = rng.random(T) > undetected
        y[~det] = 0.0
        ts = (np.arange(T) * 1e6 / 6).round().astype(np.int64)
        out.append(VideoSeq(f"v{seed}_{i}", ts, f, y, det))
    return out


def _trainer(model_opts=None, **training):
    cfg = _cfg(**{"hidden": 16, "mlp_hidden": 16, "video_level": ["effnet"], "batch_rows": 32,
                  "shuffle_buffer_rows": 96, **(model_opts or {})})
    tc = TrainConfig(**{"epochs": 10, "optimizer": "adam", "lr": 3e-3, "loss": "bce",
                        **training})
    return Trainer(cfg, tc, threads=1)


def test_row_batches_come_from_the_buffer_across_videos_and_are_deterministic(monkeypatch):
    videos = _videos(5, 0)
    seen = []
    real = mgn._step

    def spy(trainer, opt, batch):
        seen.append((len(batch[0]), len(batch[2][0]), batch[3].tolist()))
        return real(trainer, opt, batch)

    monkeypatch.setattr(mgn, "_step", spy)
    runs = []
    for _ in range(2):
        seen.clear()
        trainer = _trainer()
        opt = trainer._optimizer()
        rec = trainer._epoch(videos, opt, np.random.default_rng(0), np.random.default_rng(1))
        runs.append((rec, list(seen), [p.detach().clone() for p in trainer.model.parameters()]))
    (rec, batches, params), (rec2, batches2, params2) = runs
    assert rec == rec2 and batches == batches2
    assert all(torch.equal(a, b) for a, b in zip(params, params2, strict=True))
    rows = sum(int(v.detected.sum()) for v in videos)
    sizes = [n for n, _, _ in batches]
    assert all(n == 32 for n in sizes[:-1]) and 2 <= sizes[-1] <= 32
    assert rows - 1 <= sum(sizes) <= rows  # a last batch of one row is left out
    assert rec["optimizer_steps"] == len(batches) and rec["trained_videos"] == 5
    assert max(n_videos for _, n_videos, _ in batches) > 1  # batches mix videos
    assert set(rec) == {"train_loss", "trained_videos", "optimizer_steps"}


def test_a_row_in_a_batch_gets_its_score_of_the_per_video_path_in_eval_mode():
    for opts in ({"video_level": ["effnet"]}, {"video_level": ["logmel"], "video_pool": "netvlad",
                                                "video_frames": 10}):
        m = _warm_bn(_model(**opts))
        buf = RowBuffer(100, 12, 5, torch.device("cpu"))
        vids = [_x(1, t, seed=t)[0][0] for t in (30, 40)]
        for x in vids:
            buf.put(x, torch.zeros(len(x), 5), buf.add_video(m.video_inputs(x), len(x)))
        x, _, inputs, video = buf.take(np.random.default_rng(0).choice(70, 25, replace=False))
        assert buf.size == 45 and len(inputs[0]) == 2
        got = m.rows(x, inputs, video)
        full = [m(v[None], torch.zeros(1, len(v)))[0] for v in vids]
        for row, (xr, vid) in enumerate(zip(x, video.tolist(), strict=True)):
            pos = int(torch.nonzero((vids[vid] == xr).all(1))[0])
            assert torch.allclose(got[row], full[vid][pos], atol=1e-5)
        buf.take(np.arange(45))
        assert buf.size == 0 and not buf.videos  # the videos leave with their last rows


def test_learns_a_planted_signal_and_not_shuffled_labels_and_round_trips(tmp_path):
    train, val = _videos(8, 0), _videos(4, 1)
    trainer = _trainer()
    result = trainer.fit(train, val)
    assert result["best"]["val_m_rho"] > 0.5, result["best"]
    control = _trainer(shuffle_labels=True).fit(train, val)
    assert abs(control["history"][-1]["val_m_rho"]) < 0.2, control["history"][-1]
    assert_checkpoint_round_trip(trainer, tmp_path, _videos(2, 5))
    again = _trainer().fit(train, val)
    assert again["history"][-1]["train_loss"] == result["history"][-1]["train_loss"]
