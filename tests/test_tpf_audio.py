"""``decode.audio_path``: ``ffmpeg`` (FFmpeg's resampler and downmix, unchanged) and ``tpf_librosa``
(the EEV 2021 winner's librosa chain: channels averaged, native -> 22,050 -> 16,000 Hz), checked on
files written with PyAV whose left and right channels carry different tones."""

from __future__ import annotations

import copy
import fractions
import importlib.util
import json
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

from eevflow.config import ConfigError, validate_config
from eevflow.decoded_shard import INDEX, decode_shard, iter_shard
from eevflow.decoding import decode_video
from eevflow.streams import read_streams

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "config.schema.yaml"
SR = 16000
VIDEO_S = 3.0
ROWS = (np.arange(15) * 1e6 / 6).round().astype(np.int64)  # 6 Hz labels over 2.5 s


def write_tones(path: Path, rate=44100, layout="stereo", codec="aac", audio_start_s=0.0,
                audio_s=None, video_s=VIDEO_S, fps=12) -> Path:
    """``video_s`` of H.264 and, from ``audio_start_s`` for ``audio_s``, a 440 Hz tone in the left
    (or only) channel and a 660 Hz tone in the right, each at amplitude 0.5."""
    audio_s = video_s - audio_start_s if audio_s is None else audio_s
    channels = 1 if layout == "mono" else 2
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.codec_context.time_base = fractions.Fraction(1, fps)
        aus = out.add_stream(codec, rate=rate, layout=layout)
        for i in range(round(video_s * fps)):
            img = np.full((48, 64, 3), 10 * (i % 24), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        n = round(audio_s * rate)
        t = np.arange(n) / rate
        wave = np.stack([0.5 * np.sin(2 * np.pi * hz * t) for hz in (440, 660)[:channels]])
        pcm = codec.startswith("pcm_s16")
        for lo in range(0, n, 1024):
            chunk = np.ascontiguousarray(wave[:, lo : lo + 1024], np.float32)
            if pcm:
                chunk = (chunk * 32767).round().astype(np.int16)
            af = av.AudioFrame.from_ndarray(chunk, format="s16p" if pcm else "fltp", layout=layout)
            af.sample_rate, af.pts = rate, round(audio_start_s * rate) + lo
            out.mux(aus.encode(af))
        out.mux(aus.encode())
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tpf_audio")
    specs = {
        "stereo_aac_44k": ("mp4", {}),
        "stereo_pcm_48k": ("mkv", {"rate": 48000, "codec": "pcm_s16le"}),
        "mono_aac_48k": ("mp4", {"rate": 48000, "layout": "mono"}),
        "late": ("mp4", {"audio_start_s": 0.5}),  # the sound starts 0.5 s after the picture
        "short": ("mp4", {"rate": 48000, "audio_s": 1.0}),  # and this one stops after 1 s
    }
    return {k: write_tones(d / f"{k}.{ext}", **kw) for k, (ext, kw) in specs.items()}


def decode(path: Path, out: Path, **kw):
    out.mkdir(parents=True, exist_ok=True)
    info = decode_video(path.stem, path, ROWS, out / "f.npy", out / "a.npy", out / "m.json", **kw)
    return info, np.load(out / "a.npy")


def native_samples(path: Path) -> tuple[np.ndarray, int, float]:
    """(channels, samples) float32 as decoded, at the stream's rate, without FFmpeg's resampler;
    the first frame's time from the container start."""
    parts = []
    with av.open(str(path)) as c:
        origin = read_streams(c).start_time_s
        s = c.streams.audio[0]
        rate, channels, first = s.rate, s.channels, None
        for f in c.decode(s):
            first = float(f.time) - origin if first is None else first
            a = f.to_ndarray()
            if not f.format.is_planar:
                a = a.reshape(-1, channels).T
            if a.dtype == np.int16:
                a = a.astype(np.float32) / 32768
            parts.append(a.astype(np.float32))
    return np.concatenate(parts, axis=1), rate, first


def librosa_chain(path: Path, tmp: Path) -> np.ndarray:
    """TPF's ``librosa.load(path)`` then ``librosa.resample(audio, 22050, 16000)``, all at librosa's
    defaults, on the decoded native samples (written to a float WAV that librosa reads)."""
    import librosa
    import soundfile

    wave, rate, _ = native_samples(path)
    soundfile.write(tmp, wave.T, rate, subtype="FLOAT")
    y, sr = librosa.load(tmp)
    assert sr == 22050
    return librosa.resample(y, orig_sr=sr, target_sr=SR)


def level_db(a: np.ndarray, b: np.ndarray) -> float:
    """b's level over a's over 0.6-2.4 s."""
    lo, hi = int(0.6 * SR), int(2.4 * SR)
    return 10 * np.log10(np.mean(b[lo:hi].astype(np.float64) ** 2)
                         / np.mean(a[lo:hi].astype(np.float64) ** 2))


@pytest.mark.parametrize("case", ["stereo_aac_44k", "stereo_pcm_48k", "mono_aac_48k", "late"])
def test_tpf_librosa_is_librosas_own_chain(files, tmp_path, case):
    info, got = decode(files[case], tmp_path / "tpf", audio_path="tpf_librosa")
    assert info.audio_path == "tpf_librosa"
    want = librosa_chain(files[case], tmp_path / "native.wav")
    lead = round(native_samples(files[case])[2] * SR)  # leading zeros of a stream that starts late
    assert not got[:lead].any()
    body = got[lead:]
    n = min(len(body), len(want))
    assert n > 2 * SR and abs(len(body) - len(want)) <= 2  # librosa may round up a sample or two
    np.testing.assert_allclose(body[:n], want[:n], rtol=0, atol=1e-6)


def test_stereo_is_3_db_below_the_ffmpeg_downmix_and_mono_is_level(files, tmp_path):
    for case, db in [("stereo_aac_44k", -3.01), ("stereo_pcm_48k", -3.01), ("mono_aac_48k", 0.0)]:
        _, ff = decode(files[case], tmp_path / case / "ffmpeg")
        _, tpf = decode(files[case], tmp_path / case / "tpf", audio_path="tpf_librosa")
        assert level_db(ff, tpf) == pytest.approx(db, abs=0.02), case
    # two tones of amplitude 0.5 (rms 0.354 each, uncorrelated): FFmpeg's (L + R) / sqrt(2) has
    # rms sqrt(0.125) = 0.354, librosa's (L + R) / 2 has rms 0.25
    _, ff = decode(files["stereo_pcm_48k"], tmp_path / "pcm" / "ffmpeg")
    _, tpf = decode(files["stereo_pcm_48k"], tmp_path / "pcm" / "tpf", audio_path="tpf_librosa")
    rms = lambda a: np.sqrt(np.mean(a[SR : 2 * SR].astype(np.float64) ** 2))  # noqa: E731
    assert rms(ff) == pytest.approx(np.sqrt(0.125), rel=0.002)
    assert rms(tpf) == pytest.approx(0.25, rel=0.002)


@pytest.mark.parametrize("case", ["stereo_aac_44k", "stereo_pcm_48k", "mono_aac_48k", "late",
                                  "short"])
def test_length_origin_and_padding_equal_the_ffmpeg_paths(files, tmp_path, case):
    ff_info, ff = decode(files[case], tmp_path / "ffmpeg")
    tpf_info, tpf = decode(files[case], tmp_path / "tpf", audio_path="tpf_librosa")
    assert len(tpf) == len(ff) == tpf_info.n_samples == ff_info.n_samples
    assert tpf_info.audio_padded_samples == ff_info.audio_padded_samples
    assert tpf_info.start_time_s == ff_info.start_time_s
    assert len(ff) >= round(VIDEO_S * SR) - 1  # covers the picture
    # the same leading zeros (a stream that starts late) and zeros at the end (one that stops
    # early), the sound in between
    head = round(native_samples(files[case])[2] * SR)
    tail = ff_info.audio_padded_samples - head
    end = len(ff) - tail
    for track in (ff, tpf):
        assert not track[:head].any() and not track[end:].any()
        assert np.sqrt(np.mean(track[head + 800 : end - 800] ** 2)) > 0.2
    if case == "late":
        assert 0.45 * SR < head < 0.55 * SR and tail == 0
    if case == "short":
        assert head == 0 and 1.95 * SR < tail < 2.05 * SR
    if case not in ("late", "short"):
        assert head == tail == 0
    # in sync: the correlation of the two tracks peaks at lag 0
    a, b = ff[head + 800 : head + 8800].astype(np.float64), tpf.astype(np.float64)
    lags = list(range(-16, 17))
    corr = [a @ b[head + 800 + k : head + 8800 + k] for k in lags]
    assert lags[int(np.argmax(corr))] == 0


def old_ffmpeg_track(path: Path, video_end_s: float) -> np.ndarray:
    """eevflow.decoding's audio before ``decode.audio_path`` existed (its decode_audio and the
    padding to the picture), copied here as it was."""
    with av.open(str(path)) as c:
        origin = read_streams(c).start_time_s
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
    chunks, first = [], None
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        for frame in c.decode(stream):
            if first is None and frame.time is not None:
                first = float(frame.time) - origin
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    shift = round((first or 0.0) * SR)
    audio = np.concatenate([np.zeros(shift, np.float32), audio]) if shift > 0 else audio[-shift:]
    want = round(video_end_s * SR)
    if len(audio) < want:
        audio = np.concatenate([audio, np.zeros(want - len(audio), np.float32)])
    return audio


@pytest.mark.parametrize("case", ["stereo_aac_44k", "stereo_pcm_48k", "late", "short"])
def test_the_ffmpeg_path_is_unchanged(files, tmp_path, case):
    info, got = decode(files[case], tmp_path / "default")
    _, named = decode(files[case], tmp_path / "named", audio_path="ffmpeg")
    assert info.audio_path == "ffmpeg"
    want = old_ffmpeg_track(files[case], VIDEO_S)
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes() == named.tobytes()


def test_the_shard_records_the_path_and_the_decord_backend_honours_it(files, tmp_path):
    """After the media are written: it may load decord (whose bundled libraries upset some PyAV
    encoders). The sound is PyAV's on either frame path."""
    path = files["stereo_aac_44k"]
    videos, stamps = [("clip", str(path))], {"clip": ROWS}
    backends = ["pyav"] + (["decord"] if importlib.util.find_spec("decord") else [])
    tracks = {}
    for backend in backends:
        shard = tmp_path / backend
        decode_shard(shard, videos, stamps, backend=backend, audio_path="tpf_librosa")
        video = next(iter_shard(shard, "audio"))
        assert video.info.audio_path == "tpf_librosa" and video.info.decoder == backend
        assert json.loads((shard / INDEX).read_text())["audio_path"] == "tpf_librosa"
        meta = json.loads((shard / "clip" / "meta.json").read_text())
        assert meta["audio_path"] == "tpf_librosa" and meta["frame_sampling"] == "label_time"
        tracks[backend] = video.audio
    for track in tracks.values():
        assert track.tobytes() == tracks["pyav"].tobytes()


def test_tpf_librosa_needs_16_khz(files, tmp_path):
    with pytest.raises(ValueError, match="audio_sample_rate is 22050"):
        decode(files["mono_aac_48k"], tmp_path, audio_path="tpf_librosa", sample_rate=22050)
    with pytest.raises(ValueError, match="ffmpeg"):
        decode(files["mono_aac_48k"], tmp_path, audio_path="librosa")


def test_config_default_allowed_values_and_the_rate_check():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    assert validate_config(cfg, SCHEMA)["decode"]["audio_path"] == "ffmpeg"
    ok = copy.deepcopy(cfg)
    ok.setdefault("decode", {}).update(audio_path="tpf_librosa", audio_sample_rate=16000)
    assert validate_config(ok, SCHEMA)["decode"]["audio_path"] == "tpf_librosa"
    bad = copy.deepcopy(ok)
    bad["decode"]["audio_sample_rate"] = 22050
    with pytest.raises(ConfigError) as exc:
        validate_config(bad, SCHEMA)
    msg = str(exc.value)
    assert "decode.audio_sample_rate" in msg and "decode.audio_path: tpf_librosa" in msg
    assert "22050" in msg and "16000" in msg
    unknown = copy.deepcopy(cfg)
    unknown.setdefault("decode", {})["audio_path"] = "librosa"
    with pytest.raises(ConfigError) as exc:
        validate_config(unknown, SCHEMA)
    assert "decode.audio_path" in str(exc.value)
    assert "allowed values: ['ffmpeg', 'tpf_librosa']" in str(exc.value)
    for year in (2021, 2022):
        tpf = validate_config(yaml.safe_load(
            (REPO / "configs" / f"eev_tpf{year}.yaml").read_text()), SCHEMA)
        assert (tpf["decode"]["audio_path"], tpf["decode"]["audio_sample_rate"]) == (
            "tpf_librosa", 16000)
