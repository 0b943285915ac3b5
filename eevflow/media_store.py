"""How the decode job stores a video's frames and sound (``decode.store``), and how they are read.

``raw``         frames ``frames.npy`` (rows, S, S, 3) uint8 and sound ``audio.npy`` float32: 150 KB
                per 6 Hz row at 224 px and 64 KB per second of 16 kHz sound (EEV's 370 hours:
                about 1.3 TB). Read memory-mapped, with no decoding: for fast, big disks, and the
                reference the other stores are measured against.
``compressed``  (default) each row's frame as a JPEG (Pillow; ``decode.jpeg_quality``,
                ``decode.jpeg_subsampling``) in one Arrow IPC file per video, ``frames.arrow``
                (one binary column, one entry per label row, written in record batches while the
                video decodes, uncompressed: the JPEGs are), and the sound as 16-bit FLAC,
                ``audio.flac`` (soundfile). Arrow's IPC file is memory-mapped on reading, so a
                slice of rows touches only its own JPEGs: :class:`JpegFrames` decodes the rows an
                extractor asks for, a batch at a time, never the whole video. About a tenth of
                ``raw`` (BENCHMARKS.md, "Decoded media store").
``none``        no media: the decode job writes the metadata only (the frame each row shows, its
                time, the sound's length) and each extract job decodes its modality again from
                the source video with the same code (eevflow.decoded_shard.iter_shard): no disk
                for media, one more decode per extractor.

Samples of the 16-bit store are ``round(x * 32768)`` clipped to int16 and read back as
``q / 32768``: within half a step (2^-16) of the float32 track where it lies in [-1, 1).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from eevflow.io import atomic_path

STORES = ("raw", "compressed", "none")
# Pillow's ``subsampling`` for each chroma subsampling of decode.jpeg_subsampling
SUBSAMPLING = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}
FILES = {
    "raw": {"frames": "frames.npy", "audio": "audio.npy"},
    "compressed": {"frames": "frames.arrow", "audio": "audio.flac"},
    "none": {},
}
JPEG_COLUMN = "jpeg"
BATCH_ROWS = 64  # rows per Arrow record batch written, and per JPEG decode batch
INT16_SCALE = 32768.0


class StoredMediaError(RuntimeError):
    """A video's stored frames or sound are missing, unreadable or do not match its metadata."""


def check_store(store: str) -> None:
    if store not in STORES:
        raise ValueError(f"decode.store must be one of {list(STORES)}, not {store!r}")


# ------------------------------------------------------------------------------------------------
# Writers: decode_video gives each its rows' pictures; ``convert`` runs on a worker thread (rows
# in any order), ``write`` on the decoding thread, in row order.


class FrameSink:
    """Where the frames of one video go. ``pictures``: whether it needs them at all (the ``none``
    store does not: decoding then only places the frames in time)."""

    pictures = True

    @contextmanager
    def open(self, n_rows: int, frame_size: int) -> Iterator[FrameSink]:
        yield self

    def convert(self, lo: int, hi: int, img: np.ndarray, top: int, left: int) -> Any:
        """Rows ``lo:hi`` show ``img`` (the scaled picture, placed at ``top``, ``left`` of the
        zero-padded square)."""
        return None

    def write(self, lo: int, hi: int, converted: Any) -> None:
        """``convert``'s result for rows ``lo:hi``, called in row order."""

    def rewind(self) -> None:
        """The frame path starts over (eevflow.frame_sampling.tpf_frames): every row comes
        again, from row 0."""


class NoFrames(FrameSink):
    """``decode.store: none``."""

    pictures = False


class RawFrames(FrameSink):
    """``frames.npy``: a memory-mapped uint8 array written row by row (rows in any order)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._out = None

    @contextmanager
    def open(self, n_rows, frame_size):
        with atomic_path(self.path) as tmp:
            self._out = np.lib.format.open_memmap(
                tmp, mode="w+", dtype=np.uint8, shape=(n_rows, frame_size, frame_size, 3)
            )
            try:
                yield self
                self._out.flush()
            finally:
                self._out = None

    def convert(self, lo, hi, img, top, left):
        self._out[lo:hi, top : top + img.shape[0], left : left + img.shape[1]] = img


class JpegSink(FrameSink):
    """``frames.arrow``: one JPEG per label row (rows that show the same frame share its bytes),
    appended in record batches of :data:`BATCH_ROWS` as the video decodes."""

    def __init__(self, path: str | os.PathLike, quality: int = 90, subsampling: str = "4:2:0"):
        if subsampling not in SUBSAMPLING:
            raise ValueError(f"decode.jpeg_subsampling must be one of {list(SUBSAMPLING)}, "
                             f"not {subsampling!r}")
        if not 1 <= int(quality) <= 100:
            raise ValueError(f"decode.jpeg_quality must be 1..100, not {quality!r}")
        self.path, self.quality, self.subsampling = Path(path), int(quality), subsampling

    @contextmanager
    def open(self, n_rows, frame_size):
        import pyarrow as pa

        self._pa, self.size, self.n_rows = pa, frame_size, n_rows
        self._schema = pa.schema([(JPEG_COLUMN, pa.binary())], metadata={
            "frame_size": str(frame_size), "rows": str(n_rows),
            "jpeg_quality": str(self.quality), "jpeg_subsampling": self.subsampling,
        })
        with atomic_path(self.path) as tmp:
            self._tmp = tmp
            self._start()
            try:
                yield self
                self._flush()
            finally:
                self._close()
            if self.next != n_rows:
                raise RuntimeError(f"{self.path}: {self.next} of {n_rows} rows were written")

    def _start(self):
        self.next, self.batch = 0, []
        self._file = self._pa.OSFile(str(self._tmp), "wb")
        self._writer = self._pa.ipc.new_file(self._file, self._schema)

    def _close(self):
        try:
            self._writer.close()
        finally:
            self._file.close()

    def rewind(self):
        self._close()
        self._start()

    def convert(self, lo, hi, img, top, left):
        square = np.zeros((self.size, self.size, 3), np.uint8)
        square[top : top + img.shape[0], left : left + img.shape[1]] = img
        return encode_jpeg(square, self.quality, self.subsampling)

    def write(self, lo, hi, converted):
        if lo != self.next:
            raise RuntimeError(f"{self.path}: rows {lo}:{hi} arrived after row {self.next}")
        self.batch.extend([converted] * (hi - lo))
        self.next = hi
        if len(self.batch) >= BATCH_ROWS:
            self._flush()

    def _flush(self):
        if self.batch:
            pa = self._pa
            self._writer.write_batch(pa.record_batch([pa.array(self.batch, pa.binary())],
                                                     names=[JPEG_COLUMN]))
            self.batch = []


def encode_jpeg(square: np.ndarray, quality: int, subsampling: str) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(square, "RGB").save(buf, "JPEG", quality=int(quality),
                                        subsampling=SUBSAMPLING[subsampling])
    return buf.getvalue()


def frame_sink(store: str, path: str | os.PathLike | None, quality: int = 90,
               subsampling: str = "4:2:0") -> FrameSink:
    check_store(store)
    if store == "none":
        return NoFrames()
    if path is None:
        raise ValueError(f"decode.store {store}: no path to write the frames to")
    return RawFrames(path) if store == "raw" else JpegSink(path, quality, subsampling)


def to_int16(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """The 16-bit samples of a float track, and how many were clipped (outside [-1, 1))."""
    scaled = np.round(np.asarray(audio, np.float64) * INT16_SCALE)
    clipped = int(((scaled < -32768) | (scaled > 32767)).sum())
    return np.clip(scaled, -32768, 32767).astype(np.int16), clipped


def save_audio(store: str, path: str | os.PathLike | None, audio: np.ndarray,
               sample_rate: int) -> int:
    """Write the track as the store keeps it; returns the samples clipped (16-bit store)."""
    check_store(store)
    if store == "none":
        return 0
    if path is None:
        raise ValueError(f"decode.store {store}: no path to write the sound to")
    if store == "raw":
        with atomic_path(path) as tmp:
            np.save(tmp, np.asarray(audio, np.float32))
        return 0
    import soundfile as sf

    q, clipped = to_int16(audio)
    with atomic_path(path) as tmp:
        if len(q):
            sf.write(str(tmp), q, int(sample_rate), subtype="PCM_16", format="FLAC")
        else:  # libsndfile cannot write a FLAC file of no samples
            Path(tmp).write_bytes(b"")
    return clipped


# ------------------------------------------------------------------------------------------------
# Readers


class JpegFrames:
    """A video's frames from ``frames.arrow``, decoded on demand: ``len``, ``shape``, ``dtype``,
    ``ndim`` and indexing as the (rows, S, S, 3) uint8 array they stand for; ``frames[lo:hi]``
    decodes those rows only (what extractors ask for, a batch at a time), ``np.asarray(frames)``
    all of them."""

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, path: str | os.PathLike, video_id: str, n_rows: int, frame_size: int):
        import pyarrow as pa

        self.path, self.video_id = Path(path), video_id
        if not self.path.exists():
            raise StoredMediaError(f"{video_id}: its decoded frames {self.path} are missing "
                                   "(rerun the decode job of its shard)")
        try:
            table = pa.ipc.open_file(pa.memory_map(str(self.path), "r")).read_all()
            self._col = table.column(JPEG_COLUMN)
        except (pa.ArrowInvalid, KeyError, OSError) as exc:
            raise StoredMediaError(f"{video_id}: its decoded frames {self.path} are unreadable: "
                                   f"{exc}") from exc
        if len(self._col) != n_rows:
            raise StoredMediaError(f"{video_id}: {self.path} holds {len(self._col)} frames, its "
                                   f"metadata {n_rows} label rows")
        self.shape = (n_rows, frame_size, frame_size, 3)

    def __len__(self) -> int:
        return self.shape[0]

    def _decode(self, rows: np.ndarray) -> np.ndarray:
        from PIL import Image

        out = np.empty((len(rows), *self.shape[1:]), np.uint8)
        for k, i in enumerate(rows):
            try:
                with Image.open(io.BytesIO(self._col[int(i)].as_py())) as img:
                    img.load()
                    if img.mode != "RGB" or img.size != self.shape[2:0:-1]:
                        raise ValueError(f"a {img.mode} {img.size} picture")
                    out[k] = np.asarray(img)
            except (OSError, ValueError, SyntaxError) as exc:
                raise StoredMediaError(f"{self.video_id}: row {int(i)} of {self.path} does not "
                                       f"decode as a {self.shape[1]} px JPEG: {exc}") from exc
        return out

    def __getitem__(self, key) -> np.ndarray:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        rows = np.arange(len(self))[first]
        if np.ndim(rows) == 0:  # one row
            return self._decode(np.array([rows]))[0][rest]
        parts = [self._decode(rows[lo : lo + BATCH_ROWS])[(slice(None), *rest)]
                 for lo in range(0, len(rows), BATCH_ROWS)]
        if not parts:
            return np.empty((0, *self.shape[1:]), np.uint8)[(slice(None), *rest)]
        return np.concatenate(parts)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        frames = self[:]
        return frames if dtype is None else frames.astype(dtype)

    def __iter__(self):
        for lo in range(0, len(self), BATCH_ROWS):
            yield from self[lo : lo + BATCH_ROWS]


def load_frames(path: str | os.PathLike, video_id: str, n_rows: int, frame_size: int):
    """The frames of ``path`` (``.npy``: memory-mapped; ``.arrow``: :class:`JpegFrames`),
    checked against the row count of the video's metadata."""
    path = Path(path)
    if path.suffix == ".arrow":
        return JpegFrames(path, video_id, n_rows, frame_size)
    try:
        frames = np.load(path, mmap_mode="r")
    except FileNotFoundError as exc:
        raise StoredMediaError(f"{video_id}: its decoded frames {path} are missing "
                               "(rerun the decode job of its shard)") from exc
    except (OSError, ValueError) as exc:
        raise StoredMediaError(f"{video_id}: its decoded frames {path} are unreadable: "
                               f"{exc}") from exc
    if frames.shape != (n_rows, frame_size, frame_size, 3) or frames.dtype != np.uint8:
        raise StoredMediaError(f"{video_id}: {path} holds {frames.dtype} {frames.shape}, its "
                               f"metadata {n_rows} rows of {frame_size} px")
    return frames


def load_audio(path: str | os.PathLike, video_id: str, n_samples: int) -> np.ndarray:
    """The float32 track of ``path`` (``.npy`` or 16-bit ``.flac``), checked against the sample
    count of the video's metadata."""
    path = Path(path)
    if not path.exists():
        raise StoredMediaError(f"{video_id}: its decoded sound {path} is missing "
                               "(rerun the decode job of its shard)")
    try:
        if path.suffix == ".flac":
            if path.stat().st_size == 0 and n_samples == 0:
                return np.zeros(0, np.float32)
            import soundfile as sf

            q, _ = sf.read(str(path), dtype="int16", always_2d=False)
            audio = (q.astype(np.float32) / np.float32(INT16_SCALE)).reshape(-1)
        else:
            audio = np.load(path)
    except Exception as exc:  # soundfile's LibsndfileError, numpy's ValueError / OSError, ...
        raise StoredMediaError(f"{video_id}: its decoded sound {path} is unreadable: "
                               f"{exc}") from exc
    if audio.shape != (n_samples,):
        raise StoredMediaError(f"{video_id}: {path} holds {audio.shape} samples, its metadata "
                               f"{n_samples}")
    return audio
