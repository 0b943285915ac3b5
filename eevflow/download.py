"""Fetch videos with the yt-dlp Python API: validated IDs, atomic outputs, retries, a rate limit.

Nothing here runs a subprocess or a shell, and no remote string ever becomes part of a path: the
ID is checked against a strict ASCII pattern before any network access, yt-dlp writes to a fixed
file name inside a private temporary directory, and the finished file is moved into place with
``os.replace`` so that ``<dest_dir>/<id>.mp4`` exists only once it is complete.

The rate limit (``min_interval_s`` between download starts) holds across processes: the parallel
download-check jobs (one per split and shard) share it through ``<dest_dir>/.download-slot``, a
file holding the wall-clock time of the last start, read and rewritten under an exclusive
``flock``. That works between jobs on one machine, and between machines where the file system
supports ``flock`` (NFSv4, and Linux maps it onto NFS byte-range locks; Lustre mounted with
``-o flock``; GPFS, BeeGFS) and the clocks agree (NTP).
"""

from __future__ import annotations

import dataclasses
import fcntl
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
from eevflow.subtitles import check_language

log = logging.getLogger(__name__)

_REASON_MAX = 200
# the shared rate limit's lock and last start, in the videos folder (module docstring)
SLOT_FILE = ".download-slot"


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
    # also fetch the video's subtitles, else its automatic captions, as <id>.<lang>.vtt beside it
    subtitles: bool = False
    subtitles_languages: list[str] = dataclasses.field(default_factory=lambda: ["en"])

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
        if not isinstance(self.subtitles_languages, (list, tuple)) or not self.subtitles_languages:
            raise ValueError("download.subtitles_languages: must be a non-empty list, got "
                             f"{self.subtitles_languages!r}")
        for lang in self.subtitles_languages:
            try:
                check_language(lang)
            except ValueError as exc:
                raise ValueError(f"download.subtitles_languages: {exc}") from None

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


def _read_start(raw: bytes) -> float | None:
    """The last start in a slot file (None when it is new, or holds something else)."""
    try:
        value = float(raw.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return value if value == value else None


class Downloader:
    """Fetches videos into ``dest_dir`` as ``<id>.mp4``, one at a time, politely.

    The file keeps the container yt-dlp delivered (MP4 with the default ``format``); the media
    readers probe the content, not the name. ``starts`` lists the wall-clock times (``time.time``)
    at which this downloader's attempts claimed their slot.
    """

    def __init__(self, dest_dir: str | os.PathLike[str], options: DownloadOptions) -> None:
        self.dest_dir = os.fspath(dest_dir)
        self.options = options
        self.starts: list[float] = []

    def fetch(self, video_id: object) -> DownloadResult:
        """Download one video; its problems are reported in the result, never raised (a slot file
        that cannot be opened or locked, a problem of the videos folder, raises RuntimeError)."""
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

    def _wait_for_slot(self) -> float:
        """Wait until ``min_interval_s`` after the last download start of any process sharing
        ``dest_dir`` and claim the slot: returns the start time written (0 when there is no limit).

        Under the lock, read the last start from the slot file, sleep until the interval has
        passed, write the new start, unlock: the waiting processes queue on the lock, so their
        starts are spaced too. A last start in the future (a clock stepped back, or another
        machine's clock ahead) delays by at most one interval."""
        interval = self.options.min_interval_s
        if interval <= 0:
            return 0.0
        os.makedirs(self.dest_dir, exist_ok=True)
        path = os.path.join(self.dest_dir, SLOT_FILE)
        try:
            # O_NOFOLLOW: a symlink planted at the slot's name is refused, never written through
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise RuntimeError(f"download rate limit: cannot open {path}: {exc}") from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                raise RuntimeError(
                    f"download rate limit: cannot flock {path} ({exc}); the videos folder's file "
                    "system must support flock (README: Downloading), or set "
                    "download.min_interval_s: 0"
                ) from exc
            last = _read_start(os.pread(fd, 64, 0))
            now = time.time()
            if last is not None:
                due = min(last + interval, now + interval)
                while now < due:
                    time.sleep(due - now)
                    now = time.time()
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{now!r}\n".encode(), 0)
        finally:
            os.close(fd)  # releases the lock
        self.starts.append(now)
        return now

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
            **self._subtitle_params(),
        }

    def _subtitle_params(self) -> dict[str, Any]:
        """yt-dlp's subtitle options: with ``subtitles``, the uploaded subtitles and, where a
        language has none, the automatic captions, as WebVTT (``video.<lang>.vtt``)."""
        if not self.options.subtitles:
            return {"writesubtitles": False, "writeautomaticsub": False}
        return {
            "writesubtitles": True,
            "writeautomaticsub": True,
            "subtitleslangs": list(self.options.subtitles_languages),
            "subtitlesformat": "vtt",
        }

    def _download_once(self, url: str, final: str) -> None:
        os.makedirs(self.dest_dir, exist_ok=True)
        tmpdir = tempfile.mkdtemp(dir=self.dest_dir, prefix=".download-")
        try:
            with yt_dlp.YoutubeDL(self._params(tmpdir)) as ydl:
                ydl.download([url])
            files = [f for f in os.listdir(tmpdir) if os.path.isfile(os.path.join(tmpdir, f))]
            subs = sorted(f for f in files if f.endswith(".vtt"))
            files = [f for f in files if f not in subs]
            if len(files) != 1:
                raise RuntimeError(f"expected one downloaded file, found {sorted(files)}")
            produced = os.path.join(tmpdir, files[0])
            if os.path.getsize(produced) == 0:
                raise RuntimeError("downloaded file is empty (0 bytes)")
            self._place_subtitles(tmpdir, subs, final)
            os.replace(produced, final)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def _place_subtitles(self, tmpdir: str, names: list[str], final: str) -> None:
        """Move yt-dlp's ``video.<lang>.vtt`` files beside the video as ``<id>.<lang>.vtt``
        (eevflow.subtitles finds them there); other names are ignored."""
        stem = os.path.splitext(final)[0]
        for name in names:
            lang = name[len("video."): -len(".vtt")] if name.startswith("video.") else ""
            try:
                check_language(lang)
            except ValueError:
                log.warning("ignoring subtitle file %r of %s", name, final)
                continue
            os.replace(os.path.join(tmpdir, name), f"{stem}.{lang}.vtt")
