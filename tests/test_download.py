"""eevflow.download: ID validation, path containment, options, and real yt-dlp downloads from a
local HTTP server (offline)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
import time

import pytest
from conftest import write_video

from eevflow.download import SLOT_FILE, DownloadOptions, Downloader
from eevflow.ids import InvalidVideoId, validate_local_id, validate_youtube_id, video_path

VID = "AbCdEfGhIj0"
TRUNCATED = "Trunc4tedId"


@pytest.mark.parametrize(
    "value",
    [
        "dQw4w9WgXc",  # 10 characters
        "dQw4w9WgXcQQ",  # 12 characters
        "../../etc/pa",
        "abc$(reboot)",
        "a b c d e f",
        "dQw4w9WgXcQ\n",  # '$' would match before a trailing newline
        "١٢٣٤٥٦٧٨٩٠١",  # Arabic-Indic digits match \d without re.ASCII
        "ＡＢＣＤＥＦＧＨＩＪＫ",  # full-width letters
        "dQw4w9WgXc;",
        "",
        None,
        12345678901,
        b"dQw4w9WgXcQ",
    ],
)
def test_youtube_id_rejects(value):
    with pytest.raises(InvalidVideoId) as info:
        validate_youtube_id(value)
    assert repr(value)[:40] in str(info.value)
    assert "exactly 11" in str(info.value)


@pytest.mark.parametrize("value", ["dQw4w9WgXcQ", "-_abcdefghi", "A1_-B2c3D4e"])
def test_youtube_id_accepts(value):
    assert validate_youtube_id(value) == value


def test_invalid_id_message_is_truncated():
    with pytest.raises(InvalidVideoId) as info:
        validate_youtube_id("x" * 1000)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    "value", ["..", ".hidden", "a/b", "/etc/passwd", "a\\b", "x" * 201, "clip 1", "", None]
)
def test_local_id_rejects(value):
    with pytest.raises(InvalidVideoId):
        validate_local_id(value)


@pytest.mark.parametrize("value", ["clip_001", "a.b-c", "x" * 200, VID])
def test_local_id_accepts(value):
    assert validate_local_id(value) == value


def test_video_path_stays_inside(tmp_path):
    assert video_path(tmp_path, "clip_001") == os.path.join(tmp_path, "clip_001.mp4")
    assert video_path(str(tmp_path), "a.b-c", ext=".wav") == os.path.join(tmp_path, "a.b-c.wav")
    for bad in ["..", "../x", "/etc/passwd", ".hidden"]:
        with pytest.raises(InvalidVideoId):
            video_path(tmp_path, bad)
    with pytest.raises(InvalidVideoId):
        video_path(tmp_path, "x", ext="/../../escape.mp4")


def test_video_path_symlinked_dir_is_allowed(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "videos"
    link.symlink_to(real, target_is_directory=True)
    assert video_path(link, "clip_001") == os.path.join(link, "clip_001.mp4")


def test_video_path_accepts_file_symlink_outside(tmp_path):
    """Only the link's own location is checked; its target may be anywhere (test_symlinks.py)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "clip_001.mp4").symlink_to(tmp_path / "elsewhere.mp4")
    assert video_path(videos, "clip_001") == os.path.join(videos, "clip_001.mp4")
    with pytest.raises(InvalidVideoId):
        video_path(videos, "../clip_001")


@pytest.mark.parametrize(
    "template, needle",
    [
        ("https://example.org/watch", "exactly once"),
        ("https://example.org/{id}/{id}", "exactly once"),
        ("https://example.org/{id}?x={other}", "exactly once"),
        ("https://example.org/{}", "exactly once"),
        ("https://example.org/{id", "format string"),
        ("ftp://example.org/{id}", "http"),
        ("file:///tmp/{id}.mp4", "http"),
    ],
)
def test_url_template_errors(template, needle):
    with pytest.raises(ValueError, match="download.url_template") as info:
        DownloadOptions(url_template=template)
    assert needle in str(info.value)


def test_options_from_config():
    opts = DownloadOptions.from_config(
        {"enabled": True, "retries": 5, "min_interval_s": None, "ratelimit_bytes": 1000}
    )
    assert (opts.enabled, opts.retries, opts.min_interval_s, opts.ratelimit_bytes) == (
        True, 5, 1.0, 1000,
    )
    with pytest.raises(ValueError, match="download.url_template"):
        DownloadOptions.from_config({"url_template": "https://x/{name}"})
    with pytest.raises(ValueError, match="unknown key"):
        DownloadOptions.from_config({"retry": 2})
    with pytest.raises(ValueError, match="download.retries"):
        DownloadOptions.from_config({"retries": 0})


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the directory; records every request; sends a truncated body for TRUNCATED."""

    def __init__(self, *args, requests: list, **kwargs):
        self.requests = requests
        super().__init__(*args, **kwargs)

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def do_GET(self):
        self.requests.append((time.monotonic(), self.path))
        if self.path == f"/{TRUNCATED}.mp4":
            with open(os.path.join(self.directory, f"{VID}.mp4"), "rb") as f:
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(body) + 50_000))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    write_video(root / f"{VID}.mp4")
    for name in ("RateLimit01", "RateLimit02", "RateLimit03"):
        shutil.copyfile(root / f"{VID}.mp4", root / f"{name}.mp4")
    (root / "Empty000000.mp4").write_bytes(b"")
    requests: list = []
    handler = functools.partial(_Handler, directory=str(root), requests=requests)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, server.server_address[1], requests
    server.shutdown()
    server.server_close()


@pytest.fixture
def server(served):
    root, port, requests = served
    requests.clear()
    return root, f"http://127.0.0.1:{port}/{{id}}.mp4", requests


def _opts(template: str, **kw) -> DownloadOptions:
    return DownloadOptions(
        enabled=True, url_template=template, backoff_s=0.0, min_interval_s=0.0, **kw
    )


def test_fetch_downloads_identical_file(server, tmp_path):
    root, template, requests = server
    dest = tmp_path / "videos"
    result = Downloader(dest, _opts(template)).fetch(VID)
    assert result.status == "downloaded", result.reason
    assert result.attempts == 1
    assert result.path == os.path.join(dest, f"{VID}.mp4")
    assert (dest / f"{VID}.mp4").read_bytes() == (root / f"{VID}.mp4").read_bytes()
    assert sorted(os.listdir(dest)) == [f"{VID}.mp4"]  # no temp dir, no .part file
    assert requests


def test_fetch_overwrites_existing(server, tmp_path):
    root, template, _ = server
    (tmp_path / f"{VID}.mp4").write_bytes(b"stale")
    result = Downloader(tmp_path, _opts(template)).fetch(VID)
    assert result.status == "downloaded", result.reason
    assert (tmp_path / f"{VID}.mp4").read_bytes() == (root / f"{VID}.mp4").read_bytes()


def test_fetch_404_fails_after_retries(server, tmp_path):
    _, template, requests = server
    result = Downloader(tmp_path, _opts(template, retries=2)).fetch("Missing0000")
    assert result.status == "download_failed"
    assert "404" in result.reason
    assert "\n" not in result.reason and len(result.reason) <= 200
    assert result.attempts == 2 and result.path is None
    assert os.listdir(tmp_path) == []
    assert len(requests) >= 2


def test_fetch_truncated_transfer_fails(server, tmp_path):
    _, template, _ = server
    result = Downloader(tmp_path, _opts(template, retries=1)).fetch(TRUNCATED)
    assert result.status == "download_failed"
    assert result.reason
    assert not (tmp_path / f"{TRUNCATED}.mp4").exists()
    assert os.listdir(tmp_path) == []


def test_fetch_empty_file_fails(server, tmp_path):
    _, template, _ = server
    result = Downloader(tmp_path, _opts(template, retries=1)).fetch("Empty000000")
    assert result.status == "download_failed"
    assert os.listdir(tmp_path) == []


def test_fetch_retries_with_backoff_and_never_raises(monkeypatch, tmp_path):
    class Broken:
        def __init__(self, params):
            raise RuntimeError("first line\nboom: " + "x" * 300)

    sleeps: list[float] = []
    monkeypatch.setattr("eevflow.download.yt_dlp.YoutubeDL", Broken)
    monkeypatch.setattr("eevflow.download.time.sleep", sleeps.append)
    opts = DownloadOptions(retries=3, backoff_s=0.5, min_interval_s=0.0)
    result = Downloader(tmp_path / "videos", opts).fetch(VID)
    assert (result.status, result.attempts, result.path) == ("download_failed", 3, None)
    assert result.reason.startswith("boom: ") and len(result.reason) == 200
    assert sleeps == [0.5, 1.0]
    assert os.listdir(tmp_path / "videos") == []


@pytest.mark.parametrize("bad", ["../../etc/pa", "abc$(reboot)", None, "dQw4w9WgXcQ\n"])
def test_fetch_invalid_id_makes_no_request(server, tmp_path, bad):
    _, template, requests = server
    result = Downloader(tmp_path, _opts(template)).fetch(bad)
    assert result.status == "invalid_id"
    assert result.attempts == 0 and result.path is None
    assert requests == []
    assert os.listdir(tmp_path) == []


def test_fetch_rate_limit(server, tmp_path, monkeypatch):
    """Downloads start at least min_interval_s apart: timed on a virtual clock that only moves
    when the downloader sleeps, so the check does not depend on the machine's load."""
    import yt_dlp

    import eevflow.download as download_module

    class Clock:
        now = 100.0

        def time(self):
            return self.now

        def sleep(self, seconds):
            self.now += max(0.0, seconds)

    clock = Clock()
    monkeypatch.setattr(download_module, "time", clock)
    starts = []
    real_download = yt_dlp.YoutubeDL.download

    def timed_download(self, urls):
        starts.append(clock.time())
        return real_download(self, urls)

    monkeypatch.setattr(yt_dlp.YoutubeDL, "download", timed_download)
    _, template, requests = server
    opts = DownloadOptions(enabled=True, url_template=template, min_interval_s=0.3)
    downloader = Downloader(tmp_path, opts)
    ids = ["RateLimit01", "RateLimit02", "RateLimit03"]
    for vid in ids:
        assert downloader.fetch(vid).status == "downloaded"
    assert len(starts) == 3 and len(requests) >= 3
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(gap >= 0.3 - 1e-9 for gap in gaps), gaps
    assert downloader.starts == starts
    # the last start is in the videos folder's slot file, for the next process
    assert float((tmp_path / SLOT_FILE).read_text()) == starts[-1]
    # a start in the future (another machine's clock ahead) delays by one interval, not more
    (tmp_path / SLOT_FILE).write_text("1e12\n")
    before = clock.now
    assert downloader._wait_for_slot() == pytest.approx(before + 0.3)


# Each child downloads its IDs from the test server once the shared go time has come, and prints
# the wall-clock starts its downloader claimed.
FETCH_CHILD = """
import json, sys, time
from eevflow.download import Downloader, DownloadOptions
dest, template, go, ids = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4:]
d = Downloader(dest, DownloadOptions(enabled=True, url_template=template, min_interval_s=0.5))
time.sleep(max(0.0, go - time.time()))
results = [d.fetch(v) for v in ids]
print(json.dumps({"status": [r.status for r in results], "starts": d.starts}))
"""


def test_the_rate_limit_holds_across_processes(server, tmp_path):
    """Two processes (two download-check jobs) downloading into one videos folder at the same
    time: all their download starts, together, are min_interval_s apart (the flock'ed slot file);
    each process alone would have started its first download at once."""
    import json
    import subprocess
    import sys

    _, template, requests = server
    dest = tmp_path / "videos"
    go = time.time() + 4.0  # both children are up (imports) by then
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH_CHILD, str(dest), template, repr(go), *ids],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for ids in (["RateLimit01", "RateLimit02"], ["RateLimit03", VID])
    ]
    outs = [child.communicate(timeout=120) for child in children]
    assert [c.returncode for c in children] == [0, 0], [err[-2000:] for _, err in outs]
    got = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert all(g["status"] == ["downloaded", "downloaded"] for g in got), got
    starts = sorted(t for g in got for t in g["starts"])
    assert len(starts) == 4 and starts[0] >= go
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert all(gap >= 0.5 for gap in gaps), gaps
    assert len(requests) >= 4 and sorted(os.listdir(dest)) == sorted(
        [SLOT_FILE, "RateLimit01.mp4", "RateLimit02.mp4", "RateLimit03.mp4", f"{VID}.mp4"]
    )


def test_download_check_downloads_probes_and_records_failures(server, tmp_path):
    """The manifest step end to end: a missing file is downloaded and probed; a 404, a non-YouTube
    ID and a hostile ID each get their own status; nothing lands outside the videos directory."""
    from eevflow.manifest import check_videos

    _, template, requests = server
    ids = [VID, "Missing0000", "clip_001", "../../x"]
    df = check_videos(ids, str(tmp_path), [".mp4"], download=_opts(template, retries=1))
    got = df.set_index("video_id")
    assert got.loc[VID, "status"] == "ok" and got.loc[VID, "source"] == "download"
    assert got.loc[VID, "duration_s"] > 2.5 and got.loc[VID, "has_audio"]
    assert got.loc["Missing0000", "status"] == "download_failed"
    assert "404" in got.loc["Missing0000", "reason"]
    assert got.loc["clip_001", "status"] == "invalid_id"
    assert got.loc["../../x", "status"] == "invalid_id"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{VID}.mp4"]
    assert not any("x" == path.rsplit("/", 1)[-1] for _, path in requests)
    # with downloading off (the default) the same missing file is `missing`, with no request
    requests.clear()
    df = check_videos(["Missing0000"], str(tmp_path), [".mp4"])
    assert df["status"].tolist() == ["missing"] and requests == []


def test_fetch_replaces_a_symlink_never_writes_through_it(server, tmp_path):
    """A link in the videos directory (dangling, or into a shared store) is replaced as a
    directory entry by os.replace: nothing is written at or next to its target."""
    root, template, _ = server
    store, dest = tmp_path / "store", tmp_path / "videos"
    store.mkdir()
    dest.mkdir()
    (store / "shared.mp4").write_bytes(b"shared copy")
    (dest / f"{VID}.mp4").symlink_to(store / "shared.mp4")
    (dest / "RateLimit01.mp4").symlink_to(store / "gone.mp4")  # dangling
    downloader = Downloader(dest, _opts(template))
    for vid in (VID, "RateLimit01"):
        result = downloader.fetch(vid)
        assert result.status == "downloaded", result.reason
        assert not os.path.islink(result.path)
        assert open(result.path, "rb").read() == (root / f"{vid}.mp4").read_bytes()
    assert sorted(os.listdir(store)) == ["shared.mp4"]
    assert (store / "shared.mp4").read_bytes() == b"shared copy"


def test_download_check_leaves_a_live_symlink_alone(server, tmp_path):
    """A link to a file counts as present: no request, the store's file is probed in place."""
    from eevflow.manifest import check_videos

    root, template, requests = server
    store, dest = tmp_path / "store", tmp_path / "videos"
    store.mkdir()
    dest.mkdir()
    shutil.copyfile(root / f"{VID}.mp4", store / "shared.mp4")
    (dest / f"{VID}.mp4").symlink_to(store / "shared.mp4")
    df = check_videos([VID], str(dest), [".mp4"], download=_opts(template))
    assert df["status"].tolist() == ["ok"] and df["source"].tolist() == ["local"]
    assert df["path"].tolist() == [os.path.join(dest, f"{VID}.mp4")]
    assert requests == [] and os.path.islink(dest / f"{VID}.mp4")


def test_a_symlink_at_the_slot_file_is_refused_with_a_clear_error(tmp_path):
    (tmp_path / "elsewhere").write_text("keep")
    (tmp_path / SLOT_FILE).symlink_to(tmp_path / "elsewhere")
    opts = DownloadOptions(min_interval_s=0.1)
    with pytest.raises(RuntimeError, match=r"download rate limit: cannot open .*\.download-slot"):
        Downloader(tmp_path, opts)._wait_for_slot()
    assert (tmp_path / "elsewhere").read_text() == "keep"
