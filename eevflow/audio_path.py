"""The sound of a decoded video (``decode.audio_path``): the chain that turns the file's first
audio stream into the mono float32 track the audio extractors read.

``ffmpeg``       (default) FFmpeg's resampler (PyAV's ``AudioResampler``) straight to the output
                 rate, and to mono by FFmpeg's downmix: (L + R) / sqrt(2) on stereo. Holds the
                 track at the output rate: at most 12 bytes per output sample (the decoded pieces,
                 their concatenation and its float32 copy; 192 kB per second of audio at 16 kHz).
``tpf_librosa``  The EEV 2021 winner's chain (th2l/EvokedExpr-TPF ``feats/feature_extractor.py:
                 86-93``; ``feature_extractor.py:89-91`` in the 2021 upload): ``librosa.load(path)``
                 at its defaults (the file's samples at their own rate and channels, mono by the
                 mean of the channels, (L + R) / 2 on stereo, resampled to 22,050 Hz), then
                 ``librosa.resample(audio, 22050, 16000)``. Here PyAV decodes the stream to planar
                 float at its own rate and channel layout (FFmpeg converts only the sample format:
                 no downmix, no resampling), the channels are averaged as ``librosa.to_mono`` does,
                 and the two steps resample with the installed librosa's default ``res_type`` of
                 ``librosa.load`` and of ``librosa.resample`` (``soxr_hq`` since librosa 0.10;
                 ``kaiser_best`` in the librosa 0.8 of 2021). Only for a 16 kHz output (TPF's
                 rate). On stereo sound the track is 3 dB quieter than ``ffmpeg``'s; on mono sound
                 the two differ by the resamplers' band edge only (BENCHMARKS.md, "TPF's audio
                 path"). The track is held at the file's own rate for the resampling: at most 8
                 bytes per sample of the file's rate (the decoded mono pieces and their
                 concatenation), 384 kB per second of audio at 48 kHz (1.4 GB for an hour), then
                 the 22,050 Hz track (88 kB per second) beside it.

TPF's librosa read the samples through audioread's FFmpeg command as 16-bit PCM; this path keeps
FFmpeg's float samples (the difference is the 16-bit rounding, about -96 dB, and no clipping of
decoded peaks above full scale).

Both paths put the track on the file's timeline alike (:func:`place`): label time 0 is the container
start time, a stream that starts after it gets leading zeros, one that starts before it loses the
samples before it; eevflow.decoding then pads the end to cover the video. The ``tpf_librosa``
track is cut or zero-padded to the number of samples the ``ffmpeg`` path's resampler gives (counted
by running it alongside; librosa rounds each step's length up, FFmpeg's count depends on how the
stream is split into frames), so that both paths give tracks of the same length and only the
sample values differ.
"""

from __future__ import annotations

import inspect

import av
import numpy as np

AUDIO_PATHS = ("ffmpeg", "tpf_librosa")
TPF_LOAD_RATE = 22050  # librosa.load's default sr
TPF_RATE = 16000  # TPF's librosa.resample(audio, 22050, 16000)


def check_audio_path(audio_path: str, sample_rate: int) -> None:
    if audio_path not in AUDIO_PATHS:
        raise ValueError(
            f"decode audio_path must be one of {list(AUDIO_PATHS)}, not {audio_path!r}"
        )
    if audio_path == "tpf_librosa" and sample_rate != TPF_RATE:
        raise ValueError(
            f"decode audio_path 'tpf_librosa' resamples to {TPF_RATE} Hz (TPF's rate); "
            f"audio_sample_rate is {sample_rate}"
        )


def audio_decoder(audio_path: str):
    """``(path, sample_rate, origin_s) -> (samples, leading zeros added)`` of ``audio_path``."""
    return {"ffmpeg": decode_audio, "tpf_librosa": decode_audio_tpf}[audio_path]


def place(audio: np.ndarray, first_s: float | None, sample_rate: int) -> tuple[np.ndarray, int]:
    """``audio``, whose first sample plays at ``first_s`` from the origin, on the file's timeline:
    leading zeros for a stream that starts late, the samples before the origin dropped for one
    that starts early. Returns (samples, leading zeros added)."""
    shift = round((first_s or 0.0) * sample_rate)
    if shift > 0:
        return np.concatenate([np.zeros(shift, np.float32), audio]), shift
    return audio[-shift:], 0


def decode_audio(path: str, sample_rate: int, origin_s: float) -> tuple[np.ndarray, int]:
    """``ffmpeg``: the first audio stream, resampled to ``sample_rate`` mono float32 by FFmpeg,
    placed on the file's timeline (:func:`place`). Returns (samples, leading zeros added)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks, first = [], None
    with av.open(path) as c:
        stream = c.streams.audio[0]
        for frame in c.decode(stream):
            if first is None and frame.time is not None:
                first = float(frame.time) - origin_s
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return place(audio, first, sample_rate)


def native_mono(path: str, origin_s: float, sample_rate: int):
    """The first audio stream at its own rate (that of its first frame), the mean of its channels
    (float32, as ``librosa.to_mono``), FFmpeg converting only the sample format to planar float.
    Returns (samples, rate, time of the first frame from ``origin_s``, the number of samples the
    ``ffmpeg`` path's resampler gives at ``sample_rate``, counted by running it alongside)."""
    chunks, first, rate, resampler, count = [], None, 0, None, 0
    counter = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    with av.open(path) as c:
        stream = c.streams.audio[0]
        for frame in c.decode(stream):
            if first is None and frame.time is not None:
                first = float(frame.time) - origin_s
            count += sum(out.samples for out in counter.resample(frame))
            if resampler is None:
                rate = frame.sample_rate
                resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=rate)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().mean(axis=0))  # the same per column as on the whole
        count += sum(out.samples for out in counter.resample(None))
        for out in resampler.resample(None) if resampler is not None else ():
            chunks.append(out.to_ndarray().mean(axis=0))
    audio = np.concatenate(chunks, dtype=np.float32) if chunks else np.zeros(0, np.float32)
    return audio, rate, first, count


def _default_res_type(fn) -> str:
    return inspect.signature(fn).parameters["res_type"].default


def decode_audio_tpf(path: str, sample_rate: int, origin_s: float) -> tuple[np.ndarray, int]:
    """``tpf_librosa``: the first audio stream through TPF's chain (the module docstring), placed
    on the file's timeline (:func:`place`). Returns (samples, leading zeros added)."""
    import librosa
    from librosa.util.exceptions import ParameterError

    check_audio_path("tpf_librosa", sample_rate)
    native, rate, first, length = native_mono(path, origin_s, sample_rate)
    if not len(native):
        return place(np.zeros(length, np.float32), first, sample_rate)
    try:
        y = librosa.resample(native, orig_sr=rate, target_sr=TPF_LOAD_RATE,
                             res_type=_default_res_type(librosa.load))
        del native
        y = librosa.resample(y, orig_sr=TPF_LOAD_RATE, target_sr=sample_rate,
                             res_type=_default_res_type(librosa.resample))
    except ParameterError as exc:  # e.g. samples that are not finite
        raise ValueError(f"{path}: tpf_librosa: {exc}") from exc
    y = np.asarray(y, np.float32)[:length]
    if len(y) < length:
        y = np.concatenate([y, np.zeros(length - len(y), np.float32)])
    return place(y, first, sample_rate)
