"""Fetch videos with the yt-dlp Python API: validated IDs, atomic outputs, retries, a rate limit.

Nothing here runs a subprocess or a shell, and no remote string ever becomes part of a path: the
ID is checked against a strict ASCII pattern before any network access, yt-dlp writes to a fixed
file name inside a private temporary directory, and the finished file is moved into place with
``os.replace`` so that ``<dest_dir>/<id>.mp4`` exists only once it is complete.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import string
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import yt_dlp

from eevflow.ids import InvalidVideoId, validate_youtube_id, video_path

log = logging.getLogger(__name__)

_REASON_MAX = 200


def _check_url_template(template: str) -> None:
    key = "download.url_template"
    if not template.startswith(("http://", "https://")):
        raise ValueError(f"{key}: {template!r} must start with http:// or https://")
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as err:
        raise ValueError(f"{key}: {template!r} is not a valid format string ({err})") from None
    if fields != ["id"]:
        raise ValueError(
            f"{key}: {template!r} must contain the placeholder {{id}} exactly once and no other "
            f"{{}} fields (found {fields})"
        )


@dataclass
class DownloadOptions:
    """How videos are fetched (the ``download`` section of the config).

    ``retries`` is our number of attempts per video, with a sleep of ``backoff_s * 2**(k - 1)``
    after failed attempt ``k``; ``min_interval_s`` is the least time between the starts of two
    downloads (retries included); ``ratelimit_bytes`` caps the transfer rate (bytes/s).
    """

    enabled: bool = False
    url_template: str = "https://www.youtube.com/watch?v={id}"
    format: str = "best[ext=mp4]/best"
    retries: int = 3
    backoff_s: float = 2.0
    min_interval_s: float = 1.0
    ratelimit_bytes: int | None = None
    socket_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        _check_url_template(self.url_template)
        if self.retries < 1:
            raise ValueError(f"download.retries: must be at least 1, got {self.retries!r}")
        for key in ("backoff_s", "min_interval_s"):
            if getattr(self, key) < 0:
                raise ValueError(f"download.{key}: must be >= 0, got {getattr(self, key)!r}")
        if self.socket_timeout_s <= 0:
            raise ValueError(
                f"download.socket_timeout_s: must be > 0, got {self.socket_timeout_s!r}"
            )
        if self.ratelimit_bytes is not None and self.ratelimit_bytes <= 0:
            raise ValueError(
                f"download.ratelimit_bytes: must be > 0 or null, got {self.ratelimit_bytes!r}"
            )

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DownloadOptions:
        """Options from a config mapping; keys whose value is None keep their defaults."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(
                f"download: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"allowed keys: {', '.join(sorted(known))}"
            )
        return cls(**{k: v for k, v in config.items() if v is not None})


@dataclass
class DownloadResult:
    """What happened to one video: status is 'downloaded', 'download_failed' or 'invalid_id'."""

    video_id: str
    status: str
    reason: str
    path: str | None
    attempts: int


class _YtdlpLogger:
    """Routes yt-dlp's messages to our logger; its errors are reported by ``Downloader.fetch``."""

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)

    def warning(self, msg: str) -> None:
        log.warning("yt-dlp: %s", msg)

    def error(self, msg: str) -> None:
        log.debug("yt-dlp: %s", msg)


def _one_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    text = lines[-1].removeprefix("ERROR: ") if lines else type(err).__name__
    return text if len(text) <= _REASON_MAX else text[: _REASON_MAX - 3] + "..."


class Downloader:
    """Fetches videos into ``dest_dir`` as ``<id>.mp4``, one at a time, politely.

    The file keeps the container yt-dlp delivered (MP4 with the default ``format``); the media
    readers probe the content, not the name.
    """

    def __init__(self, dest_dir: str | os.PathLike[str], options: DownloadOptions) -> None:
        self.dest_dir = os.fspath(dest_dir)
        self.options = options
        self._last_start: float | None = None

    def fetch(self, video_id: object) -> DownloadResult:
        """Download one video; problems are reported in the result, never raised."""
        try:
            vid = validate_youtube_id(video_id)
            final = video_path(self.dest_dir, vid)
        except InvalidVideoId as err:
            log.warning("%s", err)
            return DownloadResult(str(video_id), "invalid_id", str(err), None, 0)
        url = self.options.url_template.format(id=vid)
        reason = ""
        for attempt in range(1, self.options.retries + 1):
            if attempt > 1:
                time.sleep(self.options.backoff_s * 2 ** (attempt - 2))
            self._wait_for_slot()
            try:
                self._download_once(url, final)
            except Exception as err:  # noqa: BLE001 - any failure is reported, not raised
                reason = _one_line(err)
                log.warning(
                    "%s: attempt %d/%d failed: %s", vid, attempt, self.options.retries, reason
                )
                continue
            log.info("%s: downloaded to %s", vid, final)
            return DownloadResult(vid, "downloaded", "", final, attempt)
        return DownloadResult(vid, "download_failed", reason, None, self.options.retries)

    def _wait_for_slot(self) -> None:
        if self._last_start is not None:
            wait = self.options.min_interval_s - (time.monotonic() - self._last_start)
            if wait > 0:
                time.sleep(wait)
        self._last_start = time.monotonic()

    def _params(self, tmpdir: str) -> dict[str, Any]:
        return {
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "logger": _YtdlpLogger(),
            "format": self.options.format,
            "outtmpl": os.path.join(tmpdir, "video.%(ext)s"),
            "retries": 2,
            "socket_timeout": self.options.socket_timeout_s,
            "ratelimit": self.options.ratelimit_bytes,
            "noplaylist": True,
            "overwrites": True,
            "continuedl": False,
            "cachedir": False,
        }

    def _download_once(self, url: str, final: str) -> None:
        os.makedirs(self.dest_dir, exist_ok=True)
        tmpdir = tempfile.mkdtemp(dir=self.dest_dir, prefix=".download-")
        try:
            with yt_dlp.YoutubeDL(self._params(tmpdir)) as ydl:
                ydl.download([url])
            files = [f for f in os.listdir(tmpdir) if os.path.isfile(os.path.join(tmpdir, f))]
            if len(files) != 1:
                raise RuntimeError(f"expected one downloaded file, found {sorted(files)}")
            produced = os.path.join(tmpdir, files[0])
            if os.path.getsize(produced) == 0:
                raise RuntimeError("downloaded file is empty (0 bytes)")
            os.replace(produced, final)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
