"""Tests of eevflow.metrics against plain per-video / per-target loops (scipy.stats.pearsonr)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats

from eevflow import metrics
from eevflow.metrics import (
    POLICIES, UNSCORABLE, ScoreResult, ccc_per_target, ccc_score, pearson_per_video, score,
)  # fmt: skip

N_TARGETS = 15


# --------------------------------------------------------------------------------------------
# data


def make_data(seed: int = 0, n_targets: int = N_TARGETS):
    """Several videos of varying lengths (ids unsorted), with injected special cases.

    Returns ids, y_true, y_pred and a dict describing the injections.
    """
    rng = np.random.default_rng(seed)
    names = ["zeta", "alpha", "mu", "beta", "omega", "kappa", "delta", "gamma", "eps", "theta"]
    lengths = [57, 3, 120, 1, 240, 2, 75, 33, 90, 18]
    ids = np.repeat(np.array(names), lengths)
    n = ids.shape[0]
    y_true = rng.random((n, n_targets))
    # predictions correlated with the truth, plus noise, in a different range
    y_pred = 0.2 + 0.3 * y_true + 0.5 * rng.random((n, n_targets))
    start = dict(zip(names, np.concatenate(([0], np.cumsum(lengths)[:-1]))))
    length = dict(zip(names, lengths))

    def rows(name):
        return slice(start[name], start[name] + length[name])

    # exact constant truth column (video zeta, target 2) and prediction column (mu, target 5)
    y_true[rows("zeta"), 2] = 0.4
    y_pred[rows("mu"), 5] = 0.7
    # all-zero prediction column (exact zero variance and zero mean): omega, target 0
    y_pred[rows("omega"), 0] = 0.0
    # float-noise constants: relative jitter 1e-9 (std/rms << 1e-6) -> constant
    y_true[rows("delta"), 7] = 0.25 * (1 + 1e-9 * rng.standard_normal(length["delta"]))
    y_pred[rows("gamma"), 9] = 0.5 * (1 + 1e-9 * rng.standard_normal(length["gamma"]))
    # ... but a small genuine variation (relative 1e-3) is not constant
    y_pred[rows("eps"), 4] = 0.5 * (1 + 1e-3 * rng.standard_normal(length["eps"]))
    # undetected rows: truth sums to <= 1e-6
    und = []
    r0 = start["zeta"]
    for off in (0, 5, 6, 30):  # scattered in zeta
        und.append(r0 + off)
    und.append(start["omega"] + 100)
    und.append(start["gamma"] + 1)
    y_true[und] = 0.0
    y_true[start["omega"] + 101] = 1e-8  # sums to 1.5e-7 <= 1e-6: undetected too
    und.append(start["omega"] + 101)
    # theta: all rows but one undetected -> a single row left when ignoring
    th = np.arange(start["theta"], start["theta"] + length["theta"] - 1)
    y_true[th] = 0.0
    und.extend(th.tolist())
    # alpha (3 rows): two undetected -> 1 row left
    y_true[[start["alpha"], start["alpha"] + 2]] = 0.0
    und.extend([start["alpha"], start["alpha"] + 2])
    info = {"undetected": np.array(sorted(und)), "start": start, "length": length, "rows": rows}
    return ids, y_true, y_pred, info


# --------------------------------------------------------------------------------------------
# the hand-written reference (one video, one target at a time)


def is_constant(v: np.ndarray) -> bool:
    if v.shape[0] < 2:
        return True
    var = float(np.var(v))
    return var <= 1e-12 * float(np.mean(v * v))


def hand_pearson(ids, y_true, y_pred, policy, ignore_undetected, per_video_counts=False):
    """(per_video r, n_constant, video order, n_rows_used) by explicit loops; with
    ``per_video_counts`` n_constant and n_rows_used are lists, one entry per video."""
    order = list(dict.fromkeys(ids.tolist()))
    keep_row = np.ones(ids.shape[0], dtype=bool)
    if ignore_undetected:
        keep_row = ~(y_true.sum(axis=1) <= 1e-6)
    per_video = np.empty((len(order), y_true.shape[1]))
    n_const, n_used = [], []
    for j, vid in enumerate(order):
        sel = (ids == vid) & keep_row
        n_const.append(0)
        n_used.append(int(sel.sum()))
        for c in range(y_true.shape[1]):
            x = y_true[sel, c]
            y = y_pred[sel, c]
            const = x.shape[0] < 2 or is_constant(x) or is_constant(y)
            n_const[-1] += const
            if policy == "epsilon":
                if x.shape[0] == 0:
                    r = 0.0
                else:
                    dx, dy = x - x.mean(), y - y.mean()
                    d = math.sqrt(float((dx * dx).sum()) * float((dy * dy).sum()))
                    if const:
                        r = float((dx * dy).sum()) / (d + 1e-6)
                    else:
                        # scipy's r rescaled by the epsilon-shrunk denominator
                        r = scipy.stats.pearsonr(x, y)[0] * d / (d + 1e-6)
            elif const:
                r = -1.0 if policy == "minus_one" else np.nan
            else:
                r = scipy.stats.pearsonr(x, y)[0]
            per_video[j, c] = r
    if per_video_counts:
        return per_video, n_const, order, n_used
    return per_video, sum(n_const), order, int(keep_row.sum())


def hand_unscorable(ids, y_true, ignore_undetected):
    """{video: (scorable rows, rows)} of the videos with fewer than 2 scorable rows, by a loop."""
    out = {}
    for vid in dict.fromkeys(ids.tolist()):
        rows = [i for i in range(ids.shape[0]) if ids[i] == vid]
        scorable = [i for i in rows if not (ignore_undetected and y_true[i].sum() <= 1e-6)]
        if len(scorable) < 2:
            out[vid] = (len(scorable), len(rows))
    return out


def hand_m_rho(per_video):
    means = []
    for row in per_video:
        vals = [v for v in row if not np.isnan(v)]
        if vals:
            means.append(sum(vals) / len(vals))
    return sum(means) / len(means) if means else float("nan"), len(means)


# --------------------------------------------------------------------------------------------
# agreement with the loop, for every policy


@pytest.mark.parametrize("unscorable", UNSCORABLE)
@pytest.mark.parametrize("ignore_undetected", [True, False])
@pytest.mark.parametrize("policy", POLICIES)
def test_score_matches_scipy_loop(policy, ignore_undetected, unscorable):
    ids, yt, yp, _ = make_data(seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's near-constant warnings in the reference
        ref, consts, order, used = hand_pearson(
            ids, yt, yp, policy, ignore_undetected, per_video_counts=True
        )
    lacking = hand_unscorable(ids, yt, ignore_undetected)
    all_const = sum(consts)
    if unscorable == "exclude":  # the loop's rows of the unscorable videos are left out
        drop = [order.index(v) for v in lacking]
        ref[drop] = np.nan
        consts = [c for j, c in enumerate(consts) if j not in drop]
        used = [u for j, u in enumerate(used) if j not in drop]
    ref_const, ref_rows = sum(consts), sum(used)
    res = score(
        ids, yt, yp, policy=policy, ignore_undetected=ignore_undetected, unscorable=unscorable
    )
    assert isinstance(res, ScoreResult)
    assert res.policy == policy and res.unscorable == unscorable
    assert res.n_unscorable_videos == len(lacking) > 0
    assert list(res.unscorable_videos) == list(lacking)
    assert res.video_ids.tolist() == order
    np.testing.assert_array_equal(np.isnan(res.per_video), np.isnan(ref))
    np.testing.assert_allclose(res.per_video, ref, rtol=0, atol=1e-10, equal_nan=True)
    m_rho, n_videos = hand_m_rho(ref)
    assert abs(res.m_rho - m_rho) <= 1e-10
    assert res.n_constant_pairs == ref_const
    assert res.n_videos == n_videos
    assert res.n_rows_used == ref_rows
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(res.per_target, np.nanmean(ref, axis=0), atol=1e-10)
    # pearson_per_video is the same core (it applies the constant policy to every video)
    r, n_const = pearson_per_video(ids, yt, yp, policy=policy, ignore_undetected=ignore_undetected)
    if unscorable == "constant_policy":
        np.testing.assert_array_equal(r, res.per_video)
    else:
        kept = [j for j, v in enumerate(order) if v not in lacking]
        np.testing.assert_array_equal(r[kept], res.per_video[kept])
    assert n_const == all_const


def test_constant_pair_count_is_exact():
    """Count the injected constant pairs by hand (ignore_undetected=True)."""
    ids, yt, yp, info = make_data(seed=2)
    res = score(ids, yt, yp, policy="minus_one", unscorable="constant_policy")
    # zeta t2, mu t5, omega t0, delta t7, gamma t9 -> 5 pairs;
    # alpha (1 row left) and theta (1 row left) -> 2 * 15 pairs;
    # beta (1 row) -> 15 pairs
    assert res.n_constant_pairs == 5 + 3 * N_TARGETS
    # excluded, the unscorable videos (alpha, theta, beta) are not counted
    assert score(ids, yt, yp, policy="minus_one").n_constant_pairs == 5
    # the 1e-3 relative variation is not constant
    eps_row = res.video_ids.tolist().index("eps")
    assert -1 < res.per_video[eps_row, 4] < 1
    # when undetected rows are kept, alpha and theta have all their rows (zeroed truth rows mixed
    # with random rows are not constant) and zeta's truth target 2 is no longer constant (its
    # zeroed rows are back); beta still has 1 row
    res_all = score(
        ids, yt, yp, policy="minus_one", ignore_undetected=False, unscorable="constant_policy"
    )
    assert res_all.n_constant_pairs == 4 + N_TARGETS
    assert score(ids, yt, yp, ignore_undetected=False).n_constant_pairs == 4


def test_skip_policy_excludes_videos_with_all_pairs_skipped():
    ids, yt, yp, _ = make_data(seed=3)
    res = score(ids, yt, yp, policy="skip")
    order = res.video_ids.tolist()
    for vid in ("beta", "alpha", "theta"):  # one row left: everything skipped
        assert np.isnan(res.per_video[order.index(vid)]).all()
    assert res.n_videos == len(order) - 3
    # a partly skipped video averages its remaining targets
    z = order.index("zeta")
    assert np.isnan(res.per_video[z, 2]) and np.isfinite(np.delete(res.per_video[z], 2)).all()
    # all videos skipped -> nan, no warning
    ids1 = np.array(["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res1 = score(ids1, np.ones((2, 3)), np.ones((2, 3)), policy="skip")
    assert math.isnan(res1.m_rho) and res1.n_videos == 0 and np.isnan(res1.per_target).all()


def test_minus_one_and_epsilon_values_on_constant_pairs():
    ids, yt, yp, _ = make_data(seed=4)
    r1 = score(ids, yt, yp, policy="minus_one")
    r2 = score(ids, yt, yp, policy="epsilon")
    z = r1.video_ids.tolist().index("zeta")
    assert r1.per_video[z, 2] == -1.0
    assert abs(r2.per_video[z, 2]) < 1e-6  # "about 0"
    # the epsilon only shrinks r on ordinary pairs (noticeably so only where the centered sums
    # are small, e.g. 2-row videos)
    ok = np.isfinite(r1.per_video) & (r1.per_video != -1.0)
    assert np.all(np.abs(r2.per_video[ok]) <= np.abs(r1.per_video[ok]) + 1e-15)
    assert np.all(np.sign(r2.per_video[ok]) == np.sign(r1.per_video[ok]))
    long = np.array([r1.video_ids.tolist().index(v) for v in ("mu", "omega", "eps")])
    np.testing.assert_allclose(
        r2.per_video[long][ok[long]], r1.per_video[long][ok[long]], atol=1e-4
    )
    assert r1.n_constant_pairs == r2.n_constant_pairs


def test_ignore_undetected_true_vs_false():
    ids, yt, yp, info = make_data(seed=5)
    on = score(ids, yt, yp, ignore_undetected=True)
    off = score(ids, yt, yp, ignore_undetected=False)
    n_all, n_und = ids.shape[0], info["undetected"].shape[0]
    # excluded unscorable videos' rows are not scored: beta's 1 row; alpha's and theta's last
    assert off.n_rows_used == n_all - 1 and on.n_rows_used == n_all - n_und - 3
    literal = {"unscorable": "constant_policy"}
    assert score(ids, yt, yp, ignore_undetected=False, **literal).n_rows_used == n_all
    assert score(ids, yt, yp, ignore_undetected=True, **literal).n_rows_used == n_all - n_und
    touched = set(ids[info["undetected"]].tolist())
    for j, vid in enumerate(on.video_ids.tolist()):
        if vid in touched:
            assert not np.allclose(
                on.per_video[j], off.per_video[j], atol=1e-12, equal_nan=True
            ), vid
        else:
            np.testing.assert_array_equal(on.per_video[j], off.per_video[j])
    assert on.m_rho != off.m_rho
    # dropping the rows by hand and keeping everything is the same as ignore_undetected=True
    keep = np.setdiff1d(np.arange(ids.shape[0]), info["undetected"])
    # (a video left with no rows would vanish from the hand-filtered input; here none does)
    by_hand = score(ids[keep], yt[keep], yp[keep], ignore_undetected=False)
    np.testing.assert_array_equal(by_hand.per_video, on.per_video)
    assert by_hand.m_rho == on.m_rho


def test_video_with_every_row_undetected():
    rng = np.random.default_rng(6)
    ids = np.repeat(["a", "b"], [10, 12])
    yt = rng.random((22, 4))
    yp = rng.random((22, 4))
    yt[:10] = 0.0  # video a: no face detected at all
    ref = np.array([scipy.stats.pearsonr(yt[10:, c], yp[10:, c])[0] for c in range(4)])
    for policy, expected in (("minus_one", -1.0), ("epsilon", 0.0)):
        res = score(ids, yt, yp, policy=policy, unscorable="constant_policy")
        np.testing.assert_array_equal(res.per_video[0], expected)
        assert res.n_constant_pairs == 4 and res.n_rows_used == 12 and res.n_videos == 2
        if policy == "minus_one":  # (epsilon also shrinks b's r a little)
            assert abs(res.m_rho - (expected + ref.mean()) / 2) < 1e-12
        assert res.unscorable_videos == {"a": "all 10 rows undetected"}
    for policy in POLICIES:  # excluded: b alone, whatever the policy
        res = score(ids, yt, yp, policy=policy, unscorable="exclude")
        assert np.isnan(res.per_video[0]).all() and res.n_videos == 1
        assert res.n_constant_pairs == 0 and res.n_rows_used == 12
        assert res.n_unscorable_videos == 1 and res.unscorable_videos == {
            "a": "all 10 rows undetected"
        }
        if policy != "epsilon":
            assert abs(res.m_rho - ref.mean()) < 1e-12
    res = score(ids, yt, yp, policy="skip", unscorable="constant_policy")
    assert np.isnan(res.per_video[0]).all() and res.n_videos == 1
    assert abs(res.m_rho - ref.mean()) < 1e-12


# --------------------------------------------------------------------------------------------
# unscorable videos (fewer than 2 scorable rows)


def test_unscorable_reasons_name_each_video():
    rng = np.random.default_rng(20)
    names = ["ok", "none", "single", "one_left", "lone_undetected", "two", "flat"]
    lengths = [9, 12, 1, 5, 1, 2, 6]
    ids = np.repeat(np.array(names), lengths)
    start = dict(zip(names, np.concatenate(([0], np.cumsum(lengths)[:-1]))))
    yt = rng.random((ids.shape[0], 3))
    yp = rng.random((ids.shape[0], 3))
    yt[start["none"] : start["none"] + 12] = 0.0  # every row undetected
    yt[start["one_left"] : start["one_left"] + 4] = 0.0  # 4 of 5 undetected
    yt[start["lone_undetected"]] = 0.0
    yt[start["flat"] : start["flat"] + 6] = 0.3  # constant truth: constant pairs, not unscorable
    for option in UNSCORABLE:
        res = score(ids, yt, yp, unscorable=option)
        assert res.unscorable_videos == {
            "none": "all 12 rows undetected",
            "single": "1 label row",
            "one_left": "1 scorable row of 5 (4 undetected)",
            "lone_undetected": "1 label row, undetected",
        }
        assert list(res.unscorable_videos) == ["none", "single", "one_left", "lone_undetected"]
        assert res.n_unscorable_videos == 4
        flat = names.index("flat")
        np.testing.assert_array_equal(res.per_video[flat], -1.0)  # scored by the policy
    excluded = score(ids, yt, yp)
    assert excluded.n_videos == 3 and excluded.n_constant_pairs == 3  # ok, two, flat
    # the undetected rows kept: only the 1-row videos are unscorable
    kept = score(ids, yt, yp, ignore_undetected=False)
    assert kept.unscorable_videos == {"single": "1 label row", "lone_undetected": "1 label row"}
    # integer ids come back as Python ints
    res = score(np.repeat([7, 3], [1, 4]), yt[:5], yp[:5])
    assert res.unscorable_videos == {7: "1 label row"}
    assert type(next(iter(res.unscorable_videos))) is int


@pytest.mark.parametrize("ignore_undetected", [True, False])
@pytest.mark.parametrize("policy", POLICIES)
def test_excluding_unscorable_videos_equals_removing_them(policy, ignore_undetected, monkeypatch):
    ids, yt, yp, _ = make_data(seed=21)
    # one more unscorable video: every row undetected (only when undetected rows are ignored)
    extra = np.flatnonzero(ids == "kappa")
    yt[extra] = 0.0
    lacking = hand_unscorable(ids, yt, ignore_undetected)
    assert set(lacking) == ({"beta", "alpha", "theta", "kappa"} if ignore_undetected else {"beta"})
    keep = ~np.isin(ids, list(lacking))
    monkeypatch.setattr(metrics, "_BLOCK_ROWS", 64)  # several blocks, which differ between the two
    res = score(ids, yt, yp, policy, ignore_undetected)
    ref = score(ids[keep], yt[keep], yp[keep], policy, ignore_undetected)
    assert ref.n_unscorable_videos == 0
    assert res.m_rho == ref.m_rho  # bitwise
    np.testing.assert_array_equal(res.per_target, ref.per_target)
    order = res.video_ids.tolist()
    rows = [order.index(v) for v in ref.video_ids.tolist()]
    np.testing.assert_array_equal(res.per_video[rows], ref.per_video)
    assert np.isnan(res.per_video[[order.index(v) for v in lacking]]).all()
    assert (res.n_videos, res.n_constant_pairs, res.n_rows_used) == (
        ref.n_videos, ref.n_constant_pairs, ref.n_rows_used
    )
    assert res.n_unscorable_videos == len(lacking)
    assert set(res.unscorable_videos) == set(lacking)


def test_constant_policy_option_is_the_literal_winner_rule():
    """unscorable="constant_policy" with minus_one: each unscorable video scores -1 on every target
    and weighs 1/N_v in M_rho, as the winner's code does; "exclude" differs by exactly that."""
    ids, yt, yp, _ = make_data(seed=22)
    literal = score(ids, yt, yp, "minus_one", unscorable="constant_policy")
    excluded = score(ids, yt, yp, "minus_one")
    order = literal.video_ids.tolist()
    lacking = [order.index(v) for v in hand_unscorable(ids, yt, True)]
    np.testing.assert_array_equal(literal.per_video[lacking], -1.0)
    ok = np.setdiff1d(np.arange(len(order)), lacking)
    np.testing.assert_array_equal(literal.per_video[ok], excluded.per_video[ok])
    n, k = len(order), len(lacking)
    assert literal.n_videos == n and excluded.n_videos == n - k
    assert literal.m_rho == pytest.approx((excluded.m_rho * (n - k) - k) / n, abs=1e-12)
    assert literal.m_rho < excluded.m_rho
    # the literal option is the loop over every video with -1 for unscorable pairs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, _, _, _ = hand_pearson(ids, yt, yp, "minus_one", True)
    assert literal.m_rho == pytest.approx(np.mean(ref.mean(axis=1)), abs=1e-12)
    np.testing.assert_allclose(literal.per_target, ref.mean(axis=0), atol=1e-10)


# --------------------------------------------------------------------------------------------
# properties


@pytest.mark.parametrize("policy", ["minus_one", "skip"])
def test_perfect_and_inverted_prediction(policy):
    rng = np.random.default_rng(7)
    ids = np.repeat(np.array([3, 1, 2]), [40, 25, 61])  # integer ids, unsorted
    yt = rng.random((126, N_TARGETS))
    assert score(ids, yt, yt.copy(), policy=policy).m_rho == pytest.approx(1.0, abs=1e-12)
    assert score(ids, yt, -yt, policy=policy).m_rho == pytest.approx(-1.0, abs=1e-12)
    res = score(ids, yt, yt, policy=policy)
    assert np.all(res.per_video <= 1.0) and np.all(res.per_video >= -1.0)
    # epsilon: r = d / (d + 1e-6), just below 1
    eps = score(ids, yt, yt, policy="epsilon").m_rho
    assert 1 - 1e-6 < eps < 1.0


def test_scale_and_shift_invariance():
    ids, yt, yp, _ = make_data(seed=8)
    base = score(ids, yt, yp)
    np.testing.assert_allclose(score(ids, yt, 3.5 * yp - 2.0).per_video, base.per_video, atol=1e-10)
    flipped = score(ids, yt, -0.25 * yp + 7.0)
    normal = base.per_video != -1.0  # constant pairs stay -1
    np.testing.assert_allclose(flipped.per_video[normal], -base.per_video[normal], atol=1e-10)
    # truth rescaled (by 5: the 1.5e-7 row still sums to <= 1e-6, so undetected rows stay so)
    np.testing.assert_allclose(score(ids, 5.0 * yt, yp).per_video, base.per_video, atol=1e-10)


def test_numerically_stable_with_large_offsets():
    rng = np.random.default_rng(9)
    ids = np.repeat(["a", "b", "c"], [500, 800, 300])
    x = rng.standard_normal((1600, 3))
    y = 0.5 * x + rng.standard_normal((1600, 3))
    ref = score(ids, x, y, ignore_undetected=False).per_video
    # the centered two-pass sums keep r accurate under offsets 1e5 times the spread
    shifted = score(ids, x + 1e5, y - 3e5, ignore_undetected=False).per_video
    np.testing.assert_allclose(shifted, ref, atol=1e-9)
    for c in range(3):
        expected = scipy.stats.pearsonr(x[:500, c], y[:500, c])[0]
        assert abs(shifted[0, c] - expected) < 1e-9


def test_relative_constant_tolerance_is_documented_behaviour():
    """std <= 1e-6 * rms counts as constant, whatever the absolute spread (documented)."""
    rng = np.random.default_rng(15)
    ids = np.repeat(["a"], 400)
    x = rng.standard_normal((400, 2))
    y = x + rng.standard_normal((400, 2))
    # spread 1 around 1e7: std / rms = 1e-7 -> constant
    res = score(ids, x + 1e7, y, ignore_undetected=False)
    assert res.n_constant_pairs == 2 and np.all(res.per_video == -1.0)
    # spread 1e-9 around 0 is a genuine signal (the tolerance is relative, not absolute)
    res = score(ids, 1e-9 * x, y, ignore_undetected=False)
    assert res.n_constant_pairs == 0
    np.testing.assert_allclose(
        res.per_video, score(ids, x, y, ignore_undetected=False).per_video, atol=1e-12
    )


def test_blocks_give_the_same_result(monkeypatch):
    """Force many small blocks (a block is one video at least) on the test data."""
    ids, yt, yp, _ = make_data(seed=10)
    cases = [(p, ig) for p in POLICIES for ig in (True, False)]
    ref = {c: score(ids, yt, yp, policy=c[0], ignore_undetected=c[1]) for c in cases}
    monkeypatch.setattr(metrics, "_BLOCK_ROWS", 7)
    for c in cases:
        res = score(ids, yt, yp, policy=c[0], ignore_undetected=c[1])
        # blocks never split a video, so the sums (and r) are bitwise identical
        np.testing.assert_array_equal(res.per_video, ref[c].per_video)
        assert res.n_constant_pairs == ref[c].n_constant_pairs
        assert res.n_rows_used == ref[c].n_rows_used
        assert res.video_ids.tolist() == ref[c].video_ids.tolist()
        assert res.unscorable_videos == ref[c].unscorable_videos
    with pytest.raises(ValueError, match="contiguous"):
        score(np.concatenate([ids, ids[:1]]), np.vstack([yt, yt[:1]]), np.vstack([yp, yp[:1]]))
    one = score(np.array(["a"]), yt[:1], yp[:1], unscorable="constant_policy")
    assert one.n_constant_pairs == N_TARGETS and one.m_rho == -1.0
    one = score(np.array(["a"]), yt[:1], yp[:1])
    assert one.n_constant_pairs == 0 and one.n_videos == 0 and math.isnan(one.m_rho)
    assert one.unscorable_videos == {"a": "1 label row, undetected"}  # zeta's first row


def test_input_types():
    ids, yt, yp, _ = make_data(seed=11)
    base = score(ids, yt, yp)
    as_obj = score(ids.astype(object), yt.tolist(), yp.tolist())  # object ids (pandas-style)
    np.testing.assert_array_equal(as_obj.per_video, base.per_video)
    f32 = score(ids, yt.astype(np.float32), yp.astype(np.float32))
    ref32 = score(
        ids, yt.astype(np.float32).astype(np.float64), yp.astype(np.float32).astype(np.float64)
    )
    np.testing.assert_allclose(f32.per_video, ref32.per_video, atol=1e-6)
    # non-contiguous (Fortran-ordered) input
    fo = score(ids, np.asfortranarray(yt), np.asfortranarray(yp))
    np.testing.assert_allclose(fo.per_video, base.per_video, atol=1e-13)
    # a single target given as 1-D
    one = score(ids, yt[:, 3], yp[:, 3])
    np.testing.assert_allclose(one.per_video[:, 0], base.per_video[:, 3], atol=1e-13)


# --------------------------------------------------------------------------------------------
# errors


def test_non_contiguous_ids_raise():
    ids = np.array(["a", "a", "b", "b", "a", "c"])
    y = np.random.default_rng(12).random((6, 2))
    with pytest.raises(ValueError, match="contiguous.*'a'"):
        score(ids, y, y)
    with pytest.raises(ValueError, match="contiguous"):
        pearson_per_video(np.array([1, 2, 1]), y[:3], y[:3])
    with pytest.raises(ValueError, match="contiguous"):
        ccc_per_target(np.array([1, 2, 1]), y[:3], y[:3])


def test_bad_inputs_raise():
    y = np.random.default_rng(13).random((6, 3))
    ids = np.repeat(["a", "b"], 3)
    with pytest.raises(ValueError, match="'minus_one', 'epsilon', 'skip'"):
        score(ids, y, y, policy="zero")
    with pytest.raises(ValueError, match="unscorable option 'skip'.*'exclude', 'constant_policy'"):
        score(ids, y, y, unscorable="skip")
    with pytest.raises(ValueError, match="shape mismatch"):
        score(ids, y, y[:, :2])
    with pytest.raises(ValueError, match="video_ids has 5 rows"):
        score(ids[:5], y, y)
    with pytest.raises(ValueError, match="no rows"):
        score(np.array([], dtype=str), np.empty((0, 3)), np.empty((0, 3)))
    bad = y.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"y_pred contains 1 non-finite.*NaN at row 4, column 1"):
        score(ids, y, bad)
    bad[4, 1] = np.inf
    with pytest.raises(ValueError, match="y_pred contains 1 non-finite"):
        score(ids, y, bad)
    with pytest.raises(ValueError, match="y_true contains 1 non-finite"):
        score(ids, bad, y)
    # NaN in the prediction of a row that is dropped as undetected is still an error
    yt = y.copy()
    yt[2] = 0.0
    bad = y.copy()
    bad[2, 0] = np.nan
    with pytest.raises(ValueError, match="y_pred contains"):
        score(ids, yt, bad, ignore_undetected=True)
    # NaN truth is never mistaken for an undetected row
    yt[2, 0] = np.nan
    with pytest.raises(ValueError, match="y_true contains"):
        score(ids, yt, y, ignore_undetected=True)


# --------------------------------------------------------------------------------------------
# CCC


def hand_ccc(ids, yt, yp, ignore_undetected=True):
    """Per-target CCC by a plain loop: the nan-mean over videos of ``hand_ccc_per_video``."""
    per_video, _ = hand_ccc_per_video(ids, yt, yp, ignore_undetected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(per_video, axis=0)


@pytest.mark.parametrize("ignore_undetected", [True, False])
def test_ccc_matches_hand_formula(ignore_undetected):
    ids, yt, yp, info = make_data(seed=14)
    # one pair constant on both sides: zeta target 2 (truth already constant)
    yp[info["rows"]("zeta"), 2] = 0.9
    got = ccc_per_target(ids, yt, yp, ignore_undetected=ignore_undetected)
    ref = hand_ccc(ids, yt, yp, ignore_undetected)
    assert got.shape == (N_TARGETS,)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    # perfect agreement -> 1; same correlation but shifted -> lower than Pearson
    assert np.allclose(ccc_per_target(ids, yt, yt.copy()), 1.0)
    shifted = ccc_per_target(ids, yt, yt + 0.5)
    assert np.all(shifted < 1.0)


def test_ccc_all_constant_target_is_nan():
    ids = np.repeat(["a", "b"], 4)
    yt = np.tile([[1.0, 0.2], [2.0, 0.2], [3.0, 0.2], [4.0, 0.2]], (2, 1))
    yp = yt.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = ccc_per_target(ids, yt, yp)
    assert got[0] == pytest.approx(1.0) and np.isnan(got[1])


def hand_ccc_per_video(ids, yt, yp, ignore_undetected=True):
    """(per-video CCC (n_videos, n_targets), M_rho-style mean) by a plain loop: the rows Pearson
    uses, videos with fewer than 2 of them and pairs constant on both sides left out (nan)."""
    keep = ~(yt.sum(axis=1) <= 1e-6) if ignore_undetected else np.ones(ids.shape[0], dtype=bool)
    out = []
    for vid in dict.fromkeys(ids.tolist()):
        sel = (ids == vid) & keep
        row = []
        for c in range(yt.shape[1]):
            x, y = yt[sel, c], yp[sel, c]
            if x.shape[0] < 2 or (is_constant(x) and is_constant(y)):
                row.append(np.nan)
                continue
            cov = np.mean((x - x.mean()) * (y - y.mean()))
            row.append(2 * cov / (np.var(x) + np.var(y) + (x.mean() - y.mean()) ** 2))
        out.append(row)
    per_video = np.array(out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        video_mean = np.nanmean(per_video, axis=1)
    return per_video, float(np.mean(video_mean[~np.isnan(video_mean)]))


@pytest.mark.parametrize("ignore_undetected", [True, False])
def test_ccc_score_matches_a_per_video_loop(ignore_undetected):
    ids, yt, yp, info = make_data(seed=15)
    yp[info["rows"]("zeta"), 2] = 0.9  # constant on both sides: left out
    res = ccc_score(ids, yt, yp, ignore_undetected=ignore_undetected)
    per_video, mean = hand_ccc_per_video(ids, yt, yp, ignore_undetected)
    np.testing.assert_allclose(res.per_video, per_video, atol=1e-12)
    assert res.mean == pytest.approx(mean, abs=1e-12)
    np.testing.assert_allclose(res.per_target, ccc_per_target(ids, yt, yp, ignore_undetected))
    # the videos Pearson cannot score are the ones CCC leaves out
    pearson = score(ids, yt, yp, ignore_undetected=ignore_undetected)
    lacking = np.isnan(pearson.per_video).all(axis=1)
    assert np.isnan(res.per_video[lacking]).all() and res.n_videos == pearson.n_videos
    if ignore_undetected:  # alpha and theta keep 1 row; beta has 1 row
        assert lacking.sum() == 3


def test_ccc_identical_shifted_and_by_hand():
    ids = np.repeat(["a", "b"], [4, 3])
    yt = np.array([[0.1, 0.4], [0.3, 0.2], [0.2, 0.9], [0.6, 0.5], [0.5, 0.1], [0.2, 0.3],
                   [0.8, 0.7]])
    same = ccc_score(ids, yt, yt.copy())
    assert same.mean == pytest.approx(1.0) and np.allclose(same.per_video, 1.0)
    shifted = ccc_score(ids, yt, yt + 0.2)  # Pearson's r stays 1, CCC drops
    assert np.all(shifted.per_video < 1.0) and shifted.mean < 1.0
    assert score(ids, yt, yt + 0.2).m_rho == pytest.approx(1.0)
    # by hand, video "b", target 0: x = [0.5, 0.2, 0.8], y = x + 0.2
    # cov = var_x = 0.06, mean difference 0.2: 2 * 0.06 / (0.06 + 0.06 + 0.04) = 0.75
    assert shifted.per_video[1, 0] == pytest.approx(0.75, abs=1e-12)
    # a scaled prediction: x = [0, 1], y = [0, 2]: 2 * 0.5 / (0.25 + 1 + 0.25) = 2 / 3
    two = ccc_score(np.zeros(2, int), np.array([[0.0], [1.0]]), np.array([[0.0], [2.0]]),
                    ignore_undetected=False)
    assert two.mean == pytest.approx(2 / 3, abs=1e-12) and two.n_videos == 1
