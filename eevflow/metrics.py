"""EEV 2021 challenge metric: M_rho, the mean over videos of the mean over targets of Pearson's r.

Paper (tcn-positional-encoding-eev2021, Eq. 2-3)::

    M_rho    = 1/N_v * sum_j ( 1/N_c * sum_i rho_{j,i} )
    rho_{j,i} = sum[(y - mu_y)(yhat - mu_yhat)] / sqrt( sum (y - mu_y)^2 * sum (yhat - mu_yhat)^2 )

with ``y`` / ``yhat`` the truth / predicted time series of expression ``i`` in video ``j``.
:func:`ccc_score`: Lin's concordance correlation coefficient (OMG-Emotion's metric), same rows.

Input (long format): ``video_ids`` (n_rows,), ``y_true`` and ``y_pred`` (n_rows, n_targets), any
real dtype. The rows of one video must be contiguous (videos in any order, ids need not be sorted);
a video split into several runs raises ``ValueError``. Videos are reported in order of appearance.

Numerics: float64, centered two-pass (per-video means, then per-video sums of ``dx*dy``, ``dx*dx``,
``dy*dy`` with ``dx = y_true - mean``), vectorised. Rows go in blocks of whole videos (about
``_BLOCK_ROWS`` rows) so that the temporaries stay in the CPU cache (whole-array temporaries made
a call 2-3x slower); the blocks are independent and run on the CPUs the process may use
(``_workers``), with bitwise the same result for any thread count. Per-video sums are products with a ``scipy.sparse`` CSR 0/1
indicator (block's videos x block's rows), which leaves dropped rows out: in-order sums, like
``np.add.reduceat`` but faster. EEV test scale (1337 videos, 2.9 M rows, 15 targets) takes about
0.3 s (``bench/bench_metric.py``).

Constant vectors (policy)
-------------------------
Pearson's r is undefined when the truth or the prediction of a (video, target) pair is constant.
A vector ``x`` of ``n`` rows counts as constant when ``n < 2`` or its population variance
``var = sum((x - mean)^2) / n`` satisfies ``var <= 1e-12 * mean(x^2)`` (``mean(x^2) = var +
mean^2``): its standard deviation is at most 1e-6 of its root mean square. This covers exact zeros
(an all-zero vector too) and float noise (float32 jitter, the rounding residual of the mean of a
truly constant vector). It is relative: a spread of 1 around 1e7 is "constant", a spread of 1e-9
around 0 is not. The policies (``POLICIES``):

``"minus_one"``  (the winner's code) such a pair scores r = -1.
``"epsilon"``    (second team) EVERY pair scores ``Sxy / (sqrt(Sxx * Syy) + 1e-6)``, with centered
                 SUMS (not means) over the video's rows: a constant pair scores about 0, the others
                 slightly less in magnitude than Pearson's r; a video with no rows scores 0.
``"skip"``       the pair is excluded: a video's mean uses its remaining targets; a video whose
                 pairs are all skipped is excluded from the mean over videos.

``n_constant_pairs`` counts the constant pairs whatever the policy (for ``"epsilon"``, those that
would be constant), but not those of the unscorable videos that ``unscorable="exclude"`` leaves
out (below). r is clipped to [-1, 1], as ``scipy.stats.pearsonr`` does.

Undetected rows
---------------
A truth row whose targets sum to ``<= 1e-6`` means "no face detected". ``ignore_undetected=True``
(the default of :func:`score`, per the EEV README) drops those rows before scoring. A video left
with fewer than 2 rows has all its pairs constant. A row whose truth is NaN is never undetected:
NaN/inf in the scored rows, or in the predictions of dropped rows, raises ``ValueError``.

Unscorable videos
-----------------
A video's *scorable rows* are its rows, less its undetected rows when ``ignore_undetected``. A
video with fewer than 2 scorable rows is *unscorable*: no Pearson r exists for any of its targets,
whatever the predictions. The undetected rule is per row (all targets together), so a video's
scorable rows are the same for every target and a (video, target) pair is unscorable exactly when
its video is: unscorable is a property of the video, decided by the truth alone. A pair whose truth
is constant over 2 or more scorable rows is not unscorable; it is a constant pair (policy above).

``unscorable`` (an option of :func:`score`, ``UNSCORABLE``) says what such a video scores:

``"exclude"``          (default) its row of ``per_video`` is nan and it is left out of ``m_rho``,
                       ``per_target``, ``n_videos``, ``n_constant_pairs`` and ``n_rows_used``: the
                       result equals, bitwise, that of the input without these videos.
``"constant_policy"``  its pairs are constant pairs and score by the constant policy: -1 on every
                       target with ``"minus_one"`` (the winner's code, literally), 0 with
                       ``"epsilon"``; ``"skip"`` skips them, which leaves the video out too.

Either way ``n_unscorable_videos`` counts these videos and ``unscorable_videos`` names each with
its reason ("1 label row", "all 12 rows undetected", "1 scorable row of 5 (4 undetected)", "1 label
row, undetected"). Such a video scores the same whatever the prediction (constant_policy: ``c`` =
-1 or 0 each), so with ``k`` of ``N`` videos unscorable ``M_policy = ((N - k) M_exclude + k c) / N``
for every model scored on the same rows: the option does not change a ranking of models.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["POLICIES", "UNSCORABLE", "ScoreResult", "score", "pearson_per_video", "CCCResult",
           "ccc_score", "ccc_per_target", "CONSTANT_RTOL", "EPSILON", "UNDETECTED_MAX_SUM"]  # fmt: skip

POLICIES = ("minus_one", "epsilon", "skip")
#: what an unscorable video (fewer than 2 scorable rows) scores; see the module docstring.
UNSCORABLE = ("exclude", "constant_policy")
#: variance <= CONSTANT_RTOL * mean(x**2) counts as constant (std <= 1e-6 * rms).
CONSTANT_RTOL = 1e-12
#: added to the denominator of every pair by the "epsilon" policy (second team's code).
EPSILON = 1e-6
#: a truth row whose targets sum to <= this is "no face detected".
UNDETECTED_MAX_SUM = 1e-6
#: rows per block of whole videos (temporaries of a few MB, which stay in the CPU cache).
_BLOCK_ROWS = 1 << 14


@dataclass(frozen=True)
class ScoreResult:
    """Result of :func:`score`.

    ``per_video``: one row per video (``video_ids``, order of first appearance), nan where a pair
    was skipped or its video excluded as unscorable. ``n_videos``: videos averaged into ``m_rho``
    (all but those with every pair skipped or excluded). ``n_rows_used``: rows scored.
    ``n_constant_pairs``: constant pairs of the videos scored (with ``unscorable="exclude"`` the
    unscorable videos' pairs are not counted). ``n_unscorable_videos``: videos with fewer than 2
    scorable rows, whatever the option; ``unscorable_videos``: their ids -> reason, in order of
    appearance; ``unscorable``: the option applied to them.
    """

    m_rho: float
    per_video: np.ndarray
    video_ids: np.ndarray
    per_target: np.ndarray
    n_constant_pairs: int
    n_videos: int
    n_rows_used: int
    policy: str
    n_unscorable_videos: int
    unscorable_videos: dict
    unscorable: str


def _as_2d(name: str, a) -> np.ndarray:
    arr = np.asarray(a)
    arr = arr[:, None] if arr.ndim == 1 else arr  # a single target
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_rows, n_targets), got shape {arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}")
    if arr.dtype.kind != "f" or arr.dtype.itemsize not in (4, 8):
        arr = arr.astype(np.float64)
    return arr  # float32 stays as is: blocks are promoted to float64 as they are processed


def _prepare(video_ids, y_true, y_pred):
    """Validated ``(unique ids, segment starts, y_true, y_pred)``; checks the rows' contiguity."""
    yt, yp = _as_2d("y_true", y_true), _as_2d("y_pred", y_pred)
    if yt.shape != yp.shape:
        raise ValueError(f"shape mismatch: y_true {yt.shape} vs y_pred {yp.shape}")
    if yt.shape[1] == 0:
        raise ValueError("y_true/y_pred have no target columns")
    ids = np.asarray(video_ids)
    if ids.ndim != 1:
        raise ValueError(f"video_ids must be 1-D, got shape {ids.shape}")
    if ids.shape[0] != yt.shape[0]:
        raise ValueError(f"video_ids has {ids.shape[0]} rows but y_true/y_pred have {yt.shape[0]}")
    if ids.shape[0] == 0:
        raise ValueError("no rows to score")
    starts = np.flatnonzero(np.concatenate(([True], ids[1:] != ids[:-1])))
    uniq = ids[starts]
    _, first, counts = np.unique(uniq, return_index=True, return_counts=True)
    if counts.max() > 1:
        bad = uniq[np.sort(first[counts > 1])]
        shown = ", ".join(repr(b.item() if hasattr(b, "item") else b) for b in bad[:5])
        more = f" (and {bad.shape[0] - 5} more)" if bad.shape[0] > 5 else ""
        raise ValueError(
            f"rows of each video must be contiguous; video(s) {shown}{more} appear in several runs"
        )
    return uniq, starts, yt, yp


def _raise_nonfinite(name: str, arr: np.ndarray, rows: np.ndarray | None = None) -> None:
    """Raise ValueError naming the first NaN/inf of ``arr`` (of its ``rows``), if there is one."""
    sub = arr if rows is None else arr[rows]
    bad = ~np.isfinite(sub)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        row = int(r) if rows is None else int(rows[r])
        what = "NaN" if np.isnan(sub[r, c]) else "inf"
        where = f"first: {what} at row {row}, column {int(c)}"
        raise ValueError(f"{name} contains {int(bad.sum())} non-finite value(s) ({where})")


def _workers() -> int:
    """Threads for the blocks: the CPUs this process may use (at most 4). Blocks are independent,
    so the results are bitwise the same for any count."""
    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, min(4, os.cpu_count() or 1))


def _moments(starts, yt, yp, drop_undetected: bool):
    """Per video: rows used ``n`` (nv,), means ``mx, my`` and centered sums ``sxx, syy, sxy``."""
    n_rows, nt = yt.shape
    nv = starts.shape[0]
    ends = np.append(starts, n_rows)
    group = starts // _BLOCK_ROWS
    bounds = np.append(np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1]))), nv)
    block_rows = int(np.max(ends[bounds[1:]] - ends[bounds[:-1]]))
    idx = np.int32 if block_rows < 2**31 else np.int64  # sparse index dtype (scipy's own choice)
    ones, all_rows = np.ones(block_rows), np.arange(block_rows, dtype=idx)
    n_used = np.empty(nv, dtype=np.int64)
    mx, my, sxx, syy, sxy = np.empty((5, nv, nt))
    dropped_finite = []
    local = threading.local()  # per-thread work buffers, reused block after block

    def block(v0: int, v1: int) -> None:
        a, b = int(ends[v0]), int(ends[v1])
        rows = all_rows[: b - a]  # the block's rows that are scored
        if drop_undetected:
            keep = ~(np.einsum("ij->i", yt[a:b]) <= UNDETECTED_MAX_SUM)  # keeps NaN rows
            if not keep.all():
                rows = np.flatnonzero(keep).astype(idx)
                dropped = yp[a:b][np.flatnonzero(~keep)]
                dropped_finite.append(bool(np.isfinite(dropped).all()))
        ptr = np.searchsorted(rows, ends[v0 : v1 + 1] - a).astype(idx)
        # indicator: row j has ones at the scored rows of the block's j-th video
        ind = sp.csr_array((ones[: rows.shape[0]], rows, ptr), shape=(v1 - v0, b - a))
        n_used[v0:v1] = np.diff(ptr)
        cnt = np.maximum(n_used[v0:v1], 1)[:, None]
        if not hasattr(local, "buf"):
            local.buf = np.empty((4, block_rows, nt))
        dx, dy, pr, mean = (buf[: b - a] for buf in local.buf)
        dx[...], dy[...] = yt[a:b], yp[a:b]  # float64 copies, centred in place below
        mx[v0:v1] = bx = ind @ dx / cnt
        my[v0:v1] = by = ind @ dy / cnt
        video = np.repeat(np.arange(v1 - v0), np.diff(ends[v0 : v1 + 1]))  # row -> video
        np.subtract(dx, np.take(bx, video, axis=0, out=mean, mode="clip"), out=dx)
        np.subtract(dy, np.take(by, video, axis=0, out=mean, mode="clip"), out=dy)
        sxy[v0:v1] = ind @ np.multiply(dx, dy, out=pr)
        sxx[v0:v1] = ind @ np.square(dx, out=dx)
        syy[v0:v1] = ind @ np.square(dy, out=dy)

    spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))
    with np.errstate(invalid="ignore", over="ignore"):  # bad inputs are reported below
        if len(spans) > 1 and _workers() > 1:
            with ThreadPoolExecutor(_workers()) as pool:  # numpy and scipy release the GIL
                list(pool.map(lambda span: block(*span), spans))
        else:
            for span in spans:
                block(*span)
    # A NaN/inf in a scored row makes its video's sums non-finite (finite inputs only overflow
    # past ~1e308, which _raise_nonfinite tells apart by looking at the values themselves).
    if not (np.isfinite(mx).all() and np.isfinite(sxx).all()):
        used = ~(np.einsum("ij->i", yt) <= UNDETECTED_MAX_SUM) if drop_undetected else None
        _raise_nonfinite("y_true", yt, None if used is None else np.flatnonzero(used))
    if not (all(dropped_finite) and np.isfinite(my).all() and np.isfinite(syy).all()):
        _raise_nonfinite("y_pred", yp)
    return n_used, mx, my, sxx, syy, sxy


def _constant(n_used: np.ndarray, mean: np.ndarray, ss: np.ndarray) -> np.ndarray:
    """(nv, T) bool: the vector is constant (see the module docstring)."""
    var = ss / np.maximum(n_used, 1)[:, None]
    return (n_used[:, None] < 2) | (var <= CONSTANT_RTOL * (var + mean * mean))


def _pearson(video_ids, y_true, y_pred, policy: str, drop_undetected: bool):
    """``(unique ids, r (nv, T), constant (nv, T) bool, scorable rows (nv,), rows (nv,))``."""
    if policy not in POLICIES:
        allowed = ", ".join(map(repr, POLICIES))
        raise ValueError(f"unknown policy {policy!r}; allowed values: {allowed}")
    uniq, starts, yt, yp = _prepare(video_ids, y_true, y_pred)
    n_used, mx, my, sxx, syy, sxy = _moments(starts, yt, yp, drop_undetected)
    n_rows = np.diff(np.append(starts, yt.shape[0]))
    const = _constant(n_used, mx, sxx) | _constant(n_used, my, syy)
    with np.errstate(divide="ignore", invalid="ignore"):
        if policy == "epsilon":
            r = sxy / (np.sqrt(sxx * syy) + EPSILON)
        else:
            r = sxy / np.sqrt(sxx * syy)
            r[const] = -1.0 if policy == "minus_one" else np.nan
    return uniq, np.clip(r, -1.0, 1.0, out=r), const, n_used, n_rows


def _unscorable_reasons(uniq, n_used: np.ndarray, n_rows: np.ndarray) -> dict:
    """Video id -> why it has fewer than 2 scorable rows, for each such video (in order)."""
    out = {}
    for j in np.flatnonzero(n_used < 2).tolist():
        used, total = int(n_used[j]), int(n_rows[j])
        if total == 1:
            why = "1 label row" if used else "1 label row, undetected"
        elif used == 0:
            why = f"all {total} rows undetected"
        else:
            why = f"1 scorable row of {total} ({total - 1} undetected)"
        vid = uniq[j]
        out[vid.item() if hasattr(vid, "item") else vid] = why
    return out


def _nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    """nanmean without the all-nan RuntimeWarning (all-nan -> nan)."""
    valid = ~np.isnan(a)
    cnt, tot = valid.sum(axis=axis), np.where(valid, a, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)


def pearson_per_video(
    video_ids, y_true, y_pred, policy: str = "minus_one", *, ignore_undetected: bool = False
) -> tuple[np.ndarray, int]:
    """Pearson r over time per (video, target): ``(r (n_videos, n_targets), n_constant_pairs)``.

    Rows of ``r`` follow the videos in order of first appearance. Constant pairs get -1
    (``"minus_one"``), nan (``"skip"``) or the epsilon formula's value (``"epsilon"``).
    By default every row is used (``ignore_undetected=False``); :func:`score` drops undetected rows.
    """
    _, r, const, _, _ = _pearson(video_ids, y_true, y_pred, policy, ignore_undetected)
    return r, int(const.sum())


def score(
    video_ids,
    y_true,
    y_pred,
    policy: str = "minus_one",
    ignore_undetected: bool = True,
    *,
    unscorable: str = "exclude",
) -> ScoreResult:
    """M_rho (paper Eq. 2-3), with a constant-vector ``policy``, the undetected-row option and what
    ``unscorable`` videos (fewer than 2 scorable rows) score (see the module docstring)."""
    if unscorable not in UNSCORABLE:
        allowed = ", ".join(map(repr, UNSCORABLE))
        raise ValueError(f"unknown unscorable option {unscorable!r}; allowed values: {allowed}")
    uniq, r, const, n_used, n_rows = _pearson(
        video_ids, y_true, y_pred, policy, ignore_undetected
    )
    lacking = n_used < 2
    scored = ~lacking if unscorable == "exclude" else np.ones_like(lacking)
    r[~scored] = np.nan
    video_mean = _nanmean(r, axis=1)
    included = ~np.isnan(video_mean)  # "skip": videos with every pair skipped are left out
    n_videos = int(included.sum())
    return ScoreResult(
        m_rho=float(video_mean[included].mean()) if n_videos else float("nan"),
        per_video=r,
        video_ids=uniq,
        per_target=_nanmean(r, axis=0),
        n_constant_pairs=int(const[scored].sum()),
        n_videos=n_videos,
        n_rows_used=int(n_used[scored].sum()),
        policy=policy,
        n_unscorable_videos=int(lacking.sum()),
        unscorable_videos=_unscorable_reasons(uniq, n_used, n_rows),
        unscorable=unscorable,
    )


@dataclass(frozen=True)
class CCCResult:
    """Result of :func:`ccc_score`: ``mean`` over videos of the nan-mean over targets (averaged as
    M_rho), ``per_target`` the nan-mean over videos, ``per_video`` (videos in order of appearance,
    targets; nan where left out), ``n_videos`` the videos with at least one CCC."""

    mean: float
    per_video: np.ndarray
    per_target: np.ndarray
    n_videos: int


def ccc_score(video_ids, y_true, y_pred, ignore_undetected: bool = True) -> CCCResult:
    """Lin's concordance correlation coefficient per (video, target), over the rows Pearson uses.

    ``ccc = 2 Sxy / (Sxx + Syy + n (mean_x - mean_y)^2)``, i.e. ``2 cov / (var_x + var_y + (mu_x -
    mu_y)^2)`` with population moments (the centred sums of :func:`score`). Undetected rows are
    dropped when ``ignore_undetected``; an unscorable video (fewer than 2 scorable rows) is left out
    whatever ``unscorable`` says (CCC has no constant policy); a pair constant on both sides (the
    Pearson rule) is nan and left out; one constant side scores about 0 (its covariance is 0).
    """
    _, starts, yt, yp = _prepare(video_ids, y_true, y_pred)
    n_used, mx, my, sxx, syy, sxy = _moments(starts, yt, yp, ignore_undetected)
    left_out = (_constant(n_used, mx, sxx) & _constant(n_used, my, syy)) | (n_used < 2)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ccc = 2.0 * sxy / (sxx + syy + n_used[:, None] * (mx - my) ** 2)
    ccc[left_out] = np.nan
    video_mean = _nanmean(ccc, axis=1)
    included = ~np.isnan(video_mean)
    n_videos = int(included.sum())
    return CCCResult(mean=float(video_mean[included].mean()) if n_videos else float("nan"),
                     per_video=ccc, per_target=_nanmean(ccc, axis=0), n_videos=n_videos)


def ccc_per_target(video_ids, y_true, y_pred, ignore_undetected: bool = True) -> np.ndarray:
    """:func:`ccc_score`'s ``per_target``: the nan-mean over videos per target (nan if none)."""
    return ccc_score(video_ids, y_true, y_pred, ignore_undetected).per_target
