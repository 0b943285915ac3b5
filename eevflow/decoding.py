"""Decode the frame on screen at each label time, by presentation timestamps, and the audio track.

``decode.frame_sampling: tpf_linspace`` spreads the rows over the decoded frames instead, as the EEV
2021 winner's code did (eevflow.frame_sampling); both frame paths below honour it. The sound is
decoded by PyAV whatever the frame path, by ``decode.audio_path`` (eevflow.audio_path).
The time origin of a file is its container start time (FFmpeg's ``start_time``, the earliest
stream start, after edit lists): label time ``t`` is container time ``start + t`` for the picture
and for the sound, so a file whose streams start at 1.5 s, a stream cut at a non-keyframe (its
edit list hides the frames before the cut) and a video track delayed against its audio all stay in
sync as a player shows them. The frame on screen at ``t`` is the last decoded frame whose
presentation time is at most ``t`` (with :data:`FRAME_TIME_TOLERANCE_S` for rounded times).

Two frame paths (``decode.backend``; the manifest's ``decoder`` column says which one each video
took):

``pyav``    (default) PyAV (FFmpeg with dav1d) reads every frame in presentation order and keeps
            the ones on screen at the label times. Exact on every codec and container FFmpeg
            decodes, VFR and edit lists included; as fast as decord's random access on H.264
            (BENCHMARKS.md), since a 6 Hz grab from 25-30 fps video needs nearly every frame
            decoded anyway (B-frames reference their neighbours).
``decord``  decord's random access, only for the files it was seen to handle exactly here
            (H.264 in MP4/MOV whose first video packet is a keyframe at time 0, no edit list,
            streams that start at 0); any other file goes through PyAV, and the manifest's
            ``decoder_note`` says why. For reproducing features extracted by earlier versions. On
            the codec-matrix files (tests/mediamatrix.py) decord's ``get_batch`` shows frames 2
            late on MPEG-4 Part 2 with B-frames at 29.97 fps (32 of 34 rows), the wrong frame on
            every row of a stream cut at a non-keyframe and of a video track that an edit list
            delays, and cannot open AV1; users saw it one frame late on HEVC with B-frames. It
            also bundles FFmpeg 4.1 and libvpx 6.4, which, once loaded, break PyAV's VP9 encoder
            in the same process. Never the default.

Frames are upright as displayed (the container's rotation applied, non-square pixels stretched to
their display aspect), scaled with the aspect kept so the longer side is ``frame_size``,
zero-padded (centred) to a square, RGB uint8, handed row by row to ``decode.store``
(eevflow.media_store): memory holds one decoded picture (decord: one chunk of rows).
"""

from __future__ import annotations

import collections
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

from eevflow.audio_path import audio_decoder, check_audio_path
from eevflow.frame_sampling import FRAME_TIME_TOLERANCE_S, check_sampling, tpf_frames
from eevflow.frame_sampling import tpf_linspace
from eevflow.io import atomic_path
from eevflow.media_store import JpegFrames, frame_sink, load_audio, load_frames, save_audio
from eevflow.streams import decord_safe, display_size, letterbox_shape, read_streams

log = logging.getLogger(__name__)

BACKENDS = ("pyav", "decord")
DECODE_ERRORS = (av.FFmpegError, RuntimeError, ValueError, OSError)
# swscale filter for the downscale to frame_size: area averaging (no aliasing on 4K -> 224).
INTERPOLATION = "AREA"
# Decoded pictures waiting for conversion (scale + RGB, on a worker thread while the decoder goes
# on, as ffmpeg's own pipeline does; BENCHMARKS.md): the most held in memory at once.
MAX_PENDING = 8


class DecodeError(RuntimeError):
    """A video that passed the download-check probe failed to decode."""


def frame_indices(timestamps_us: np.ndarray, frame_starts_s: np.ndarray) -> np.ndarray:
    """Index of the frame on screen at each timestamp (last frame whose start < t + tolerance),
    clipped to the first and last frame."""
    t = np.asarray(timestamps_us, dtype=np.float64) / 1e6
    idx = np.searchsorted(frame_starts_s, t + FRAME_TIME_TOLERANCE_S, side="left") - 1
    return np.clip(idx, 0, len(frame_starts_s) - 1)


@dataclass
class DecodeInfo:
    """What ``decode_video`` wrote (stored as JSON).

    ``width``/``height``: the displayed (upright) size; ``rotation``: degrees clockwise the frames
    were turned to be upright; ``decoder``: the frame path (``pyav`` or ``decord``);
    ``frame_sampling``: how rows were given frames (``label_time`` or ``tpf_linspace``);
    ``start_time_s``: the container start time that label time 0 maps to; ``frame_indices``: the
    index (in presentation order, 0-based) of the decoded frame each row shows; ``frame_times_s``:
    that frame's presentation time from the origin; ``rows_before_first_frame`` /
    ``rows_past_end``: rows at label times before the first frame starts or after the last one
    ends (with ``label_time`` they show the first or last frame); ``audio_source``: "stream", or
    "silence" for a file without an audio stream; ``audio_padded_samples``: zeros added after (or
    before, for a stream that starts late) the decoded sound so that it covers the video;
    ``audio_path``: how the sound was decoded (``ffmpeg`` or ``tpf_librosa``, eevflow.audio_path).
    """

    video_id: str
    fps: float
    n_frames: int
    width: int
    height: int
    frame_size: int
    sample_rate: int
    n_samples: int
    timestamps_us: list[int]
    frame_indices: list[int]
    rotation: int = 0
    audio_source: str = "stream"
    decoder: str = "pyav"
    start_time_s: float = 0.0
    frame_times_s: list[float] = field(default_factory=list)
    rows_before_first_frame: int = 0
    rows_past_end: int = 0
    corrupt_frames: int = 0
    audio_padded_samples: int = 0
    frame_sampling: str = "label_time"
    audio_path: str = "ffmpeg"


@dataclass
class Decoded:
    """A decoded video as the extractors see it (frames memory-mapped or JPEGs decoded lazily)."""

    info: DecodeInfo
    frames: np.ndarray | JpegFrames | None
    audio: np.ndarray | None

    @property
    def timestamps_us(self) -> np.ndarray:
        return np.asarray(self.info.timestamps_us, dtype=np.int64)


def read_info(meta_path: str | os.PathLike) -> DecodeInfo:
    return DecodeInfo(**json.loads(Path(meta_path).read_text()))

def load_decoded(meta_path: str, frames_path: str | None, audio_path: str | None) -> Decoded:
    """A decoded video's files, each read as its suffix says (eevflow.media_store), checked
    against the metadata's row and sample counts."""
    info = read_info(meta_path)
    frames = (load_frames(frames_path, info.video_id, len(info.timestamps_us), info.frame_size)
              if frames_path else None)
    audio = load_audio(audio_path, info.video_id, info.n_samples) if audio_path else None
    return Decoded(info=info, frames=frames, audio=audio)


# ------------------------------------------------------------------------------------------------
# Frame paths: each yields (row slice start, row slice stop, upright RGB picture at the output size)


class _Rows:
    """Assigns label rows to frames as frames arrive in presentation order: a frame starting at
    ``s`` is on screen at ``t`` when ``s < t + tolerance`` (the comparison of
    :func:`frame_indices`, in the same floating-point form)."""

    def __init__(self, times_s: np.ndarray):
        self.late = np.asarray(times_s, np.float64) + FRAME_TIME_TOLERANCE_S
        self.next = 0

    def before(self, frame_start_s: float) -> int:
        """How many rows come before a frame starting at ``frame_start_s``."""
        return int(np.searchsorted(self.late, frame_start_s, "right"))

    def until(self, frame_start_s: float) -> tuple[int, int]:
        """The rows not yet assigned that come before a frame starting at ``frame_start_s``."""
        lo = self.next
        self.next = max(lo, self.before(frame_start_s))
        return lo, self.next


def _picture(frame: av.VideoFrame, size_wh: tuple[int, int], rotation: int) -> np.ndarray:
    """``frame`` scaled to ``size_wh`` (as displayed) and turned upright, RGB uint8."""
    w, h = size_wh
    coded = (h, w) if rotation in (90, 270) else (w, h)
    img = frame.reformat(
        width=coded[0], height=coded[1], format="rgb24", interpolation=INTERPOLATION
    ).to_ndarray()
    if rotation:
        img = np.rot90(img, k=-rotation // 90)  # clockwise
    return np.ascontiguousarray(img)


def _pyav_frames(path, times_s, origin_s, size_wh, rotation, threads, stats, chunk=64):
    """Read every frame in order; yield (rows, the ``av.VideoFrame``) for each frame that is on
    screen at some label time (``chunk`` is unused)."""
    rows = _Rows(times_s)
    with av.open(path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        vs.codec_context.thread_count = max(1, int(threads))
        prev, prev_t, prev_i, n = None, -np.inf, -1, 0
        step = 1.0 / (float(vs.average_rate) if vs.average_rate else 25.0)
        for frame in c.decode(vs):
            t = float(frame.time) - origin_s if frame.time is not None else prev_t + step
            if t < prev_t:  # out of presentation order (broken stream): cannot be shown
                stats["out_of_order"] += 1
                continue
            stats["corrupt"] += int(frame.is_corrupt)
            if prev is None:  # rows before the first frame starts show the first frame
                stats["before_first"] = rows.before(t)
            else:
                lo, hi = rows.until(t)
                if hi > lo:
                    yield _shown(stats, lo, hi, prev_t, prev_i, prev)
            prev, prev_t, prev_i = frame, t, n
            length = float(frame.duration * frame.time_base) if frame.duration else step
            stats["last_end"] = t + length
            n += 1
        stats["n_frames"] = n
        if prev is None:
            raise DecodeError(f"{path}: no video frame decodes")
        lo, hi = rows.next, len(times_s)
        if hi > lo:
            yield _shown(stats, lo, hi, prev_t, prev_i, prev)


def _shown(stats, lo, hi, t, i, frame):
    stats["times"][lo:hi] = t
    stats["index"][lo:hi] = i
    return lo, hi, frame


def _decord_frames(path, times_s, origin_s, size_wh, rotation, threads, stats, chunk=64):
    """decord's random access at the frames on screen, or at TPF's frames of ``len(vr)`` when
    ``stats["sampling"]`` says so (only for files ``decord_safe`` passes, where decord's index k
    is the k-th frame in presentation order). decord's errors are raised as :class:`DecodeError`."""
    import decord
    from decord._ffi.base import DECORDError

    try:
        yield from _decord_rows(decord, path, times_s, origin_s, size_wh, threads, stats, chunk)
    except DECORDError as exc:
        raise DecodeError(f"{path}: decord: {exc}") from exc


def _decord_rows(decord, path, times_s, origin_s, size_wh, threads, stats, chunk):

    vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=max(1, int(threads)))
    stamps = np.asarray(vr.get_frame_timestamp(np.arange(len(vr))))
    del vr
    starts = stamps[:, 0] - origin_s
    if stats["sampling"] == "tpf_linspace":
        idx = tpf_linspace(len(starts), len(times_s))
    else:
        idx = frame_indices(np.round(times_s * 1e6), starts)
    stats.update(n_frames=len(starts), last_end=float(stamps[-1, 1]) - origin_s)
    stats["before_first"] = int((times_s + FRAME_TIME_TOLERANCE_S < starts[0]).sum())
    stats["times"][:] = starts[idx]
    stats["index"][:] = idx
    w, h = size_wh  # decord turns frames upright itself (rotation is already applied)
    vr = decord.VideoReader(path, ctx=decord.cpu(0), width=w, height=h,
                            num_threads=max(1, int(threads)))
    for lo in range(0, len(idx), chunk):
        part = idx[lo : lo + chunk]
        uniq, inverse = np.unique(part, return_inverse=True)
        batch = vr.get_batch(uniq.tolist()).asnumpy()
        for k in range(len(part)):
            yield lo + k, lo + k + 1, batch[inverse[k]]
        del batch


# ------------------------------------------------------------------------------------------------


def decode_video(
    video_id: str,
    path: str | os.PathLike,
    timestamps_us: np.ndarray,
    frames_out: str | os.PathLike,
    audio_out: str | os.PathLike,
    meta_out: str | os.PathLike,
    frame_size: int = 224,
    sample_rate: int = 16000,
    chunk_frames: int = 64,
    backend: str = "pyav",
    threads: int = 1,
    frame_sampling: str = "label_time",
    audio_path: str = "ffmpeg",
    store: str = "raw",
    jpeg_quality: int = 90,
    jpeg_subsampling: str = "4:2:0",
    decode_audio: bool = True,
) -> DecodeInfo:
    """Decode the frames on screen at each label timestamp (or, with ``frame_sampling=
    "tpf_linspace"``, TPF's evenly spread frames: eevflow.frame_sampling) and the audio track.

    ``timestamps_us`` must be strictly increasing (label files are checked for it). Audio is
    resampled to ``sample_rate`` mono float32 (by ``audio_path``: eevflow.audio_path) on the
    file's timeline and padded with zeros to cover the video (a file without an audio stream gets
    silence as long as its video).
    ``meta_out`` (JSON, :class:`DecodeInfo`) records the timestamps, the frame each row shows and
    its time, and which path decoded it.

    ``store`` (eevflow.media_store): ``raw`` .npy files, ``compressed`` JPEGs in Arrow and FLAC,
    ``none`` neither (paths may be None; no picture conversion). ``decode_audio=False``: no sound
    (``n_samples`` 0), for decoding the frames again when the store kept none.
    """
    if backend not in BACKENDS:
        raise ValueError(f"decode backend must be one of {list(BACKENDS)}, not {backend!r}")
    check_sampling(frame_sampling)
    check_audio_path(audio_path, sample_rate)
    path = str(path)
    ts = np.asarray(timestamps_us, dtype=np.int64)
    if len(ts) and (np.diff(ts) <= 0).any():
        raise ValueError(f"{video_id}: label timestamps are not strictly increasing")
    times_s = ts / 1e6
    with av.open(path) as c:
        if not c.streams.video:
            raise DecodeError(f"{path}: no video stream")
        streams = read_streams(c)
        first = next(c.decode(c.streams.video[0]), None)
    if first is None:
        raise DecodeError(f"{path}: no video frame decodes")
    rotation = -first.rotation % 360
    width, height = display_size(streams.coded_width, streams.coded_height,
                                 streams.sample_aspect, rotation)
    decoder = backend
    if backend == "decord":
        why = decord_safe(path, streams)
        if why:
            log.info("%s: PyAV instead of decord (%s)", video_id, why)
            decoder = "pyav"
    new_w, new_h = letterbox_shape(width, height, frame_size)
    top, left = (frame_size - new_h) // 2, (frame_size - new_w) // 2
    origin = streams.start_time_s
    stats = {"times": np.zeros(len(ts)), "index": np.zeros(len(ts), np.int64),
             "out_of_order": 0, "corrupt": 0, "before_first": 0, "last_end": 0.0, "n_frames": 0,
             "sampling": frame_sampling}
    reader = _pyav_frames if frame_sampling == "label_time" else tpf_frames
    reader = _decord_frames if decoder == "decord" else reader

    # the audio track and the pictures' conversion run on worker threads while FFmpeg decodes
    # (PyAV releases the GIL in decoding, resampling and scaling); results are the same in any
    # order: each conversion writes its own rows.
    sink = frame_sink(store, frames_out, jpeg_quality, jpeg_subsampling)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode") as pool:
        sound = (pool.submit(audio_decoder(audio_path), path, sample_rate, origin)
                 if streams.has_audio and decode_audio else None)
        with sink.open(len(ts), frame_size):

            def put(lo, hi, item):
                img = item if isinstance(item, np.ndarray) else _picture(item, (new_w, new_h),
                                                                         rotation)
                return sink.convert(lo, hi, img, top, left)

            def done():  # the oldest conversion, handed to the store in row order
                sink.write(*pending[0][:2], pending.popleft()[2].result())

            pending = collections.deque()
            frames = reader(path, times_s, origin, (new_w, new_h), rotation, threads, stats,
                            chunk=chunk_frames)
            for lo, hi, item in frames:  # item None: the rows so far written, then all again
                if item is not None and sink.pictures:
                    pending.append((lo, hi, pool.submit(put, lo, hi, item)))
                while len(pending) > (MAX_PENDING if item is not None else 0):
                    done()
                if item is None:
                    sink.rewind()
            while pending:
                done()
        audio, lead = sound.result() if sound is not None else (np.zeros(0, np.float32), 0)

    video_end = stats["last_end"]
    want = round(video_end * sample_rate) if decode_audio else 0
    padded = lead + max(0, want - len(audio))
    if len(audio) < want:
        audio = np.concatenate([audio, np.zeros(want - len(audio), np.float32)])
    clipped = save_audio(store, audio_out, audio, sample_rate) if decode_audio else 0
    if clipped:
        log.warning("%s: %d audio samples outside [-1, 1) clipped to 16 bits", video_id, clipped)

    if stats["out_of_order"]:
        log.warning("%s: %d frames out of presentation order skipped", video_id,
                    stats["out_of_order"])
    info = DecodeInfo(
        video_id=video_id,
        fps=streams.fps,
        n_frames=int(stats["n_frames"]),
        width=width,
        height=height,
        frame_size=frame_size,
        sample_rate=sample_rate,
        n_samples=int(audio.shape[0]),
        timestamps_us=ts.tolist(),
        frame_indices=stats["index"].astype(int).tolist(),
        rotation=rotation,
        audio_source="stream" if streams.has_audio else "silence",
        decoder=decoder,
        start_time_s=origin,
        frame_times_s=[round(float(v), 6) for v in stats["times"]],
        rows_before_first_frame=int(stats["before_first"]),
        rows_past_end=int((times_s >= video_end).sum()),
        corrupt_frames=int(stats["corrupt"]),
        audio_padded_samples=int(padded),
        frame_sampling=frame_sampling,
        audio_path=audio_path,
    )
    with atomic_path(meta_out) as tmp:
        Path(tmp).write_text(json.dumps(asdict(info)))
    return info
