import numpy as np
import pandas as pd
import pytest
import torch

from eevflow.models.tcn import TCNConfig
from eevflow.shards import write_shard
from eevflow.training import (
    Trainer,
    TrainConfig,
    VideoSeq,
    load_split,
    predictions_frame,
    shuffled_labels,
)


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
    back = Trainer.from_checkpoint(torch.load(path, weights_only=True), device="cpu")
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
    with pytest.raises(ValueError, match="no training videos"):
        _fit([], [])
