"""Job resources grow with the job: longer videos, bigger shards and more epochs ask for more."""

import numpy as np

from eevflow.resources import (
    decode_resources,
    extract_resources,
    extractor_dim,
    predict_resources,
    train_resources,
)
from eevflow.shards import video_rows, write_shard


def test_decode_grows_with_duration_and_covers_the_measured_peak():
    short, long_ = decode_resources(30), decode_resources(600)
    assert long_["mem_mb"] > short["mem_mb"] and long_["runtime"] > short["runtime"]
    assert long_["mem_mb"] >= 1.1 * 1019  # BENCHMARKS.md: a 10-minute 720p decode peaked at 1,019 MiB
    assert decode_resources(float("nan")) == decode_resources(600)  # unknown: 10 minutes


def test_a_decode_shard_asks_for_its_longest_video_memory_and_its_total_time():
    shard = decode_resources([30, 600, 120, float("nan")])
    assert shard["mem_mb"] == decode_resources(600)["mem_mb"]  # one video at a time
    assert shard["runtime"] == 5 + -(-(30 + 600 + 120 + 600) // (4 * 60))
    assert shard["runtime"] > decode_resources(600)["runtime"]
    # 100 EEV videos of 4.2 min: under 2 hours asked for, at least twice the 28 s per 10 min measured
    eev = decode_resources([252] * 100)
    assert 100 * 252 * 28 / 600 / 60 * 2 < eev["runtime"] < 120
    assert decode_resources([]) == {"mem_mb": 600, "runtime": 5}


def test_extract_from_the_decoded_rows_whatever_the_store():
    effnet = {"backend": "efficientnet_lite0"}
    one_hour_rows = 6 * 3600
    small = extract_resources(one_hour_rows // 100, effnet)
    big = extract_resources(one_hour_rows, effnet)
    assert big["runtime"] > small["runtime"]
    assert extract_resources(None, effnet) == big
    # 6 rows/s x 3600 s at 30 rows/s = 12 min of work; asked for twice that, plus 10
    assert big["runtime"] == 10 + 24
    audio = extract_resources(one_hour_rows, {"backend": "musicnn"})
    assert audio["runtime"] == 10 + 48


def test_train_memory_follows_the_longest_video_not_the_split():
    dims = [extractor_dim({"backend": "efficientnet_lite0"}), extractor_dim(
        {"backend": "logmel", "n_mels": 64})]
    assert dims == [1280, 64]
    tcn = {"type": "tcn", "channels": 512, "dilations": [1, 2, 4, 8]}
    a = train_resources(1500, 100 * 1500, dims, 20, tcn)
    b = train_resources(1500, 1600 * 1500, dims, 20, tcn)
    c = train_resources(1500, 1600 * 1500, dims, 40, tcn)
    assert a["mem_mb"] == b["mem_mb"] == c["mem_mb"]  # the split's size: time only
    assert a["runtime"] < b["runtime"] < c["runtime"]
    longer = train_resources(6000, 100 * 1500, dims, 20, tcn)
    assert longer["mem_mb"] > a["mem_mb"] and longer["runtime"] == a["runtime"]
    wider = train_resources(1500, 100 * 1500, [2048, 2048], 20, tcn)
    assert wider["mem_mb"] > a["mem_mb"]
    # not known yet: an hour-long video, and EEV's training set for the time
    assert train_resources(None, None, dims, 20, tcn) == train_resources(
        6 * 3600, 1600 * 1500, dims, 20, tcn)
    # the linear family's normal equations: (3 x 2048)^2 float64, a few copies
    ridge = {"type": "linear", "lags_s": [1.0], "past_means_s": [2.0]}
    assert train_resources(1500, None, [2048], 1, ridge)["mem_mb"] > 1500 + 4 * 6144**2 * 8 / 2**20
    # BENCHMARKS.md "Streaming train and predict": 2,048-D, 1,500 rows, small TCN, <= 1 GB peak
    small = {"type": "tcn", "channels": 8, "dilations": [1, 2]}
    assert train_resources(1500, None, [2048], 1, small)["mem_mb"] >= 1.3 * 1000
    assert train_resources(6 * 600, None, [2048], 20, tcn)["mem_mb"] <= 6000
    assert extractor_dim({"backend": "tfhub_audio", "model": "trill_distilled"}) == 2048
    assert extractor_dim({"backend": "musicnn", "layer": "taggram"}) == 50


def test_predict_memory_follows_the_longest_video():
    tcn = {"type": "tcn"}
    a, b = predict_resources(1500, 10**5, [2048], tcn), predict_resources(1500, 10**7, [2048], tcn)
    assert a["mem_mb"] == b["mem_mb"] and a["runtime"] < b["runtime"]
    assert predict_resources(6000, 10**5, [2048], tcn)["mem_mb"] > a["mem_mb"]
    assert predict_resources(None, None, [2048], tcn)["runtime"] == 60
    assert predict_resources(None, None, [2048], tcn)["mem_mb"] <= 6000


def test_video_rows_reads_the_shard_footers(tmp_path):
    ts = np.arange(5) * 166667
    write_shard(tmp_path / "a.parquet", iter([("a", ts, np.ones((5, 2))),
                                              ("b", ts[:3], np.ones((3, 2)))]), 2, {})
    write_shard(tmp_path / "b.parquet", iter([("c", ts[:4], np.ones((4, 2)))]), 2, {})
    write_shard(tmp_path / "e.parquet", iter([]), 2, {})
    paths = [tmp_path / n for n in ("a.parquet", "b.parquet", "e.parquet")]
    assert video_rows(paths) == (5, 12)
    assert video_rows([*paths, tmp_path / "missing.parquet"]) is None


def test_a_bigru_variant_gets_resources_that_grow_with_its_width():
    small, paper = {"type": "bigru", "hidden_visual": 64}, {"type": "bigru"}
    for fn, args in ((train_resources, (1500, 100 * 1500, [1280, 64], 30)),
                     (predict_resources, (1500, 100 * 1500, [1280, 64]))):
        a, b = fn(*args, small)["mem_mb"], fn(*args, paper)["mem_mb"]
        assert 1500 < a < b < 6000


def test_an_mgn_variant_gets_resources_that_grow_with_its_width_streams_and_pooling():
    small, paper = {"type": "mgn", "hidden": 64}, {"type": "mgn"}
    netvlad = {"type": "mgn", "video_level": ["effnet"], "video_pool": "netvlad"}
    for fn, args in ((train_resources, (1500, 100 * 1500, [1280, 64], 30)),
                     (predict_resources, (1500, 100 * 1500, [1280, 64]))):
        a, b, c = (fn(*args, m)["mem_mb"] for m in (small, paper, netvlad))
        assert 1500 < a < b < c < 6000
    # training holds the shuffle buffer and a batch of rows: it grows with them
    big_batch = {"type": "mgn", "batch_rows": 8192, "shuffle_buffer_rows": 81920}
    assert train_resources(1500, None, [1280, 64], 30, big_batch)["mem_mb"] > \
        train_resources(1500, None, [1280, 64], 30, paper)["mem_mb"] + 300
    # every extractor is a stream of the fusion: more of them, more memory
    assert train_resources(1500, None, [640, 640, 64], 30, paper)["mem_mb"] > \
        train_resources(1500, None, [1280, 64], 30, paper)["mem_mb"]


def test_train_and_predict_time_follow_the_familys_measured_speed():
    from eevflow.resources import predict_resources, train_resources

    args = (1500, 1600 * 1500, [1280, 64], 20)
    tcn, omg, mgn = (train_resources(*args, model={"type": t})["runtime"]
                     for t in ("tcn", "omg", "mgn"))
    assert omg > 10 * (tcn - 15) and mgn < tcn  # OMG ~11x the TCN per row, MGN-MA ~1/3
    assert predict_resources(1500, 10**6, [1280], {"type": "omg"})["runtime"] > \
        predict_resources(1500, 10**6, [1280], {"type": "tcn"})["runtime"]
