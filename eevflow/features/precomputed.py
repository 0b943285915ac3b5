"""Features a user already has (backend ``precomputed``): one file per video, read and resampled
to the video's label rows, so that published features (EEV's, or another tool's) are used without
the videos.

A file holds a (rows, dim) array and the time of each row: a timestamps array in the file
(``timestamps_key``: an .npz array, a .pt dict entry, an HDF5 dataset; unit ``timestamps_unit``)
or a fixed rate (row i at ``offset_s + i / rate_hz``). Each label row then gets the feature row
``resample`` picks at its timestamp (nearest, linear, previous). Label rows outside the file's
time span hold the edge row, or (``out_of_span: error``) fail when one is further than
``span_tolerance_s`` out.

A video without a file is skipped (``missing: skip``: counted and logged; it has no embeddings in
the shard, so train and predict skip it as ``no <extractor> embeddings`` and its submission rows
are filled) or an error (``missing: error``). A file that cannot be read, or holds the wrong shape,
dimension, non-finite values or timestamps that do not increase, is an error naming the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from eevflow.features import Extractor
from eevflow.features.options import PrecomputedOptions
from eevflow.ids import InvalidVideoId

log = logging.getLogger(__name__)

UNIT_US = {"us": 1.0, "ms": 1e3, "s": 1e6}


class FeatureFileError(ValueError):
    """A feature file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class LabelInfo:
    video_id: str
    timestamps_us: list


@dataclass(frozen=True)
class LabelRows:
    """What ``embed`` needs of a video (a ``Decoded`` without media): its ID and label times."""

    info: LabelInfo

    @property
    def timestamps_us(self) -> np.ndarray:
        return np.asarray(self.info.timestamps_us, dtype=np.int64)


def _pick(names, key: str | None, exclude: str | None, path) -> str:
    """The name of the features' (``key``) or timestamps' array among a file's ``names``."""
    if key is not None:
        if key not in names:
            raise FeatureFileError(f"{path}: no array {key!r}; it holds {sorted(names)}")
        return key
    rest = [k for k in names if k != exclude]
    if len(rest) != 1:
        raise FeatureFileError(f"{path}: holds {sorted(names)}; name the features' array "
                               "with the extractor's key option")
    return rest[0]


def _as_numpy(value, path, name) -> np.ndarray:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise FeatureFileError(f"{path}: {name} is a {type(value).__name__}, not an array")


def read_feature_file(path, opts: PrecomputedOptions) -> tuple[np.ndarray, np.ndarray | None]:
    """(features (rows, dim) as stored, timestamps in the file's unit or None) of one file."""
    fmt = opts.file_format()
    try:
        if fmt == "npy":
            return np.load(path, allow_pickle=False), None
        if fmt == "npz":
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        elif fmt == "pt":
            import torch

            obj = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(obj, dict):
                if opts.key or opts.timestamps_key:
                    raise FeatureFileError(f"{path}: holds a bare {type(obj).__name__}, not a "
                                           "dict with the key / timestamps_key arrays")
                return _as_numpy(obj, path, "the file"), None
            arrays = dict(obj)
        elif fmt == "h5":
            import h5py

            with h5py.File(path, "r") as f:
                names = [k for k in f if isinstance(f[k], h5py.Dataset)]
                if opts.key is not None and opts.key in f:
                    names.append(opts.key)  # a dataset inside a group: "group/name"
                if opts.timestamps_key is not None and opts.timestamps_key in f:
                    names.append(opts.timestamps_key)
                wanted = {_pick(names, opts.key, opts.timestamps_key, path)}
                if opts.timestamps_key is not None:
                    wanted.add(_pick(names, opts.timestamps_key, None, path))
                arrays = {k: f[k][()] for k in wanted}
        else:
            raise FeatureFileError(f"{path}: unknown format {fmt!r}")
    except FeatureFileError:
        raise
    except Exception as exc:  # noqa: BLE001  (any reader's failure: the file is unusable)
        raise FeatureFileError(f"{path}: cannot read as {fmt}: {type(exc).__name__}: {exc}") \
            from exc
    feats = _as_numpy(arrays[_pick(list(arrays), opts.key, opts.timestamps_key, path)], path,
                      "the features")
    ts = None
    if opts.timestamps_key is not None:
        ts = _as_numpy(arrays[_pick(list(arrays), opts.timestamps_key, None, path)], path,
                       "the timestamps")
    return feats, ts


def row_times_us(n_rows: int, opts: PrecomputedOptions, stored: np.ndarray | None,
                 path) -> np.ndarray:
    """Each feature row's time in microseconds (float64): the stored array or the fixed rate."""
    if stored is None:
        return (opts.offset_s + np.arange(n_rows, dtype=np.float64) / opts.rate_hz) * 1e6
    ts = np.asarray(stored, dtype=np.float64).reshape(-1)
    if len(ts) != n_rows:
        raise FeatureFileError(f"{path}: {len(ts)} timestamps for {n_rows} feature rows")
    ts = ts * UNIT_US[opts.timestamps_unit]
    if not np.all(np.isfinite(ts)) or np.any(np.diff(ts) <= 0):
        raise FeatureFileError(f"{path}: timestamps must be finite and strictly increasing")
    return ts


def check_features(feats: np.ndarray, dim: int, path) -> np.ndarray:
    feats = np.asarray(feats)
    if feats.ndim != 2 or feats.shape[1] != dim or feats.shape[0] == 0:
        raise FeatureFileError(f"{path}: features of shape {feats.shape}, expected (rows >= 1, "
                               f"{dim}) (the extractor's dim)")
    if not np.issubdtype(feats.dtype, np.number) or not np.all(np.isfinite(feats)):
        raise FeatureFileError(f"{path}: features must be finite numbers ({feats.dtype})")
    return feats


def resample(feats: np.ndarray, times_us: np.ndarray, at_us: np.ndarray, how: str) -> np.ndarray:
    """float32 (len(at_us), dim): the feature rows (at ``times_us``, increasing) at ``at_us``;
    outside the span the edge row (every method). ``nearest``: ties take the earlier row."""
    at = np.asarray(at_us, dtype=np.float64)
    n = len(times_us)
    right = np.clip(np.searchsorted(times_us, at, side="left"), 0, n - 1)  # first >= t
    left = np.clip(right - 1, 0, n - 1)
    if how == "previous":
        idx = np.clip(np.searchsorted(times_us, at, side="right") - 1, 0, n - 1)
        return np.asarray(feats[idx], dtype=np.float32)
    if how == "nearest":
        take_left = (at - times_us[left]) <= (times_us[right] - at)
        idx = np.where(take_left & (times_us[left] <= at), left, right)
        idx = np.where(at >= times_us[-1], n - 1, idx)
        return np.asarray(feats[idx], dtype=np.float32)
    if how == "linear":
        t0, t1 = times_us[left], times_us[right]
        span = np.where(t1 > t0, t1 - t0, 1.0)
        w = np.clip((at - t0) / span, 0.0, 1.0)[:, None]
        w = np.where((at <= times_us[0])[:, None], 0.0, w)
        lo = np.where(at <= times_us[0], 0, left)
        hi = np.where(at <= times_us[0], 0, right)
        out = feats[lo].astype(np.float64) * (1 - w) + feats[hi].astype(np.float64) * w
        return out.astype(np.float32)
    raise ValueError(f"unknown resample {how!r}; allowed: nearest, linear, previous")


def out_of_span(times_us: np.ndarray, at_us: np.ndarray, tolerance_s: float) -> int:
    """Label rows further than ``tolerance_s`` before the first or after the last feature row."""
    tol = tolerance_s * 1e6
    at = np.asarray(at_us, dtype=np.float64)
    return int(((at < times_us[0] - tol) | (at > times_us[-1] + tol)).sum())


def video_features(path, at_us: np.ndarray, opts: PrecomputedOptions) -> np.ndarray:
    """One video's feature file at its label times: float32 (len(at_us), dim)."""
    feats, stored = read_feature_file(path, opts)
    feats = check_features(feats, opts.dim, path)
    times = row_times_us(len(feats), opts, stored, path)
    if opts.out_of_span == "error":
        bad = out_of_span(times, at_us, opts.span_tolerance_s)
        if bad:
            raise FeatureFileError(
                f"{path}: {bad} label rows more than {opts.span_tolerance_s} s outside the "
                f"features' span [{times[0] / 1e6:.3f}, {times[-1] / 1e6:.3f}] s (out_of_span: "
                "error; hold keeps the edge rows)")
    return resample(feats, times, at_us, opts.resample)


def label_timestamps(labels_path) -> dict[str, np.ndarray]:
    """video -> its label rows' timestamps, from the labels rule's Parquet."""
    t = pq.read_table(labels_path, columns=["video_id", "timestamp_us"]).to_pandas()
    return {v: g["timestamp_us"].to_numpy(np.int64) for v, g in t.groupby("video_id", sort=False)}


def shard_label_rows(labels_path, shard_manifest):
    """(video ID, its label rows' timestamps) of the shard's videos that have label rows, in
    the order of its download-check manifest (every label-file video of the shard, whatever its
    media's status): the videos of an extract job that reads no decoded media."""
    ids = pd.read_parquet(shard_manifest, columns=["video_id"])["video_id"].tolist()
    times = label_timestamps(labels_path)
    return ((vid, times[vid]) for vid in ids if vid in times)  # no label rows: nothing to embed


class PrecomputedExtractor(Extractor):
    options_class = PrecomputedOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        self.skipped: dict[str, str] = {}

    @property
    def version(self) -> str:
        o = self.opts
        when = (f"timestamps_key={o.timestamps_key} unit={o.timestamps_unit}"
                if o.timestamps_key else f"rate_hz={o.rate_hz} offset_s={o.offset_s}")
        return (f"precomputed-v1 path={o.path} pattern={o.pattern} format={o.file_format()} "
                f"key={o.key} {when} resample={o.resample}")

    def label_videos(self, labels_path, shard_manifest) -> Iterator[LabelRows]:
        """The shard's videos (its download-check manifest's, in order: every label-file video
        of the shard, whatever its media's status) that have a feature file; the others are
        skipped (``self.skipped``, logged) or, with ``missing: error``, an error."""
        for vid, times in shard_label_rows(labels_path, shard_manifest):
            try:
                path = self.opts.file_for(vid)
            except InvalidVideoId as exc:
                self._skip(vid, f"no feature file name: {exc}")
                continue
            if not os.path.isfile(path):
                if self.opts.missing == "error":
                    raise FeatureFileError(f"{path}: no such feature file for video {vid} "
                                           f"(extractor {self.name}; missing: skip skips it)")
                self._skip(vid, f"no feature file {path}")
                continue
            yield LabelRows(LabelInfo(vid, times.tolist()))
        if self.skipped:
            log.warning("%s: %d videos skipped (no features)", self.name, len(self.skipped))

    def _skip(self, vid: str, why: str) -> None:
        self.skipped[vid] = why
        log.warning("%s: skipped %s: %s", self.name, vid, why)

    def embed(self, video) -> np.ndarray:
        vid = video.info.video_id
        return video_features(self.opts.file_for(vid), video.timestamps_us, self.opts)
