"""Job resources grow with the job: longer videos, bigger shards and more epochs ask for more."""

from eevflow.resources import (
    decode_resources,
    extract_resources,
    extractor_dim,
    train_resources,
)


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


def test_train_from_shard_size_dims_and_epochs():
    dims = [extractor_dim({"backend": "efficientnet_lite0"}), extractor_dim(
        {"backend": "logmel", "n_mels": 64})]
    assert dims == [1280, 64]
    a = train_resources(10**9, 10**8, dims, 20)
    b = train_resources(10**9, 10**8, dims, 40)
    assert b["runtime"] > a["runtime"] and b["mem_mb"] == a["mem_mb"]
    assert a["mem_mb"] > 3000 + 2 * 1000
    assert extractor_dim({"backend": "tfhub_audio", "model": "trill_distilled"}) == 2048
    assert extractor_dim({"backend": "musicnn", "layer": "taggram"}) == 50
