"""The linear baseline family: causal context features, closed-form ridge equal to a direct numpy
solve, the penalty chosen on validation, and the same predict path as the other families."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eevflow.inference import Predictor
from eevflow.models.linear import LinearConfig, context_features, ridge_solutions
from eevflow.sequences import VideoSeq
from eevflow.training import Trainer, TrainConfig


def _videos(n, seed, T=60, D=4, lag=6, undetected=0.1):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        f = rng.normal(size=(T, D)).astype(np.float32)
        y = np.zeros((T, 3), np.float32)
        y[lag:] = 0.5 + 0.2 * f[:-lag, :3]
        det = rng.random(T) > undetected
        y[~det] = 0.0
        ts = (np.arange(T) * 1e6 / 6).round().astype(np.int64)
        out.append(VideoSeq(f"v{seed}_{i}", ts, f, y, det))
    return out


def _numpy_context(f, s, lags, means):
    cols = [f]
    for lag in lags:
        idx = np.array([max([j for j in range(len(s)) if s[j] <= s[t] - lag + 1e-6] or [0])
                        for t in range(len(s))])
        cols.append(f[idx])
    for w in means:
        cols.append(np.stack([f[[j for j in range(t + 1) if s[j] > s[t] - w + 1e-6]].mean(0)
                              for t in range(len(s))]))
    return np.concatenate(cols, axis=1)


def test_context_features_look_only_backwards_and_match_a_direct_loop():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(40, 3)).astype(np.float32)
    s = np.cumsum(rng.uniform(0.1, 0.3, size=40))  # irregular times
    got = context_features(torch.from_numpy(f), torch.from_numpy(s), [0.5, 1.25], [1.0, 3.0])
    np.testing.assert_allclose(got.numpy(), _numpy_context(f, s, [0.5, 1.25], [1.0, 3.0]),
                               rtol=1e-5, atol=1e-6)
    # causal: changing the future leaves the past's context unchanged
    g = f.copy()
    g[30:] += 5
    again = context_features(torch.from_numpy(g), torch.from_numpy(s), [0.5, 1.25], [1.0, 3.0])
    assert torch.equal(again[:30], got[:30]) and not torch.equal(again[30:], got[30:])


def test_ridge_equals_a_direct_numpy_solve():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(200, 5)), rng.normal(size=(200, 2))
    n, alpha = len(x), 0.3
    (_, w, b), = ridge_solutions(x.T @ x, x.T @ y, x.sum(0), y.sum(0), n, [alpha])
    xc, yc = x - x.mean(0), y - y.mean(0)
    direct = np.linalg.solve(xc.T @ xc + alpha * n * np.eye(5), xc.T @ yc)
    np.testing.assert_allclose(w, direct, rtol=1e-10)
    np.testing.assert_allclose(b, y.mean(0) - x.mean(0) @ direct, rtol=1e-10)


def test_fit_uses_detected_rows_and_the_model_equals_the_closed_form():
    train, val = _videos(6, 0), _videos(3, 1)
    cfg = LinearConfig(input_dim=4, n_targets=3, lags_s=[1.0], past_means_s=[2.0], alphas=[0.05])
    trainer = Trainer(cfg, TrainConfig(device="cpu", standardize=False))
    res = trainer.fit(train, val)
    xs, ys = [], []
    for v in train:
        ctx = _numpy_context(v.features.astype(np.float64), v.seconds.astype(np.float64),
                             [1.0], [2.0])
        xs.append(ctx[v.detected])
        ys.append(v.labels[v.detected])
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.float64)
    xc, yc = x - x.mean(0), y - y.mean(0)
    w = np.linalg.solve(xc.T @ xc + 0.05 * len(x) * np.eye(x.shape[1]), xc.T @ yc)
    np.testing.assert_allclose(trainer.model.linear.weight.detach().numpy().T, w, rtol=1e-4,
                               atol=1e-6)
    assert res["history"][0]["train_rows"] == len(x) < sum(len(v.detected) for v in train)


def test_the_penalty_is_chosen_on_validation_and_predictions_go_through_the_checkpoint():
    train, val = _videos(8, 0), _videos(3, 1)
    cfg = LinearConfig(input_dim=4, n_targets=3, alphas=[1e-3, 1e-1, 1e3])
    trainer = Trainer(cfg, TrainConfig(device="cpu"))
    res = trainer.fit(train, val)
    scores = {h["alpha"]: h["val_m_rho"] for h in res["history"]}
    assert res["best"]["alpha"] == max(scores, key=scores.get)
    assert res["best"]["val_m_rho"] > 0.9 and scores[1e3] < res["best"]["val_m_rho"]
    back = Predictor.from_checkpoint(trainer.checkpoint(), device="cpu")
    test = _videos(2, 5)
    for a, b in zip(trainer.predict(test), back.predict(test)):
        np.testing.assert_array_equal(a, b)


def test_the_shuffled_control_learns_nothing():
    train, val = _videos(8, 0), _videos(4, 1)
    cfg = LinearConfig(input_dim=4, n_targets=3)
    trainer = Trainer(cfg, TrainConfig(device="cpu", shuffle_labels=True))
    trainer.fit(train, val)
    test = _videos(4, 7)
    from eevflow import metrics

    preds = np.concatenate(trainer.predict(test))
    ids = np.concatenate([np.full(60, i) for i in range(4)])
    y = np.concatenate([v.labels for v in test])
    assert abs(metrics.score(ids, y, preds).m_rho) < 0.15


def test_no_detected_rows_is_a_clear_error():
    train = _videos(2, 0, undetected=1.1)
    with pytest.raises(ValueError, match="no detected training rows"):
        Trainer(LinearConfig(input_dim=4, n_targets=3), TrainConfig(device="cpu")).fit(train, [])
