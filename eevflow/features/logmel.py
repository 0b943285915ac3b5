"""Weight-free audio features: the mean log-mel spectrum of the audio window of each label row.

The spectrogram is computed once per track with ``tf.signal`` (25 ms Hann windows, 10 ms hop,
``n_mels`` bands between ``fmin`` and ``fmax``, as in VGGish / TRILL's front end), then averaged over
the STFT frames whose centres fall in each row's window.
"""

from __future__ import annotations

import numpy as np

from typing import get_args

from eevflow.features import Extractor, configure_tensorflow
from eevflow.features.options import LogMelOptions, WindowMode
from eevflow.decoding import Decoded

WINDOW_MODES = get_args(WindowMode)


def audio_windows(
    n_samples: int,
    timestamps_us: np.ndarray,
    sample_rate: int,
    mode: str = "label_window",
    window_s: float = 1 / 6,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample ranges ``[start, end)`` of each label row's audio.

    ``label_window``: the ``window_s`` seconds starting at the row's timestamp (the interval a 6 Hz
    label stands for). ``equal_chunks``: the winner's TRILL preprocessing: the track is zero-padded
    to a multiple of N (the video's row count) and cut into N equal chunks, chunk i for row i.
    """
    ts = np.asarray(timestamps_us, dtype=np.int64)
    n = len(ts)
    if mode == "label_window":
        starts = np.round(ts * sample_rate / 1e6).astype(np.int64)
        return starts, starts + max(1, round(window_s * sample_rate))
    if mode == "equal_chunks":
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        chunk = -(-max(n_samples, 1) // n)  # ceil: padded length / N
        starts = np.arange(n, dtype=np.int64) * chunk
        return starts, starts + chunk
    raise ValueError(f"unknown audio window mode {mode!r}; allowed: {list(WINDOW_MODES)}")


class LogMelExtractor(Extractor):
    options_class = LogMelOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        o = self.opts
        self.n_mels, self.window_mode = o.n_mels, o.window
        self.fmin, self.fmax = float(o.fmin), float(o.fmax)
        self.win_ms, self.hop_ms = float(o.win_ms), float(o.hop_ms)
        self._tf = None

    @property
    def version(self) -> str:
        return (
            f"logmel-v1 n_mels={self.n_mels} win_ms={self.win_ms} hop_ms={self.hop_ms} "
            f"fmin={self.fmin} fmax={self.fmax} window={self.window_mode}"
        )

    def _tensorflow(self):
        if self._tf is None:
            self._tf = configure_tensorflow(self.threads, self.device)
        return self._tf

    def spectrogram(self, audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, int, int]:
        """(frames, n_mels) log-mel of a whole track, with the window and hop in samples."""
        tf = self._tensorflow()
        win = round(self.win_ms * sample_rate / 1000)
        hop = round(self.hop_ms * sample_rate / 1000)
        fft = 1 << (win - 1).bit_length()
        if len(audio) < win:
            audio = np.pad(audio, (0, win - len(audio)))
        stft = tf.signal.stft(audio.astype(np.float32), win, hop, fft, pad_end=True)
        power = tf.math.square(tf.abs(stft))
        mel = tf.signal.linear_to_mel_weight_matrix(
            self.n_mels, fft // 2 + 1, sample_rate, self.fmin, min(self.fmax, sample_rate / 2)
        )
        return np.log(tf.matmul(power, mel).numpy() + 1e-6), win, hop

    def embed(self, video: Decoded) -> np.ndarray:
        sr = video.info.sample_rate
        ts = video.timestamps_us
        starts, ends = audio_windows(len(video.audio), ts, sr, self.window_mode)
        need = int(ends.max()) if len(ends) else 0
        audio = video.audio
        if need > len(audio):  # rows past the end of the track hear silence (zero padding)
            audio = np.pad(audio, (0, need - len(audio)))
        spec, win, hop = self.spectrogram(audio, sr)
        centres = np.arange(len(spec)) * hop + win // 2
        lo = np.searchsorted(centres, starts, side="left")
        hi = np.maximum(np.searchsorted(centres, ends, side="left"), lo + 1)
        hi = np.minimum(hi, len(spec))
        lo = np.minimum(lo, hi - 1)
        csum = np.vstack([np.zeros((1, spec.shape[1])), np.cumsum(spec, axis=0, dtype=np.float64)])
        return ((csum[hi] - csum[lo]) / (hi - lo)[:, None]).astype(np.float32)
