import numpy as np
import pandas as pd
import pytest

from eevflow.ensemble import grid_search_weights, simplex_grid, weighted_average

T = ["a", "b"]


def _frame(values, vids=("v1", "v1", "v1", "v2", "v2", "v2")):
    df = pd.DataFrame({"video_id": list(vids), "timestamp_us": [0, 1, 2] * (len(vids) // 3)})
    df[T] = np.asarray(values, np.float32)
    return df


def test_weighted_average_aligns_rows_and_normalises():
    x = _frame(np.ones((6, 2)))
    y = _frame(np.zeros((6, 2))).iloc[::-1].reset_index(drop=True)  # other order
    out = weighted_average({"x": x, "y": y}, {"x": 3, "y": 1}, T)
    assert np.allclose(out[T].to_numpy(), 0.75)
    assert list(out["video_id"]) == list(x["video_id"])
    partial = weighted_average({"x": x, "y": y[y.video_id == "v1"]}, {"x": 1, "y": 1}, T)
    assert set(partial["video_id"]) == {"v1"}  # rows only where every member predicts
    with pytest.raises(ValueError, match="do not match"):
        weighted_average({"x": x}, {"y": 1.0}, T)
    with pytest.raises(ValueError, match="positive sum"):
        weighted_average({"x": x}, {"x": 0.0}, T)


def test_simplex_grid():
    g = simplex_grid(2, 0.1)
    assert len(g) == 11 and g[0] == (0.0, 1.0) and g[-1] == (1.0, 0.0)
    assert len(simplex_grid(3, 0.25)) == 15
    assert all(abs(sum(w) - 1) < 1e-12 for w in simplex_grid(3, 0.1))
    with pytest.raises(ValueError):
        simplex_grid(2, 0.3)


def test_grid_search_prefers_the_informative_member():
    rng = np.random.default_rng(0)
    truth = _frame(rng.random((6, 2)))
    truth["detected"] = True
    good = truth.copy()
    good[T] = truth[T].to_numpy() + 0.01 * rng.normal(size=(6, 2))
    noise = truth.copy()
    noise[T] = rng.random((6, 2))
    weights, trials = grid_search_weights({"good": good, "noise": noise}, truth, T, step=0.5)
    assert weights == {"good": 1.0, "noise": 0.0}
    assert len(trials) == 3 and max(t["val_m_rho"] for t in trials) > 0.9
