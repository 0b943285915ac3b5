"""Video IDs and the paths they name: the validators every stage shares (no network, no imports
beyond the standard library, so decoding does not load the downloader)."""

from __future__ import annotations

import os
import re

_YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}", re.ASCII)
_LOCAL_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}", re.ASCII)


class InvalidVideoId(ValueError):
    """A video ID that is not allowed (wrong type, length or characters, or a path escape)."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_youtube_id(value: object) -> str:
    """Return ``value`` if it is a YouTube ID: a str of exactly 11 ASCII ``[A-Za-z0-9_-]``."""
    if not isinstance(value, str) or _YOUTUBE_ID.fullmatch(value) is None:
        raise InvalidVideoId(
            f"invalid YouTube video ID {_shown(value)}: expected a string of exactly 11 "
            "characters from A-Z, a-z, 0-9, '_' and '-'"
        )
    return value


def validate_local_id(value: object) -> str:
    """Return ``value`` if it may name a local video: a str of 1-200 ASCII ``[A-Za-z0-9_.-]``
    not starting with '.' (so it is never '..', a hidden file, or anything with a separator)."""
    if not isinstance(value, str) or _LOCAL_ID.fullmatch(value) is None:
        raise InvalidVideoId(
            f"invalid video ID {_shown(value)}: expected a string of 1-200 characters from "
            "A-Z, a-z, 0-9, '_', '.' and '-', not starting with '.'"
        )
    return value


def video_path(videos_dir: str | os.PathLike[str], video_id: str, ext: str = ".mp4") -> str:
    """The path of ``<videos_dir>/<video_id><ext>``, checked to name an entry of ``videos_dir``.

    Only the ID (see :func:`validate_local_id`) and the entry's own location are checked:
    ``<video_id><ext>`` must be a single file name, and the directory that holds it must resolve
    to ``videos_dir`` (which may itself be a symlink). The entry itself may be a symlink to
    anywhere (a dataset folder of links into a shared store); it is not resolved here.
    """
    validate_local_id(video_id)
    name = video_id + ext
    if os.path.basename(name) != name or (os.altsep and os.altsep in name):
        raise InvalidVideoId(
            f"video ID {_shown(video_id)} with extension {ext!r} is not a file name in "
            f"{str(videos_dir)!r}"
        )
    path = os.path.join(videos_dir, name)
    root = os.path.realpath(videos_dir)
    if os.path.realpath(os.path.dirname(path)) != root:  # the link's location, not its target
        raise InvalidVideoId(f"video ID {_shown(video_id)} resolves outside {str(videos_dir)!r}")
    return path


def file_video_id(path: str | os.PathLike[str]) -> str:
    """The ID of a video file that comes without a label file (``eevflow predict``,
    ``predict_videos``): its name without the suffix, an ID that can name a file."""
    stem = os.path.splitext(os.path.basename(os.fspath(path)))[0]
    try:
        return validate_local_id(stem)
    except InvalidVideoId as exc:
        raise InvalidVideoId(f"{os.fspath(path)}: {exc}") from None


def folder_videos(folder: str | os.PathLike[str], extensions) -> list[str]:
    """The files of ``folder`` whose suffix (any case) is one of ``extensions``, sorted."""
    exts = {e.lower() for e in extensions}
    return sorted(
        os.path.join(folder, f) for f in os.listdir(folder)
        if os.path.splitext(f)[1].lower() in exts and os.path.isfile(os.path.join(folder, f))
    )


def videos_by_id(files) -> dict[str, str]:
    """Video ID (:func:`file_video_id`) -> file, in order; two files with one ID are an error."""
    out: dict[str, str] = {}
    for f in files:
        vid = file_video_id(f)
        if vid in out:
            raise InvalidVideoId(f"{out[vid]} and {os.fspath(f)} have the same video ID {vid}")
        out[vid] = os.fspath(f)
    return out
