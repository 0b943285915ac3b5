import numpy as np
import pyarrow.parquet as pq
import pytest

from eevflow.shards import iter_videos, read_shards, shard_metadata, shard_of, write_shard


def test_round_trip_row_group_per_video(tmp_path):
    rng = np.random.default_rng(0)
    videos = [
        (f"vid{i}", np.arange(n, dtype=np.int64) * 166667, rng.normal(size=(n, 8)).astype(np.float32))
        for i, n in enumerate([5, 1, 7])
    ]
    meta = {"extractor": "x", "dim": "8", "version": "1", "modality": "audio"}
    path = tmp_path / "shard-000.parquet"
    assert write_shard(path, iter(videos), 8, meta) == 3
    pf = pq.ParquetFile(path)
    assert pf.num_row_groups == 3
    emb_type = pf.schema_arrow.field("embedding").type
    assert emb_type.list_size == 8 and str(emb_type.value_type) == "float"
    assert shard_metadata(path) == meta
    back = list(iter_videos(path))
    for (v, ts, e), (v2, ts2, e2) in zip(videos, back):
        assert v == v2 and np.array_equal(ts, ts2) and np.array_equal(e, e2)
    assert pf.read_row_group(2).column("video_id")[0].as_py() == "vid2"


def test_empty_shard_and_shape_check(tmp_path):
    path = tmp_path / "empty.parquet"
    assert write_shard(path, iter([]), 4, {"extractor": "x"}) == 0
    assert read_shards([path]) == {}
    with pytest.raises(ValueError, match="does not match"):
        write_shard(tmp_path / "bad.parquet", iter([("v", np.arange(3), np.zeros((2, 4)))]), 4, {})
    assert not (tmp_path / "bad.parquet").exists()  # failed writes leave nothing behind
    assert not list(tmp_path.glob(".*tmp*"))


def test_shard_assignment_is_stable():
    assert shard_of("abc", 4) == shard_of("abc", 4)
    counts = np.bincount([shard_of(f"v{i}", 4) for i in range(400)], minlength=4)
    assert counts.min() > 60
