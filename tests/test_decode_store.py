"""``decode.store``: raw, compressed (JPEG per row in Arrow + 16-bit FLAC) and none (decoded again
by the extract job) give the same rows, the compressed frames and sound stay close to raw (and
exact in the index each frame shows), and missing or corrupt stored media fail naming the video;
on real H.264 + AAC files written here."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pyarrow as pa
import pytest

import badmedia
from conftest import write_video
from eevflow.decoded_shard import (
    DecodeError,
    decode_shard,
    iter_shard,
    load_video,
    read_index,
    read_shard_index,
    video_files,
)
from eevflow.features import build_extractor
from eevflow.media_store import (
    BATCH_ROWS,
    JpegFrames,
    JpegSink,
    StoredMediaError,
    load_audio,
    save_audio,
    to_int16,
)

STORES = ("raw", "compressed", "none")
SIZE = (160, 120)  # 224 x 168 once decoded: 28 rows of padding above and below
FPS = 12
SECONDS = 12.0  # 72 rows at 6 Hz: more than one JPEG batch (64 rows)
ROWS = (np.arange(int(SECONDS * 6)) * 1e6 / 6).round().astype(np.int64)


def textured_code_frame(i: int) -> np.ndarray:
    """Frame ``i``: its index as stripes across the middle (``badmedia.read_code`` reads it),
    over a seeded smooth texture that moves with ``i`` (what JPEG has to work on)."""
    w, h = SIZE
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(i)
    tex = 110 + 60 * np.sin((x + 3 * i) / 9.0) * np.cos(y / 7.0) + rng.normal(0, 6, (h, w))
    img = np.repeat(np.clip(tex, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    img[..., 0] = np.clip(img[..., 0].astype(int) + 40, 0, 255)  # some colour
    img[h // 4 : 3 * h // 4] = badmedia.code_frame(i, SIZE)[h // 4 : 3 * h // 4]
    return img


def shown(frames) -> np.ndarray:
    return np.array([badmedia.read_code(f[28:-28]) for f in np.asarray(frames)])


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two real clips (one with an AAC tone and noise, one without audio), each decoded into a
    shard of each store."""
    d = tmp_path_factory.mktemp("stores")
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.05, int(SECONDS * 22050) + 1).astype(np.float32)
    a = write_video(d / "a.mp4", seconds=SECONDS, fps=FPS, size=SIZE,
                    frame_fn=textured_code_frame,
                    audio_fn=lambda t: 0.4 * np.sin(2 * np.pi * 440 * t) + noise[: len(t)])
    b = d / "b.mp4"
    badmedia.write_no_audio(b)
    videos = [("vid_a", str(a)), ("vid_b", str(b))]
    stamps = {"vid_a": ROWS, "vid_b": ROWS[:12]}
    out = {}
    for store in STORES:
        out[store] = d / store / "shard-000"
        decode_shard(out[store], videos, stamps, store=store)
    return out, dict(videos)


def test_every_store_gives_the_same_rows_timestamps_and_frame_indices(shards):
    out, _ = shards
    infos = {s: [dataclasses.asdict(v.info) for v in iter_shard(out[s], "visual")] for s in STORES}
    assert infos["raw"] == infos["compressed"] == infos["none"]
    assert [i["video_id"] for i in infos["raw"]] == ["vid_a", "vid_b"]
    assert infos["raw"][0]["frame_indices"] == list(range(0, 2 * len(ROWS), 2))
    index = {s: read_shard_index(out[s]) for s in STORES}
    assert {s: i["store"] for s, i in index.items()} == {s: s for s in STORES}
    rows = {s: [(r["video_id"], r["rows"], r["n_samples"]) for r in i["videos"]]
            for s, i in index.items()}
    assert rows["raw"] == rows["compressed"] == rows["none"]
    assert index["compressed"]["jpeg_quality"] == 90
    assert index["compressed"]["jpeg_subsampling"] == "4:2:0"
    kept = {s: sorted(p.name for p in (out[s] / "vid_a").iterdir()) for s in STORES}
    assert kept == {"raw": ["audio.npy", "frames.npy", "meta.json"],
                    "compressed": ["audio.flac", "frames.arrow", "meta.json"],
                    "none": ["meta.json"]}


def test_compressed_frames_are_close_to_raw_and_exact_in_the_index_each_shows(shards):
    out, _ = shards
    raw = load_video(out["raw"], "vid_a", "visual").frames
    jpeg = load_video(out["compressed"], "vid_a", "visual").frames
    assert isinstance(jpeg, JpegFrames) and len(jpeg) == len(ROWS)
    assert jpeg.shape == raw.shape and jpeg.dtype == np.uint8 and jpeg.ndim == 4
    want = np.arange(0, 2 * len(ROWS), 2) % 256
    np.testing.assert_array_equal(shown(raw), want)
    np.testing.assert_array_equal(shown(jpeg), want)  # the pattern survives JPEG, every row
    diff = np.abs(np.asarray(jpeg).astype(np.int16) - np.asarray(raw).astype(np.int16))
    assert diff.mean() < 3.0, diff.mean()  # q90: a few grey levels on textured content
    assert np.percentile(diff, 99) < 25, np.percentile(diff, 99)
    assert diff.mean() > 0  # it is lossy: the comparison above compares something
    # the padding stays black (JPEG's blocks at the picture's edge aside)
    assert np.asarray(jpeg)[:, :20].max() < 12
    # indexing as the array it stands for, decoding only the rows asked for
    np.testing.assert_array_equal(jpeg[5], np.asarray(jpeg)[5])
    np.testing.assert_array_equal(jpeg[3:70:7], np.asarray(jpeg)[3:70:7])
    np.testing.assert_array_equal(jpeg[[1, 66]], np.asarray(jpeg)[[1, 66]])
    np.testing.assert_array_equal(jpeg[:, 100, 100, 1], np.asarray(jpeg)[:, 100, 100, 1])
    assert jpeg[:0].shape == (0, 224, 224, 3) and jpeg[-1].shape == (224, 224, 3)


def test_flac_sound_is_the_float_track_within_int16_quantisation(shards):
    out, _ = shards
    raw = load_video(out["raw"], "vid_a", "audio").audio
    flac = load_video(out["compressed"], "vid_a", "audio").audio
    assert flac.dtype == np.float32 and flac.shape == raw.shape
    assert np.abs(raw).max() > 0.3 and np.abs(raw).max() < 1.0
    err = np.abs(flac.astype(np.float64) - raw)
    assert err.max() <= 2.0**-16 + 1e-9, err.max()
    assert err.max() > 0  # quantised, not the float track itself
    silent = load_video(out["compressed"], "vid_b", "audio")
    assert silent.info.audio_source == "silence" and not silent.audio.any()
    assert len(silent.audio) == silent.info.n_samples > 0


def test_16_bit_samples_clip_outside_the_range_and_round_trip(tmp_path):
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -1.5, 2.0**-16 * 0.4], np.float32)
    q, clipped = to_int16(x)
    assert q.tolist() == [0, 16384, -16384, 32767, -32768, 32767, -32768, 0] and clipped == 3  # 1.0 too
    assert save_audio("compressed", tmp_path / "a.flac", x, 16000) == 3
    back = load_audio(tmp_path / "a.flac", "v", len(x))
    np.testing.assert_array_equal(back, q / 32768.0)
    # no samples: an empty file, read back as an empty track
    save_audio("compressed", tmp_path / "e.flac", np.zeros(0, np.float32), 16000)
    assert load_audio(tmp_path / "e.flac", "v", 0).shape == (0,)


def test_none_gives_the_embeddings_of_raw_through_the_extract_path(shards):
    """decode.store none decodes each video again in the extract job: the same frames and sound
    as the raw store, so the same embeddings, bit for bit."""
    out, videos = shards
    effnet = build_extractor("effnet_lite0", {"backend": "efficientnet_lite0", "batch_size": 16})
    logmel = build_extractor("logmel64", {"backend": "logmel", "n_mels": 64})
    for ext in (effnet, logmel):
        emb = {}
        for store in ("raw", "none", "compressed"):
            emb[store] = {v.info.video_id: ext.embed(v) for v in iter_shard(
                out[store], ext.modality, store=store, sources=list(videos.values()))}
        for vid in ("vid_a", "vid_b"):
            np.testing.assert_array_equal(emb["none"][vid], emb["raw"][vid])
            a, b = emb["raw"][vid].astype(np.float64), emb["compressed"][vid].astype(np.float64)
            cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1),
                                              1e-12)
            assert np.median(cos) > 0.99, (ext.name, vid, np.median(cos))


def test_a_shard_of_another_store_is_refused_and_none_reads_only_its_inputs(shards, tmp_path):
    out, videos = shards
    with pytest.raises(ValueError, match=r"decoded with decode.store compressed, the config "
                                         r"says raw"):
        next(iter_shard(out["compressed"], "visual", store="raw"))
    with pytest.raises(ValueError, match="vid_a: its source .*a.mp4 is not among the job's input"):
        next(iter_shard(out["none"], "audio", store="none", sources=[videos["vid_b"]]))


def test_missing_or_corrupt_stored_media_fail_naming_the_video(shards, tmp_path):
    out, videos = shards
    for store in ("raw", "compressed"):
        shard = tmp_path / store
        shutil.copytree(out[store], shard)
        files = video_files(shard, "vid_a", store)
        files["frames"].unlink()
        with pytest.raises(StoredMediaError, match=r"vid_a: its decoded frames .* are missing"):
            next(iter_shard(shard, "visual"))
        files["audio"].write_bytes(b"not audio at all" * 50)
        with pytest.raises(StoredMediaError, match=r"vid_a: its decoded sound .* unreadable"):
            next(iter_shard(shard, "audio"))
    garbage = tmp_path / "compressed" / "vid_a" / "frames.arrow"
    garbage.write_bytes(b"\x00" * 4000)
    with pytest.raises(StoredMediaError, match=r"vid_a: its decoded frames .* are unreadable"):
        next(iter_shard(tmp_path / "compressed", "visual"))
    # a JPEG that no longer decodes: found when its batch is read, naming the video and row
    table = pa.ipc.open_file(pa.memory_map(str(video_files(out["compressed"], "vid_a",
                                                           "compressed")["frames"]))).read_all()
    blobs = table.column("jpeg").to_pylist()
    blobs[BATCH_ROWS + 2] = blobs[BATCH_ROWS + 2][:40]
    with pa.OSFile(str(garbage), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(pa.table({"jpeg": pa.array(blobs, pa.binary())}, schema=table.schema))
    frames = next(iter_shard(tmp_path / "compressed", "visual")).frames
    assert frames[:BATCH_ROWS].shape[0] == BATCH_ROWS  # rows before it still read (lazily)
    with pytest.raises(StoredMediaError, match=rf"vid_a: row {BATCH_ROWS + 2} of .* does not "
                                               "decode as a 224 px JPEG"):
        frames[BATCH_ROWS:]
    # a frames file of the wrong length
    with pa.OSFile(str(garbage), "wb") as f, pa.ipc.new_file(f, table.schema) as w:
        w.write_table(table.slice(0, 10))
    with pytest.raises(StoredMediaError, match="vid_a: .* holds 10 frames, its metadata 72"):
        next(iter_shard(tmp_path / "compressed", "visual"))
    # store none: the source video is gone
    shard = tmp_path / "none"
    shutil.copytree(out["none"], shard)
    index = json.loads((shard / "index.json").read_text())
    index["videos"][0]["source"] = str(tmp_path / "gone.mp4")
    (shard / "index.json").write_text(json.dumps(index))
    with pytest.raises(DecodeError, match=r"vid_a \(.*gone.mp4\): decode failed"):
        next(iter_shard(shard, "visual"))


def test_a_failing_decode_leaves_no_finished_looking_shard_or_file(shards, tmp_path):
    _, videos = shards
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    for store in STORES:
        out = tmp_path / store
        with pytest.raises(DecodeError, match=r"vid_bad \(.*garbage\.mp4\): decode failed"):
            decode_shard(out, [("vid_a", videos["vid_a"]), ("vid_bad", str(garbage))],
                         {"vid_a": ROWS, "vid_bad": ROWS}, store=store)
        with pytest.raises(FileNotFoundError, match="did not finish"):
            read_index(out)
        assert not (out / "vid_bad").exists() or not any((out / "vid_bad").iterdir())
    # a JPEG writer that fails part way leaves neither its file nor a temporary one
    sink = JpegSink(tmp_path / "v" / "frames.arrow")
    square = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(RuntimeError, match="interrupted"):
        with sink.open(3, 32):
            sink.write(0, 2, sink.convert(0, 2, square, 0, 0))
            raise RuntimeError("interrupted")
    assert list((tmp_path / "v").iterdir()) == []
    # rows handed over out of order, or too few, are refused
    with pytest.raises(RuntimeError, match="rows 2:3 arrived after row 0"):
        with sink.open(3, 32):
            sink.write(2, 3, sink.convert(2, 3, square, 0, 0))
    with pytest.raises(RuntimeError, match="2 of 3 rows were written"):
        with sink.open(3, 32):
            sink.write(0, 2, sink.convert(0, 2, square, 0, 0))
    assert list((tmp_path / "v").iterdir()) == []


def test_lower_quality_and_4_4_4_change_the_file_as_asked(shards, tmp_path):
    _, videos = shards
    sizes = {}
    for q, sub in ((50, "4:2:0"), (90, "4:2:0"), (90, "4:4:4")):
        out = tmp_path / f"q{q}-{sub.replace(':', '')}"
        decode_shard(out, [("vid_a", videos["vid_a"])], {"vid_a": ROWS[:12]},
                     store="compressed", jpeg_quality=q, jpeg_subsampling=sub)
        sizes[q, sub] = video_files(out, "vid_a", "compressed")["frames"].stat().st_size
        np.testing.assert_array_equal(shown(load_video(out, "vid_a", "visual").frames),
                                      np.arange(0, 24, 2))
    assert sizes[50, "4:2:0"] < sizes[90, "4:2:0"] < sizes[90, "4:4:4"]
    with pytest.raises(ValueError, match="jpeg_subsampling must be one of"):
        JpegSink(tmp_path / "x.arrow", 90, "4:1:1")
    with pytest.raises(ValueError, match="decode.store must be one of"):
        decode_shard(tmp_path / "bad", [], {}, store="zip")
