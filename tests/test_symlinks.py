"""Video paths that are symlinks: a dataset folder of links into a shared store is accepted; only
the ID and the link's own location are validated, and a dangling link is reported as such."""

from __future__ import annotations

import os

import pytest
from badmedia import write_good

from eevflow.ids import InvalidVideoId, video_path
from eevflow.manifest import check_videos, dangling_links, find_video

EXTS = [".mp4", ".mkv"]


@pytest.fixture
def layout(tmp_path):
    """``store/`` holds the real files (elsewhere on the machine); ``videos/`` only links."""
    store, videos = tmp_path / "shared" / "store", tmp_path / "dataset" / "videos"
    store.mkdir(parents=True)
    videos.mkdir(parents=True)
    (store / "a.mp4").write_bytes(b"a")
    (store / "b.mkv").write_bytes(b"b")
    return store, videos


def test_absolute_relative_and_chained_links_are_found_as_the_link(layout):
    store, videos = layout
    (videos / "abs.mp4").symlink_to(store / "a.mp4")
    (videos / "rel.mkv").symlink_to(os.path.join("..", "..", "shared", "store", "b.mkv"))
    (store / "hop.mp4").symlink_to("a.mp4")  # a link in the store to a file next to it
    (videos / "chain.mp4").symlink_to(store / "hop.mp4")
    for vid, ext in (("abs", ".mp4"), ("rel", ".mkv"), ("chain", ".mp4")):
        link = os.path.join(videos, vid + ext)
        assert video_path(videos, vid, ext) == link
        assert find_video(str(videos), vid, EXTS) == link  # the link, not the resolved target
        assert os.path.realpath(link).startswith(str(store))
        assert dangling_links(str(videos), vid, EXTS) == []


def test_a_symlinked_videos_dir_with_linked_files(layout, tmp_path):
    store, videos = layout
    (videos / "abs.mp4").symlink_to(store / "a.mp4")
    (videos / "plain.mp4").write_bytes(b"p")
    alias = tmp_path / "alias"
    alias.symlink_to(videos, target_is_directory=True)
    assert find_video(str(alias), "abs", EXTS) == os.path.join(alias, "abs.mp4")
    assert find_video(str(alias), "plain", EXTS) == os.path.join(alias, "plain.mp4")
    assert find_video(str(alias), "none", EXTS) is None


@pytest.mark.parametrize("bad", ["../x", "a/b", "..", ".", ".hidden", "/etc/passwd", "a\\b", ""])
def test_the_id_still_cannot_escape(layout, bad):
    store, videos = layout
    (videos / "a").symlink_to(store, target_is_directory=True)  # a linked subdirectory
    (videos.parent / "x.mp4").write_bytes(b"outside")
    with pytest.raises(InvalidVideoId):
        video_path(videos, bad)
    with pytest.raises(InvalidVideoId):
        find_video(str(videos), bad, EXTS)
    assert check_videos([bad], str(videos), EXTS)["status"].tolist() == ["invalid_id"]


@pytest.mark.parametrize("ext", ["/../../x.mp4", "/b.mkv", "/../a.mp4"])
def test_an_extension_with_a_separator_cannot_leave_the_folder(layout, ext):
    store, videos = layout
    (videos / "a").symlink_to(store, target_is_directory=True)
    with pytest.raises(InvalidVideoId):
        video_path(videos, "a", ext)


@pytest.mark.parametrize("target", ["missing", "directory", "loop", "chain"])
def test_a_dangling_link_is_missing_and_says_where_it_points(layout, target):
    store, videos = layout
    link = videos / "gone.mp4"
    if target == "missing":
        link.symlink_to(store / "deleted.mp4")
        shown = str(store / "deleted.mp4")
    elif target == "directory":
        link.symlink_to(store, target_is_directory=True)
        shown = str(store)
    elif target == "loop":
        link.symlink_to("gone.mp4")
        shown = "gone.mp4"
    else:
        (store / "hop.mp4").symlink_to("deleted.mp4")
        link.symlink_to(store / "hop.mp4")
        shown = str(store / "hop.mp4")
    assert find_video(str(videos), "gone", EXTS) is None
    [why] = dangling_links(str(videos), "gone", EXTS)
    assert why.startswith(f"{link} -> {shown}")
    if target == "chain":  # the end of the chain is shown too
        assert str(store / "deleted.mp4") in why
    row = check_videos(["gone"], str(videos), EXTS).iloc[0]
    assert row["status"] == "missing"
    assert "dangling symlink" in row["reason"] and f"{link} -> {shown}" in row["reason"]
    # a plain absent file says nothing about links
    plain = check_videos(["absent"], str(videos), EXTS).iloc[0]
    assert plain["status"] == "missing" and "symlink" not in plain["reason"]


def test_a_linked_real_video_probes_ok(layout, tmp_path):
    store, videos = layout
    write_good(store / "real.mp4")
    (videos / "clip_001.mp4").symlink_to(store / "real.mp4")
    (videos / "clip_002.mp4").symlink_to(os.path.relpath(store / "real.mp4", videos))
    alias = tmp_path / "alias"
    alias.symlink_to(videos, target_is_directory=True)
    for where in (videos, alias):
        df = check_videos(["clip_001", "clip_002"], str(where), EXTS).set_index("video_id")
        assert df["status"].tolist() == ["ok", "ok"], df["reason"].tolist()
        assert df.loc["clip_001", "path"] == os.path.join(where, "clip_001.mp4")
        assert df.loc["clip_002", "path"] == os.path.join(where, "clip_002.mp4")
        assert (df["duration_s"] > 2.5).all() and df["has_audio"].all()
