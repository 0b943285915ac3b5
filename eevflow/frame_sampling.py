"""Which decoded frame each label row gets (``decode.frame_sampling``).

``label_time`` (default) The frame on screen at the row's label time, by presentation timestamps
               (eevflow.decoding).
``tpf_linspace``  The rule of the EEV 2021 winner's feature extractor (th2l/EvokedExpr-TPF,
               ``read_video``): with ``N`` label rows and ``n`` decoded frames, row ``i`` gets frame
               ``np.linspace(int(n / N) // 2, n, num=N, endpoint=False, dtype=int)[i]`` of the
               frames in presentation order (0-based). It spreads the rows over the whole video
               whatever their times, so it drifts from the label times when the labels stop before
               the video ends; for reproducing TPF's features, never the default. Audio is not
               affected: the audio extractors still take their windows at the label times.

The frame count ``n`` is needed before the frames are chosen: a demux-only pass counts the video
packets (:func:`count_frames`, no decoding), then one decode pass keeps the chosen frames (one
picture at a time, as for ``label_time``); if fewer or more frames decode than packets were
counted (undecodable packets, a broken stream), a second pass decodes with the true count.
``decode.backend: decord`` honours the option too (no fallback to PyAV): on the files decord takes
(``eevflow.streams.decord_safe``) ``n`` is ``len(VideoReader)`` and decord's index k is the k-th
frame in presentation order. ``n`` counts the frames a player shows (after edit lists); TPF read
frames with OpenCV, whose count may differ on edit-listed or broken files.
"""

from __future__ import annotations

import logging

import av
import numpy as np

log = logging.getLogger(__name__)

SAMPLINGS = ("label_time", "tpf_linspace")
# Label times are rounded to microseconds and container times to their time base (often 1 ms, so
# off by up to 0.5 ms): a frame that starts less than this after the label time counts as on screen
# at it. Not more: at 29.97 fps frame 15 starts at 0.5005 s, and at 0.5 s frame 14 shows.
FRAME_TIME_TOLERANCE_S = 5e-4


def check_sampling(sampling: str) -> None:
    if sampling not in SAMPLINGS:
        raise ValueError(
            f"decode frame_sampling must be one of {list(SAMPLINGS)}, not {sampling!r}"
        )


def tpf_linspace(n_frames: int, n_rows: int) -> np.ndarray:
    """TPF's frame index (0-based, presentation order) for each of ``n_rows`` label rows of a
    video of ``n_frames`` decoded frames, nondecreasing, int64."""
    if n_rows <= 0:
        return np.zeros(0, np.int64)
    seg_len = int(n_frames / n_rows)
    idx = np.linspace(seg_len // 2, n_frames, num=n_rows, dtype=int, endpoint=False)
    return np.clip(idx.astype(np.int64), 0, max(0, n_frames - 1))


def count_frames(path: str) -> int:
    """Video packets of the first video stream that a decoder outputs as frames (demux only):
    not the empty flush packets nor those the container marks to discard (before an edit list's
    start)."""
    with av.open(path) as c:
        vs = c.streams.video[0]
        return sum(1 for p in c.demux(vs) if p.size and not p.is_discard)


def frames_at(path, indices, origin_s, threads, stats, times_s=()):
    """Decode every frame in presentation order and yield ``(lo, hi, av.VideoFrame)`` for frame
    ``k`` when rows ``lo:hi`` have index ``k`` (``indices`` nondecreasing); fill ``stats`` as the
    label-time path does (row times and indices, frame count, end, skipped and corrupt frames, the
    label ``times_s`` before the first frame starts). Returns the number of frames decoded (those
    out of presentation order, which cannot be shown, are skipped and not counted)."""
    indices = np.asarray(indices, np.int64)
    if (np.diff(indices) < 0).any():
        raise ValueError("frame indices must be nondecreasing")
    stats.update(out_of_order=0, corrupt=0, before_first=0)
    late = np.asarray(times_s, np.float64) + FRAME_TIME_TOLERANCE_S
    with av.open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        vs.codec_context.thread_count = max(1, int(threads))
        step = 1.0 / (float(vs.average_rate) if vs.average_rate else 25.0)
        prev_t, n = -np.inf, 0
        for frame in c.decode(vs):
            t = float(frame.time) - origin_s if frame.time is not None else prev_t + step
            if t < prev_t:
                stats["out_of_order"] += 1
                continue
            stats["corrupt"] += int(frame.is_corrupt)
            if n == 0:
                stats["before_first"] = int(np.searchsorted(late, t, "right"))
            lo, hi = np.searchsorted(indices, n, "left"), np.searchsorted(indices, n, "right")
            if hi > lo:
                stats["times"][lo:hi] = t
                stats["index"][lo:hi] = n
                yield int(lo), int(hi), frame
            prev_t = t
            length = float(frame.duration * frame.time_base) if frame.duration else step
            stats["last_end"] = t + length
            n += 1
    stats["n_frames"] = n
    return n


def tpf_frames(path, times_s, origin_s, size_wh, rotation, threads, stats, chunk=64):
    """The PyAV frame path for ``tpf_linspace`` (the reader signature of eevflow.decoding; the
    label times only count the rows and the rows before the first frame): count, then decode
    keeping TPF's frames; if the count was wrong, yield ``(0, 0, None)`` (wait until every row
    yielded so far is written) and decode again with the true count, which rewrites every row."""
    guess = count_frames(path)
    for attempt in range(2):
        if attempt:
            yield 0, 0, None
        idx = tpf_linspace(guess, len(times_s))
        n = yield from frames_at(path, idx, origin_s, threads, stats, times_s)
        if n == guess:
            return
        log.info("%s: %d frames decode, not the %d video packets counted: decoding again",
                 path, n, guess)
        guess = n
    raise RuntimeError(f"{path}: the number of decoded frames changes between passes")
