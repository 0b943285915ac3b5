import numpy as np
import pandas as pd
import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from eevflow.models.tcn import TCNConfig
from eevflow.shards import write_shard
from eevflow.inference import Predictor, predictions_frame
from eevflow.sequences import VideoSeq, feature_stats, load_split, shuffled_labels
from eevflow.training import Trainer, TrainConfig


def _videos(n=6, T=60, D=5, seed=0):
    """Target k follows feature k lagged by 2 steps; ~10% rows undetected."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        f = rng.normal(size=(T, D)).astype(np.float32)
        y = np.zeros((T, 3), np.float32)
        y[2:] = 0.5 + 0.2 * f[:-2, :3]
        det = rng.random(T) > 0.1
        y[~det] = 0.0
        ts = (np.arange(T) * 1e6 / 6).round().astype(np.int64)
        out.append(VideoSeq(f"v{i}", ts, f, np.clip(y, 0, 1), det))
    return out


def _fit(train, val, **kw):
    cfg = TCNConfig(input_dim=5, n_targets=3, channels=8, dilations=[1, 2], dropout=0.1)
    tc = TrainConfig(epochs=kw.pop("epochs", 3), optimizer="adam", lr=0.01, grad_accum=2, **kw)
    trainer = Trainer(cfg, tc, threads=1)
    result = trainer.fit(train, val)
    return trainer, result


def test_training_is_deterministic():
    a, ra = _fit(_videos(), _videos(2, seed=1))
    b, rb = _fit(_videos(), _videos(2, seed=1))
    for (k, va), vb in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(va, vb), k
    assert ra["history"] == [{**h, "seconds": ra["history"][i]["seconds"]}
                             for i, h in enumerate(rb["history"])]


def test_labels_of_undetected_rows_do_not_matter():
    train = _videos()
    changed = [
        VideoSeq(v.video_id, v.timestamps_us, v.features,
                 np.where(v.detected[:, None], v.labels, 0.9).astype(np.float32), v.detected)
        for v in train
    ]
    a, _ = _fit(train, [])
    b, _ = _fit(changed, [])
    for va, vb in zip(a.model.state_dict().values(), b.model.state_dict().values()):
        assert torch.equal(va, vb)


def test_model_learns_and_selection_keeps_best_epoch():
    trainer, result = _fit(_videos(8), _videos(3, seed=2), epochs=25)
    assert result["best"]["val_m_rho"] > 0.3
    vals = [h["val_m_rho"] for h in result["history"]]
    assert result["best"]["val_m_rho"] == max(vals)
    _, control = _fit(_videos(8), _videos(3, seed=2), epochs=25, shuffle_labels=True)
    final = control["history"][-1]["val_m_rho"]
    assert abs(final) < 0.15, final
    _, last = _fit(_videos(8), _videos(3, seed=2), epochs=4, selection="last")
    assert last["best"]["epoch"] == 3


def test_shuffled_labels_keep_the_mask_and_the_values():
    train = _videos()
    shuf = shuffled_labels(train, seed=0)
    before = np.sort(np.concatenate([v.labels[v.detected] for v in train]), axis=0)
    after = np.sort(np.concatenate([v.labels[v.detected] for v in shuf]), axis=0)
    assert np.array_equal(before, after)
    for v, s in zip(train, shuf):
        assert np.array_equal(v.detected, s.detected)
        assert np.array_equal(s.labels[~s.detected], v.labels[~v.detected])
    assert not all(np.array_equal(v.labels, s.labels) for v, s in zip(train, shuf))


def test_checkpoint_round_trip_and_predictions(tmp_path):
    trainer, _ = _fit(_videos(), [])
    path = tmp_path / "m.pt"
    torch.save(trainer.checkpoint(variant="x"), path)
    back = Predictor.from_checkpoint(torch.load(path, weights_only=True), device="cpu")
    vids = _videos(2, seed=5)
    p1, p2 = trainer.predict(vids), back.predict(vids)
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2))
    df = predictions_frame(vids, p1, ["a", "b", "c"])
    assert list(df.columns) == ["video_id", "timestamp_us", "a", "b", "c"] and len(df) == 120


def test_load_split_joins_extractors_and_reports_skips(tmp_path):
    ts = np.array([0, 166667, 333333])
    labels = pd.DataFrame({
        "video_id": ["a"] * 3 + ["b"] * 3 + ["c"] * 3,
        "timestamp_us": np.tile(ts, 3),
        "t1": np.linspace(0, 1, 9).astype(np.float32),
        "detected": True,
    })
    write_shard(tmp_path / "x.parquet", iter([("a", ts, np.ones((3, 2))), ("b", ts, np.ones((3, 2)))]), 2, {})
    write_shard(tmp_path / "y.parquet", iter([("a", ts, np.zeros((3, 4))), ("b", ts[:2], np.zeros((2, 4)))]), 4, {})
    data = load_split(labels, {"x": [str(tmp_path / "x.parquet")], "y": [str(tmp_path / "y.parquet")]}, ["t1"])
    assert [v.video_id for v in data.videos] == ["a"]
    assert data.videos[0].features.shape == (3, 6)
    assert np.array_equal(data.videos[0].features[:, :2], np.ones((3, 2)))
    assert "timestamps differ" in data.skipped["b"] and "no x embeddings" in data.skipped["c"]
    assert data.blocks == [("x", 2), ("y", 4)]  # each extractor's columns, in order
    with pytest.raises(ValueError, match="no training videos"):
        _fit([], [])


# ---------------------------------------------------------------------------- TPF switches


def _tc(**kw):
    base = dict(epochs=3, optimizer="adam", lr=0.01, grad_accum=2)
    return TrainConfig(**{**base, **kw})


def _mc(**kw):
    return TCNConfig(**{"input_dim": 5, "n_targets": 3, "channels": 8, "dilations": [1, 2],
                        "dropout": 0.1, **kw})


def test_normal_init_draws_conv_weights_with_std_001():
    from eevflow.models.tcn import EEVTCN

    torch.manual_seed(0)
    for weight_norm in (False, True):
        model = EEVTCN(TCNConfig(input_dim=64, channels=128, init="normal_0.01",
                                 weight_norm=weight_norm))
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv1d)]
        w = torch.cat([c.weight.detach().flatten() for c in convs])
        assert abs(float(w.std()) - 0.01) < 0.0005 and abs(float(w.mean())) < 0.0005
    default = EEVTCN(TCNConfig(input_dim=64, channels=128))
    conv = next(m for m in default.modules() if isinstance(m, torch.nn.Conv1d))
    assert float(conv.weight.detach().std()) > 0.02  # PyTorch's kaiming-uniform default is wider


def test_target_scale_multiplies_the_loss_by_its_square_and_predictions_are_divided_back():
    from eevflow.training import video_loss

    rng = np.random.default_rng(0)
    pred = torch.from_numpy(rng.random((50, 3)).astype(np.float32))
    y = torch.from_numpy(rng.random((50, 3)).astype(np.float32))
    unscaled = float(video_loss(pred, y, 1.0))
    assert float(video_loss(10 * pred, y, 10.0)) == pytest.approx(100 * unscaled, rel=1e-5)
    trainer = Trainer(_mc(), _tc(target_scale=10.0))
    vids = _videos(2)
    raw = [trainer.model.eval()(*__import__("eevflow.inference", fromlist=["x"]).video_tensors(
        v, trainer.mean, trainer.std, trainer.device))[0].detach().numpy() for v in vids]
    for p, r in zip(trainer.predict(vids), raw):
        np.testing.assert_allclose(p, r / 10.0, rtol=1e-6)


def test_row_dropout_leaves_out_about_p_and_never_every_row():
    from eevflow.sequences import dropped_rows

    rng = np.random.default_rng(0)
    rows = np.arange(200)
    # row mode: each row with probability 0.3
    kept = [len(dropped_rows(rows, 0.3, rng, "row")) for _ in range(500)]
    assert abs(1 - np.mean(kept) / 200 - 0.3) < 0.01
    # video mode (TPF's TimeDropout): 30% of the draws drop int(r L) rows, r ~ U(0, 0.3)
    draws = [dropped_rows(rows, 0.3, rng, "video") for _ in range(4000)]
    fired = np.array([len(d) < 200 for d in draws])
    assert abs(fired.mean() - 0.3) < 0.025
    lost = np.array([1 - len(d) / 200 for d in draws])[fired]
    assert lost.max() <= 0.3 and abs(lost.mean() - 0.15) < 0.01  # r uniform on (0, 0.3]
    assert all(np.all(np.diff(d) > 0) for d in draws)  # order kept, no duplicates
    for mode in ("row", "video"):  # never every row, even with one or two rows
        short = [dropped_rows(np.array([7, 9]), 0.9, rng, mode) for _ in range(500)]
        assert all(len(k) >= 1 and set(k) <= {7, 9} for k in short)
        assert all(len(dropped_rows(np.array([3]), 0.9, rng, mode)) == 1 for _ in range(100))
        assert np.array_equal(dropped_rows(rows, 0.0, rng, mode), rows)
    # in training: same seed, same draws; p = 0 trains exactly as before the option existed
    a, ra = _fit(_videos(), [], row_dropout=0.3)
    b, rb = _fit(_videos(), [], row_dropout=0.3)
    c, rc = _fit(_videos(), [])
    assert ra["history"][-1]["train_loss"] == rb["history"][-1]["train_loss"]
    assert ra["history"][-1]["train_loss"] != rc["history"][-1]["train_loss"]


def test_swa_weights_are_the_mean_of_the_epoch_snapshots():
    trainer = Trainer(_mc(), _tc(epochs=5, swa_start=2, swa_lr=0.005, selection="swa"))
    snaps = []
    trainer.fit(_videos(), _videos(2, seed=1),
                on_epoch_end=lambda e: snaps.append(
                    {k: v.clone() for k, v in trainer.model.state_dict().items()}))
    averaged = snaps[2:]  # the ends of epochs 2, 3, 4
    for k, v in trainer.model.state_dict().items():
        expected = torch.stack([s[k] for s in averaged]).mean(0)
        torch.testing.assert_close(v, expected, rtol=1e-5, atol=1e-6)
    # PyTorch Lightning 1.3's timing: at the start of epochs 2, 3, 4 = the ends of 1, 2, 3
    trainer = Trainer(_mc(), _tc(epochs=5, swa_start=2, selection="swa",
                                 swa_update="epoch_start"))
    snaps = []
    res = trainer.fit(_videos(), _videos(2, seed=1),
                      on_epoch_end=lambda e: snaps.append(
                          {k: v.clone() for k, v in trainer.model.state_dict().items()}))
    assert res["best"]["averaged_epochs"] == 3
    for k, v in trainer.model.state_dict().items():
        expected = torch.stack([s[k] for s in snaps[1:4]]).mean(0)
        torch.testing.assert_close(v, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(Exception, match="selection: swa needs swa_start"):
        __import__("eevflow.models.options", fromlist=["x"]).TrainingOptions.from_dict(
            {"selection": "swa"})


def test_accumulation_counts_only_trained_videos(monkeypatch):
    """grad_accum 2 over 7 videos, two of them with no detected row: one placed where a window
    would end, one last in the epoch's order. 5 trained videos: windows 2 + 2 + 1 = 3 steps."""
    n, seed = 7, 0
    order = np.random.default_rng(seed).permutation(n)
    vids = _videos(n)
    for pos in (1, 6):  # the 2nd video of the first window, and the last one
        v = vids[order[pos]]
        v.detected[:] = False
        v.labels[:] = 0.0
    steps = []
    handle = register_optimizer_step_post_hook(
        lambda opt, args, kwargs: steps.append(1))
    try:
        trainer = Trainer(_mc(), _tc(epochs=1, grad_accum=2, seed=seed))
        res = trainer.fit(vids, [])
    finally:
        handle.remove()
    rec = res["history"][0]
    assert len(steps) == 3 == rec["optimizer_steps"] and rec["trained_videos"] == 5


def test_validation_rows_follow_the_option():
    from eevflow import metrics

    train, val = _videos(), _videos(3, seed=2)
    trainer, _ = _fit(train, [], epochs=2)
    preds = trainer.predict(val)
    ids = np.concatenate([np.full(len(v.timestamps_us), i) for i, v in enumerate(val)])
    y = np.concatenate([v.labels for v in val])
    p = np.concatenate(preds)
    for mode, ignore in (("scoring", True), ("all", False)):
        trainer.cfg.val_rows = mode
        assert trainer.validate(val) == metrics.score(ids, y, p, ignore_undetected=ignore).m_rho
    trainer.cfg.val_rows, trainer.cfg.ignore_undetected = "scoring", False
    assert trainer.validate(val) == metrics.score(ids, y, p, ignore_undetected=False).m_rho
    trainer.cfg.val_rows = "detected"  # undetected rows are not fed: the sequences are shorter
    det = [VideoSeq(v.video_id, v.timestamps_us[v.detected], v.features[v.detected],
                    v.labels[v.detected], v.detected[v.detected]) for v in val]
    pd_ = np.concatenate(trainer.predict(det))
    ids_d = np.concatenate([np.full(len(v.timestamps_us), i) for i, v in enumerate(det)])
    expected = metrics.score(ids_d, np.concatenate([v.labels for v in det]), pd_).m_rho
    assert trainer.validate(val) == expected != metrics.score(ids, y, p).m_rho


class _Killed(Exception):
    pass


@pytest.mark.parametrize("kw", [{}, {"swa_start": 2, "selection": "swa", "row_dropout": 0.3},
                                {"lr_milestones": [2, 4], "lr_gamma": 0.5}])
def test_resume_after_a_kill_ends_with_the_uninterrupted_weights(tmp_path, kw, caplog):
    train, val = _videos(), _videos(2, seed=1)
    full = Trainer(_mc(), _tc(epochs=5, **kw))
    full_res = full.fit(train, val)

    state = tmp_path / "state.pt"

    def kill(epoch):
        if epoch == 2:
            raise _Killed

    first = Trainer(_mc(), _tc(epochs=5, **kw))
    with pytest.raises(_Killed):
        first.fit(train, val, state_path=str(state), resume_key="k", on_epoch_end=kill)
    assert state.exists()
    again = Trainer(_mc(), _tc(epochs=5, **kw))
    with caplog.at_level("INFO", logger="eevflow.training"):
        res = again.fit(train, val, state_path=str(state), resume_key="k")
    assert "resuming after epoch 2" in caplog.text
    assert not state.exists()  # removed once training ended
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, again.model.state_dict()[k]), k
    strip = lambda h: [{**r, "seconds": 0} for r in h]  # noqa: E731
    assert strip(res["history"]) == strip(full_res["history"])
    assert res["best"] == full_res["best"]


def test_a_state_of_other_inputs_is_not_resumed(tmp_path, caplog):
    state = tmp_path / "state.pt"
    first = Trainer(_mc(), _tc(epochs=3))
    with pytest.raises(_Killed):
        first.fit(_videos(), [], state_path=str(state), resume_key="old",
                  on_epoch_end=lambda e: (_ for _ in ()).throw(_Killed()))
    with caplog.at_level("INFO", logger="eevflow.training"):
        res = Trainer(_mc(), _tc(epochs=3)).fit(_videos(), [], state_path=str(state),
                                                resume_key="new")
    assert "ignoring" in caplog.text and len(res["history"]) == 3


# ---------------------------------------------------------------------------- regularisation


def _weight_norm(model) -> float:
    return float(torch.sqrt(sum((p.detach() ** 2).sum() for n, p in model.named_parameters()
                                if "weight" in n)))


def test_weight_decay_shrinks_the_weights():
    norms = {}
    for wd in (0.0, 0.1):
        trainer = Trainer(_mc(), _tc(epochs=8, weight_decay=wd))
        trainer.fit(_videos(), [])
        norms[wd] = _weight_norm(trainer.model)
    assert norms[0.1] < 0.9 * norms[0.0], norms


def test_input_dropout_zeroes_features_in_training_only():
    from eevflow.models.tcn import EEVTCN

    model = EEVTCN(TCNConfig(input_dim=200, channels=8, dilations=[1], input_dropout=0.5))
    x = torch.ones(1, 50, 200)
    seen = {}
    model.input_dropout.register_forward_hook(lambda m, i, o: seen.__setitem__(m.training, o))
    model.train()
    model(x, torch.arange(50.0)[None])
    zeros = float((seen[True] == 0).float().mean())
    assert abs(zeros - 0.5) < 0.03  # about half the feature values zeroed, the rest scaled by 2
    assert torch.allclose(seen[True][seen[True] != 0], torch.tensor(2.0))
    model.eval()
    model(x, torch.arange(50.0)[None])
    assert torch.equal(seen[False], x)  # identity at validation and test


def test_early_stopping_stops_at_the_patience_and_keeps_the_best_epoch():
    trainer = Trainer(_mc(), _tc(epochs=40, lr=0.05, patience=3))
    res = trainer.fit(_videos(), _videos(2, seed=1))
    hist = [h["val_m_rho"] for h in res["history"]]
    best = int(np.argmax(hist))
    assert res["stopped_early_after_epoch"] == best + 3 == len(hist) - 1 < 39
    assert res["best"]["epoch"] == best
    assert all(h <= hist[best] for h in hist[best + 1:])
    with pytest.raises(Exception, match="early stopping needs selection: best_val"):
        __import__("eevflow.models.options", fromlist=["x"]).TrainingOptions.from_dict(
            {"patience": 2, "selection": "last"})


def test_the_bounded_positional_channel_stays_in_range_on_a_two_hour_input():
    from eevflow.models.tcn import EEVTCN

    seconds = torch.arange(0, 2 * 3600, 1 / 6)[None]  # a 2-hour video at 6 Hz
    model = EEVTCN(TCNConfig(input_dim=3, positional_encoding="timestamp_tanh", pe_scale_s=60))
    pe = model.encode_positions(seconds)
    assert pe.shape == (1, seconds.shape[1], 1)
    assert float(pe.min()) == 0.0 and float(pe.max()) <= 1.0 and bool(torch.all(pe.diff(dim=1) >= 0))
    assert abs(float(pe[0, 360, 0]) - np.tanh(1.0)) < 1e-6  # 60 s in
    raw = EEVTCN(TCNConfig(input_dim=3)).encode_positions(seconds)  # the authors' raw seconds
    assert float(raw.max()) > 7000


def test_balanced_extractors_each_bring_total_variance_one():
    """training.balance_extractors: a wide block (40 columns) and a narrow one (2) each end with
    total variance 1 after z-scoring, where plain z-scoring gives them 40 and 2."""
    rng = np.random.default_rng(0)
    videos = [VideoSeq(f"v{i}", (np.arange(50) * 1e6 / 6).round().astype(np.int64),
                       (rng.normal(size=(50, 42)) * rng.uniform(0.1, 10, 42) + 3).astype(np.float32))
              for i in range(4)]
    x = np.concatenate([v.features for v in videos])
    for blocks, want in ((None, (40.0, 2.0)), ([40, 2], (1.0, 1.0))):
        mean, std = feature_stats(videos, blocks)
        z = (x - mean) / std
        got = (z[:, :40].var(0).sum(), z[:, 40:].var(0).sum())
        assert np.allclose(got, want, rtol=1e-4), (blocks, got)
    with pytest.raises(ValueError, match="do not add up"):
        feature_stats(videos, [40, 3])
    # the trainer scales the blocks it is given, and keeps them in its checkpoint's std
    cfg = TCNConfig(input_dim=42, n_targets=3, channels=8, dilations=[1, 2], dropout=0.1)
    for v in videos:
        v.labels = np.full((50, 3), 0.5, np.float32)
        v.detected = np.ones(50, bool)
    trainer = Trainer(cfg, _tc(epochs=1, balance_extractors=True))
    with pytest.raises(ValueError, match="block sizes"):
        trainer.fit(videos, [])
    trainer.fit(videos, [], blocks=[40, 2])
    assert np.allclose(trainer.std, feature_stats(videos, [40, 2])[1])
    bad = TrainConfig.problems({"balance_extractors": True, "standardize": False}, ("training",))
    assert any("balance_extractors" in p and "needs standardize" in p for p in bad), bad


def test_the_step_schedule_multiplies_the_rate_after_its_milestones():
    trainer = Trainer(_mc(), _tc(epochs=5, lr_milestones=[2, 4], lr_gamma=0.5))
    res = trainer.fit(_videos(), _videos(2, seed=1))
    assert [r["lr"] for r in res["history"]] == pytest.approx([0.01, 0.01, 0.005, 0.005, 0.0025])
    flat = Trainer(_mc(), _tc(epochs=2)).fit(_videos(), _videos(2, seed=1))
    assert [r["lr"] for r in flat["history"]] == [0.01, 0.01]
    assert TrainConfig.problems({"lr_milestones": [2], "swa_start": 1, "selection": "swa"},
                                ("training",))


def test_gradient_clipping_bounds_the_norm_of_every_step(monkeypatch):
    norms = []

    def record(opt, args, kwargs):
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        norms.append(float(torch.linalg.vector_norm(torch.stack(
            [torch.linalg.vector_norm(g) for g in grads]))))

    trainer = Trainer(_mc(), _tc(epochs=2, grad_clip_norm=1e-3, lr=0.01))
    real_step = trainer.step

    def spy(opt):
        hook = opt.register_step_pre_hook(record)
        real_step(opt)
        hook.remove()

    monkeypatch.setattr(trainer, "step", spy)
    trainer.fit(_videos(), _videos(2, seed=1))
    assert norms and max(norms) <= 1e-3 * (1 + 1e-4)


# ---------------------------------------------------------------------------- TensorBoard events


def _events(folder):
    """tag -> [(step, value)] of the scalars, and the text tags, of a TensorBoard folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}
    return scalars, set(acc.Tags()["tensors"])


def _expected_events(history):
    keys = {"train/loss": "train_loss", "val/m_rho": "val_m_rho", "train/lr": "lr"}
    return {tag: [(r["epoch"], np.float32(r[k])) for r in history] for tag, k in keys.items()}


def test_training_writes_one_event_per_epoch_and_scalar_and_stays_bit_identical(tmp_path):
    train, val = _videos(), _videos(2, seed=1)
    plain = Trainer(_mc(), _tc(epochs=4))
    plain.fit(train, val)
    logged = Trainer(_mc(), _tc(epochs=4))
    res = logged.fit(train, val, tensorboard_dir=str(tmp_path / "tb"),
                     tensorboard_text={"variant": "v1", "settings": {"features": ["a"]}})
    for k, v in plain.model.state_dict().items():  # writing events touches no random generator
        assert torch.equal(v, logged.model.state_dict()[k]), k
    scalars, texts = _events(tmp_path / "tb")
    assert scalars == _expected_events(res["history"])
    assert [s for s, _ in scalars["val/m_rho"]] == [0, 1, 2, 3]
    assert {"variant/text_summary", "settings/text_summary", "model_config/text_summary",
            "train_config/text_summary"} <= texts


@pytest.mark.parametrize("folder_removed", [False, True])
def test_a_resumed_training_keeps_one_event_per_epoch(tmp_path, folder_removed):
    """Killed after epoch 2 (its events of epochs 0-2 written), resumed: the folder holds each
    epoch once, the full run's values; also when the folder was removed (as Snakemake removes an
    incomplete output)."""
    import shutil

    train, val = _videos(), _videos(2, seed=1)
    full_res = Trainer(_mc(), _tc(epochs=5, lr_milestones=[2], lr_gamma=0.5)).fit(train, val)
    state, tb = tmp_path / "state.pt", tmp_path / "tb"

    def kill(epoch):
        if epoch == 2:
            raise _Killed

    with pytest.raises(_Killed):
        Trainer(_mc(), _tc(epochs=5, lr_milestones=[2], lr_gamma=0.5)).fit(
            train, val, state_path=str(state), resume_key="k", on_epoch_end=kill,
            tensorboard_dir=str(tb))
    assert [s for s, _ in _events(tb)[0]["train/loss"]] == [0, 1, 2]
    if folder_removed:
        shutil.rmtree(tb)
    res = Trainer(_mc(), _tc(epochs=5, lr_milestones=[2], lr_gamma=0.5)).fit(
        train, val, state_path=str(state), resume_key="k", tensorboard_dir=str(tb))
    assert len(list(tb.glob("events.out.tfevents.*"))) == 1
    scalars, _ = _events(tb)
    assert scalars == _expected_events(res["history"]) == _expected_events(full_res["history"])
    assert [v for _, v in scalars["train/lr"]] == list(np.float32([0.01, 0.01, 0.005, 0.005,
                                                                    0.005]))


def test_the_closed_form_family_writes_its_validation_scores(tmp_path):
    from eevflow.models.linear import LinearConfig

    trainer = Trainer(LinearConfig(input_dim=5, n_targets=3, alphas=[0.1, 1.0]),
                      TrainConfig(device="cpu"))
    res = trainer.fit(_videos(), _videos(2, seed=1), tensorboard_dir=str(tmp_path / "tb"))
    scalars, _ = _events(tmp_path / "tb")
    assert scalars == {"val/m_rho": [(i, np.float32(r["val_m_rho"]))
                                     for i, r in enumerate(res["history"])]}
    assert len(scalars["val/m_rho"]) == 2


def test_training_logs_a_progress_line_per_epoch_with_loss_and_val_m_rho(caplog, monkeypatch):
    monkeypatch.setenv("EEVFLOW_PROGRESS_S", "0")
    with caplog.at_level("INFO", logger="eevflow.progress"):
        res = Trainer(_mc(), _tc(epochs=3)).fit(_videos(), _videos(2, seed=1))
    lines = [r.getMessage() for r in caplog.records if r.name == "eevflow.progress"]
    last = res["history"][-1]
    assert lines[0].startswith("train: 0/3 epochs [")
    assert lines[-1].startswith("train: 3/3 epochs [")
    assert lines[-1].endswith(f"loss={last['train_loss']:.3g}, val_m_rho={last['val_m_rho']:.3g}]")
