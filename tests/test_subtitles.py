"""Subtitles: finding a video's files, parsing .vtt (webvtt-py) and .srt (srt) written here with
known cue times, aligning cues to the 6 Hz rows, yt-dlp's subtitle options, and the
``text_subtitles`` backend on tiny SavedModels with BERT's signatures (a hashing preprocessor, an
input-dependent encoder) placed at the real handles' TF Hub cache folders, loaded offline."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest

from eevflow.download import DownloadOptions, Downloader
from eevflow.subtitles import Cue, SubtitleError, align, candidates, find_subtitles, parse_cues

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_hub")
pytest.importorskip("tensorflow_text")

from test_tfhub import _save  # noqa: E402

from eevflow.features import build_extractor  # noqa: E402
from eevflow.features.hub_handles import HubLoadError  # noqa: E402
from eevflow.features.text_subtitles_options import (  # noqa: E402
    BERT_BASE_URL,
    BERT_PREPROCESS_URL,
)

VTT = """WEBVTT

00:00:00.500 --> 00:00:01.500
<v Anna>Hello <i>there</i>

00:00:02.000 --> 00:00:03.000
General Kenobi!
  second   line

00:00:05.000 --> 00:00:06.000
Hello there
"""
SRT = """1
00:00:00,500 --> 00:00:01,500
{\\an8}Hello <b>there</b>

2
00:00:02,000 --> 00:00:03,000
General Kenobi!
second line

3
00:00:05,000 --> 00:00:06,000
Hello there
"""
# YouTube's automatic captions as yt-dlp writes them: rolling cues and 10 ms repeats
AUTO_VTT = """WEBVTT
Kind: captions
Language: en

00:00:00.000 --> 00:00:02.000 align:start position:0%
hello<00:00:00.500><c> world</c>

00:00:02.000 --> 00:00:02.010 align:start position:0%
hello world

00:00:02.010 --> 00:00:04.000 align:start position:0%
hello world
how<00:00:02.500><c> are</c><00:00:03.000><c> you</c>

00:00:04.000 --> 00:00:04.010 align:start position:0%
how are you

00:00:04.010 --> 00:00:06.000 align:start position:0%
how are you
fine<00:00:04.500><c> thanks</c>
"""
TS = (np.arange(48) * 1e6 / 6).round().astype(np.int64)  # 8 s at 6 Hz
# rows -> cue with window_s 0.25 (by hand: on screen, else within 0.25 s of a start or end)
EXPECTED = np.full(48, -1)
EXPECTED[2:11] = 0  # 0.333 s (0.167 before) .. 1.667 s (0.167 after the end at 1.5)
EXPECTED[11:20] = 1  # 1.833 (0.167 before 2.0) .. 3.167
EXPECTED[29:38] = 2  # 4.833 .. 6.167
TEXTS = ["Hello there", "General Kenobi! second line", "Hello there"]
VID = "subvid_0001"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("name,text", [("a.vtt", VTT), ("a.srt", SRT)])
def test_cues_parse_and_rows_align_with_the_cue_times(tmp_path, name, text):
    cues = parse_cues(_write(tmp_path / name, text))
    assert [(c.start_us, c.end_us) for c in cues] == [(500000, 1500000), (2000000, 3000000),
                                                      (5000000, 6000000)]
    assert [c.text for c in cues] == TEXTS
    np.testing.assert_array_equal(align(cues, TS, 0.25), EXPECTED)
    on_screen = align(cues, TS, 0.0)  # window 0: only rows with start <= t < end
    assert np.flatnonzero(on_screen == 0).tolist() == [3, 4, 5, 6, 7, 8]
    assert np.flatnonzero(on_screen == 1).tolist() == list(range(12, 18))
    assert (align(cues, TS, 10.0) >= 0).all()


def test_overlapping_cues_take_the_latest_and_ties_the_earlier():
    cues = [Cue(0, 2_000_000, "a"), Cue(1_000_000, 3_000_000, "b"), Cue(5_000_000, 6_000_000, "c")]
    got = align(cues, [500_000, 1_500_000, 2_500_000, 4_000_000, 4_100_000, 7_000_000, 7_000_001], 1.0)
    # 4.0 s is 1 s after b's end and 1 s before c's start: the earlier, b
    assert got.tolist() == [0, 1, 1, 1, 2, 2, -1]  # 7.0 s: 1 s after c, inclusive
    assert align([], [0, 1], 1.0).tolist() == [-1, -1]


def test_auto_caption_rolling_duplicates_are_dropped(tmp_path):
    cues = parse_cues(_write(tmp_path / "auto.en.vtt", AUTO_VTT))
    assert [(c.start_us, c.end_us, c.text) for c in cues] == [
        (0, 2_010_000, "hello world"), (2_010_000, 4_010_000, "how are you"),
        (4_010_000, 6_000_000, "fine thanks")]


def test_file_preference_and_unreadable_files(tmp_path):
    assert find_subtitles(str(tmp_path), VID, ["en", "de"]) is None
    for name in (f"{VID}.vtt", f"{VID}.de.srt", f"{VID}.en.vtt", "other.en.vtt"):
        _write(tmp_path / name, VTT)
    assert find_subtitles(str(tmp_path), VID, ["en", "de"]).endswith(f"{VID}.en.vtt")
    assert find_subtitles(str(tmp_path), VID, ["fr", "de"]).endswith(f"{VID}.de.srt")
    assert find_subtitles(str(tmp_path), VID, ["fr"]).endswith(f"{VID}.vtt")
    assert [p.rsplit("/", 1)[1] for p in candidates("d", VID, ["en"])] == [
        f"{VID}.en.vtt", f"{VID}.en.srt", f"{VID}.vtt", f"{VID}.srt"]
    with pytest.raises(ValueError, match="subtitle language"):
        candidates("d", VID, ["../en"])
    bad = _write(tmp_path / "bad.vtt", "not a webvtt file\n00:00 -> nonsense\n")
    with pytest.raises(SubtitleError, match="bad.vtt"):
        parse_cues(bad)
    broken = tmp_path / "bad.srt"
    broken.write_bytes(b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfe oops\n")
    with pytest.raises(SubtitleError, match="bad.srt"):
        parse_cues(str(broken))


# --------------------------------------------------------------------------- yt-dlp

def test_download_subtitle_options_and_placement(tmp_path):
    off = Downloader(tmp_path, DownloadOptions())._params(str(tmp_path))
    assert (off["writesubtitles"], off["writeautomaticsub"]) == (False, False)
    opts = DownloadOptions.from_config({"enabled": True, "subtitles": True,
                                        "subtitles_languages": ["en", "de"]})
    dl = Downloader(tmp_path / "videos", opts)
    p = dl._params(str(tmp_path))
    assert (p["writesubtitles"], p["writeautomaticsub"], p["subtitleslangs"],
            p["subtitlesformat"]) == (True, True, ["en", "de"], "vtt")
    import yt_dlp

    # yt-dlp's own choice with these options: uploaded subtitles first, else automatic captions
    with yt_dlp.YoutubeDL({**p, "logger": None}) as ydl:
        chosen = ydl.process_subtitles(
            "x", {"en": [{"ext": "vtt", "url": "u1"}]},
            {"en": [{"ext": "vtt", "url": "a1"}], "de": [{"ext": "srv3", "url": "a2"},
                                                         {"ext": "vtt", "url": "a3"}]})
    assert {k: v["url"] for k, v in chosen.items()} == {"en": "u1", "de": "a3"}
    tmp = tmp_path / "dl"
    tmp.mkdir()
    for name in ("video.en.vtt", "video.de.vtt", "notes.vtt"):
        _write(tmp / name, VTT)
    (tmp_path / "videos").mkdir()
    dl._place_subtitles(str(tmp), sorted(f.name for f in tmp.iterdir()),
                        str(tmp_path / "videos" / f"{VID}.mp4"))
    assert sorted(f.name for f in (tmp_path / "videos").iterdir()) == [
        f"{VID}.de.vtt", f"{VID}.en.vtt"]
    with pytest.raises(ValueError, match="subtitles_languages"):
        DownloadOptions.from_config({"subtitles_languages": ["en us"]})
    with pytest.raises(ValueError, match="subtitles_languages"):
        DownloadOptions.from_config({"subtitles_languages": []})


# --------------------------------------------------------------------------- the backend

class FakePreprocess(tf.Module):
    """bert_en_uncased_preprocess's call: strings [B] -> input_word_ids, input_mask,
    input_type_ids [B, 128] int32 ([CLS] 101, hashed lower-cased words, [SEP] 102)."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, text):
        words = tf.strings.split(tf.strings.lower(text))
        ids = tf.cast(tf.strings.to_hash_bucket_fast(words, 30000), tf.int32)[:, :126] + 1000
        n = tf.shape(text)[0]
        ends = tf.RaggedTensor.from_tensor(tf.fill([n, 1], 101))
        ids = tf.concat([ends, ids, tf.RaggedTensor.from_tensor(tf.fill([n, 1], 102))], 1)
        dense = ids.to_tensor(0, shape=[None, 128])
        return {"input_word_ids": dense, "input_mask": tf.cast(dense > 0, tf.int32),
                "input_type_ids": tf.zeros_like(dense)}


class FakeBert(tf.Module):
    """BERT's call: ``({input_word_ids, input_mask, input_type_ids}, training) ->
    {pooled_output [B, 768], sequence_output [B, 128, 768]}``, depending on the words."""

    def __init__(self):
        super().__init__()
        self.table = tf.Variable(tf.random.stateless_normal([997, 768], seed=[1, 2]))
        self.w = tf.Variable(tf.random.stateless_normal([768, 768], seed=[3, 4]) * 0.05)

    @tf.function
    def __call__(self, inputs, training=False):
        mask = tf.cast(inputs["input_mask"], tf.float32)
        seq = tf.gather(self.table, inputs["input_word_ids"] % 997) * mask[..., None]
        mean = tf.reduce_sum(seq, 1) / tf.reduce_sum(mask, 1, keepdims=True)
        return {"pooled_output": tf.tanh(mean @ self.w), "sequence_output": seq}


@pytest.fixture(scope="module")
def bert_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("bert")
    spec = {k: tf.TensorSpec([None, 128], tf.int32)
            for k in ("input_word_ids", "input_mask", "input_type_ids")}
    return {
        BERT_PREPROCESS_URL: _save(FakePreprocess(), root / "preprocess"),
        BERT_BASE_URL: _save(FakeBert(), root / "bert", ((spec,), {"training": False}),
                             ((spec,), {"training": True})),
    }


def _cache_dir(cache, url):
    return cache / hashlib.sha1(url.encode()).hexdigest()


@pytest.fixture()
def hub(monkeypatch, tmp_path, bert_models):
    """The models at the real handles' TF Hub cache folders; the network refused."""
    import shutil

    import requests

    cache = tmp_path / "tfhub_cache"
    for url, path in bert_models.items():
        shutil.copytree(path, _cache_dir(cache, url))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    monkeypatch.setenv("EEVFLOW_HUB_OFFLINE", "1")
    monkeypatch.delenv("TFHUB_MODEL_LOAD_FORMAT", raising=False)

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", refuse)
    return cache


def _split_files(tmp_path, ids):
    labels = tmp_path / "labels.parquet"
    pd.DataFrame({"video_id": np.repeat(ids, len(TS)), "timestamp_us": np.tile(TS, len(ids))}
                 ).to_parquet(labels)
    manifest = tmp_path / "manifest.parquet"
    pd.DataFrame({"video_id": ids}).to_parquet(manifest)
    return labels, manifest


def test_backend_embeds_each_row_line_in_row_order(hub, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    _write(videos / f"{VID}.en.vtt", VTT)
    _write(videos / "other_vid02.srt", SRT)
    labels, manifest = _split_files(tmp_path, [VID, "nosubs_0003", "other_vid02"])
    ext = build_extractor("subs", {"backend": "text_subtitles", "window_s": 0.25,
                                   "batch_size": 2})
    assert (ext.dim, ext.modality, ext.reads_media) == (769, "text", False)
    rows = list(ext.subtitle_videos(labels, manifest, str(videos)))
    assert [r.info.video_id for r in rows] == [VID, "nosubs_0003", "other_vid02"]
    assert list(ext.no_subtitles) == ["nosubs_0003"]
    out = [ext.embed(r) for r in rows]
    for emb in out:
        assert emb.shape == (48, 769) and emb.dtype == np.float32
    vtt, none, srt = out
    np.testing.assert_array_equal(vtt[:, 768], (EXPECTED >= 0).astype(np.float32))
    assert not vtt[EXPECTED < 0].any() and not none.any()
    line0, line1 = vtt[3], vtt[12]
    assert np.abs(line0[:768]).sum() > 1 and not np.allclose(line0, line1)
    for k, cue in enumerate(EXPECTED):  # rows of the same line share its vector, in row order
        if cue >= 0:
            np.testing.assert_array_equal(vtt[k], line1 if cue == 1 else line0)
    np.testing.assert_allclose(srt, vtt, atol=1e-6)  # the same lines at the same times
    # the lines' own embeddings, one model call per distinct line
    np.testing.assert_allclose(ext.embed_lines(["general kenobi! SECOND line"])[0],
                               line1[:768], atol=1e-5)
    skip = build_extractor("subs", {"backend": "text_subtitles", "missing": "skip"})
    assert [r.info.video_id for r in skip.subtitle_videos(labels, manifest, str(videos))] == [
        VID, "other_vid02"]


def test_unreadable_subtitles_error_or_skip(hub, tmp_path):
    _write(tmp_path / f"{VID}.vtt", "garbage\n")
    labels, manifest = _split_files(tmp_path, [VID])
    ext = build_extractor("subs", {"backend": "text_subtitles"})
    with pytest.raises(SubtitleError, match=f"{VID}.vtt.*unreadable: skip"):
        list(ext.subtitle_videos(labels, manifest, str(tmp_path)))
    ext = build_extractor("subs", {"backend": "text_subtitles", "unreadable": "skip"})
    (row,) = list(ext.subtitle_videos(labels, manifest, str(tmp_path)))
    assert not ext.embed(row).any() and list(ext.skipped) == [VID]


def test_decoded_video_reads_subtitles_from_dir(hub, tmp_path):
    from conftest import write_video

    from eevflow.decoding import decode_video, load_decoded

    path = write_video(tmp_path / "clip.mp4", seconds=2.0, fps=12, size=(64, 48))
    files = {k: tmp_path / f"{k}.{e}" for k, e in (("frames", "npy"), ("audio", "npy"),
                                                   ("meta", "json"))}
    decode_video(VID, path, TS[:12], files["frames"], files["audio"], files["meta"])
    video = load_decoded(str(files["meta"]), str(files["frames"]), None)
    _write(tmp_path / f"{VID}.vtt", VTT)
    ext = build_extractor("subs", {"backend": "text_subtitles", "window_s": 0.25,
                                   "dir": str(tmp_path)})
    emb = ext.embed(video)
    assert emb.shape == (12, 769)
    np.testing.assert_array_equal(emb[:, 768], (EXPECTED[:12] >= 0).astype(np.float32))


@pytest.mark.parametrize("which", [BERT_BASE_URL, BERT_PREPROCESS_URL])
def test_missing_or_damaged_model_names_handle_and_folder(hub, tmp_path, which):
    import shutil

    from eevflow.features.precomputed import LabelInfo
    from eevflow.features.text_subtitles import SubtitleRows

    rows = SubtitleRows(LabelInfo(VID, [0, 500_000]), [Cue(0, 1_000_000, "hello")])
    folder = _cache_dir(hub, which)
    shutil.rmtree(folder)
    ext = build_extractor("subs", {"backend": "text_subtitles"})
    with pytest.raises(HubLoadError) as err:
        ext.embed(rows)
    assert which in str(err.value) and str(folder) in str(err.value)
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"not a saved model")
    ext = build_extractor("subs", {"backend": "text_subtitles"})
    with pytest.raises(HubLoadError) as err:
        ext.embed(rows)
    assert which in str(err.value) and str(folder) in str(err.value)


def test_config_schema_accepts_the_backend_and_download_subtitles():
    from pathlib import Path

    import yaml

    from eevflow.config import ConfigError, validate_config

    repo = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((repo / "config.yaml").read_text())
    cfg["extractors"]["subs"] = {"backend": "text_subtitles", "languages": ["en", "de"]}
    cfg.setdefault("download", {})["subtitles"] = True
    out = validate_config(cfg, repo / "schemas" / "config.schema.yaml")
    assert out["extractors"]["subs"]["modality"] == "text"
    assert out["extractors"]["subs"]["handle"] == BERT_BASE_URL
    assert out["download"]["subtitles_languages"] == ["en"]
    cfg["extractors"]["subs"]["languages"] = ["../x"]
    with pytest.raises(ConfigError):
        validate_config(cfg, repo / "schemas" / "config.schema.yaml")


@pytest.mark.integration
def test_the_extract_job_reads_subtitle_files_and_no_media(hub, tmp_path):
    """The real rules: a subtitles extractor's extract job lists the shard's subtitle files as
    inputs, decodes nothing, and writes (rows, 769) in label-row order; a changed file
    re-extracts."""
    import yaml
    from test_workflow import snakemake, tiny_config

    from eevflow.shards import iter_videos

    cfg = tiny_config()
    cfg["n_shards"] = 1
    cfg["extractors"]["subs"] = {"backend": "text_subtitles", "window_s": 0.25}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "results/manifest/train/shard-000.parquet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    vids = pd.read_parquet(tmp_path / "results/manifest/train/shard-000.parquet")["video_id"]
    first = vids.iloc[0]
    _write(tmp_path / cfg["data"]["videos_dir"] / f"{first}.en.vtt", VTT)
    target = "results/features/subs/train/shard-000.parquet"
    proc = snakemake(tmp_path, target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / "results" / "decoded").exists()
    got = {vid: (ts, emb) for vid, ts, emb in iter_videos(tmp_path / target)}
    assert list(got) == list(vids)
    ts, emb = got[first]
    assert emb.shape == (len(ts), 769) and emb.dtype == np.float32
    want = align(parse_cues(str(tmp_path / cfg["data"]["videos_dir"] / f"{first}.en.vtt")),
                 ts, 0.25)
    np.testing.assert_array_equal(emb[:, 768], (want >= 0).astype(np.float32))
    assert (want >= 0).any()
    for vid in vids[1:]:
        assert not got[vid][1].any()  # no subtitle file: zeros and flag 0
    (tmp_path / cfg["data"]["videos_dir"] / f"{first}.en.vtt").write_text(VTT.replace("Kenobi", "Obi-Wan"))
    proc = snakemake(tmp_path, target, "--dry-run")
    assert "rule extract" in proc.stdout + proc.stderr
