"""Portable job resources (``mem_mb``, ``runtime`` in minutes) derived from the size of the job.

The figures come from the measurements in BENCHMARKS.md on 2 CPU cores, with margins, so that a
cluster scheduler neither kills a long video's job nor reserves a day for a short one. On a GPU the
extraction and training jobs finish well inside them.
"""

from __future__ import annotations

import inspect
import math

from eevflow.features.options import backend_options

ROWS_PER_SECOND = 6  # EEV labels are at 6 Hz

TRAIN_STEPS_PER_S = 1300.0  # TCN time steps per second of training, 2 CPU cores (bench_train.py)
#: seconds per training (predicted) row of each family relative to the TCN's, at the papers'
#: widths on 2 CPU cores, rounded up (bench/bench_families.py, BENCHMARKS.md "Model families")
TRAIN_TIME_FACTOR = {"tcn": 1.0, "linear": 1.0, "bigru": 1.0, "mgn": 0.5, "omg": 12.0}
PREDICT_TIME_FACTOR = {"tcn": 1.0, "linear": 1.0, "bigru": 1.0, "mgn": 0.5, "omg": 8.0}


def extractor_dim(options: dict) -> int:
    """An extractor entry's embedding size, from its backend's options class (the one place the
    sizes are known; an unknown backend is an error, not a guess)."""
    return backend_options(options["backend"]).from_dict(options).output_dim()


def decode_resources(video_seconds) -> dict[str, int]:
    """For a decode job over videos of the given durations (seconds; one number or a list; NaN or
    unknown counts as 10 minutes). They are decoded one at a time, so memory follows the longest:
    a 10-minute 720p video peaked at 686 MiB with PyAV (517 MiB of it the output's file-backed
    pages, which grow with its rows; 1,019 MiB with the earlier decord path), a 4K file at 183 MiB
    plus its rows. Time follows the total: that video took 30 s (0.05 x its duration) on 2 cores
    (VP9 and AV1 about 2.5x slower); a quarter of the total leaves room for 1080p, VP9 and slower
    disks."""
    if isinstance(video_seconds, (int, float)):
        video_seconds = [video_seconds]
    secs = [_seconds(s) for s in video_seconds]
    longest = max(secs, default=0.0)
    return {
        "mem_mb": int(600 + 1.0 * longest),
        "runtime": int(5 + math.ceil(sum(secs) / 4 / 60)),
    }


def extract_resources(rows: int | None, options: dict) -> dict[str, int]:
    """From the label rows of the decoded shard (its index.json, whatever ``decode.store`` kept:
    the rows are what the job embeds). ``None`` (not decoded yet): a shard of an hour of video."""
    if rows is None:
        rows = ROWS_PER_SECOND * 3600.0
    # label rows embedded per second on 2 CPU cores (bench/bench_extract*.py), per backend
    rate = backend_options(options["backend"]).rows_per_s
    return {"mem_mb": 6000, "runtime": int(10 + math.ceil(2 * rows / rate / 60))}


#: memory of a train or predict job beside its longest video: Python, torch, pyarrow, pandas and
#: the model (bench/bench_stream_memory.py: 0.5-0.8 GB measured), with room to spare
STREAM_BASE_MB = 1500
#: bytes per feature value of the video in hand: its Parquet row groups, the joined float32
#: features, the float64 copy of the standardisation pass (8 B), the standardised input and its
#: tensor, with a margin (bench/bench_stream_memory.py)
STREAM_BYTES_PER_VALUE = 40
#: rows of the longest video when the shards do not exist yet: one hour at 6 Hz
UNKNOWN_LONGEST_ROWS = ROWS_PER_SECOND * 3600
PREDICT_ROWS_PER_S = 3 * TRAIN_STEPS_PER_S  # forward only


def _stream_mb(rows: int, dim: int, per_row: float, fixed_mb: float) -> int:
    """A streamed job's memory: the base, the network's fixed share, and the longest video's
    rows x (its feature values and the network's activations)."""
    return int(STREAM_BASE_MB + fixed_mb + rows * (STREAM_BYTES_PER_VALUE * dim + per_row) / 2**20)


#: MGN-MA: the head's outputs (EEV's 15 targets; the resources are not told the targets) and the
#: fewest rows of a video in its shuffle buffer (10 s at 6 Hz), which bounds the videos held there
MGN_TARGETS = 15
MGN_MIN_VIDEO_ROWS = 60


def _mgn_memory(opts, input_dim: int, n_streams: int, training: bool) -> tuple[float, float]:
    """MGN-MA (eevflow/models/mgn.py): per row of a video in one forward, its projected,
    weighted and concatenated streams and the head's activations; fixed, the weights (+ their
    gradients and Adam's moments when training) and, when training, the shuffle buffer (its rows
    and its videos' video-level inputs) and one batch of rows's activations kept for the
    backward pass. Every video-level stream is taken at the whole input size: an upper bound."""
    netvlad, c = opts.video_pool == "netvlad", MGN_TARGETS
    k = opts.netvlad_clusters if netvlad else 1
    vl_dim = input_dim if opts.video_level else 0
    fused = (max(1, n_streams) + len(opts.video_level)) * opts.hidden
    head = c * (2 * opts.experts + 1) if opts.head == "moe" else opts.mlp_hidden
    params = (input_dim + k * vl_dim) * opts.hidden + fused * (head + 1) + head * c \
        + (2 * k * vl_dim if netvlad else 0)
    per_row = 4.0 * (4 * fused + 2 * head)
    if not training:
        return per_row, 4.0 * params / 2**20
    videos = max(1, opts.shuffle_buffer_rows // MGN_MIN_VIDEO_ROWS)
    frames = opts.video_frames if netvlad else 1
    buffer = opts.shuffle_buffer_rows * (input_dim + c) + videos * frames * vl_dim
    batch = opts.batch_rows * (input_dim + c + 8 * fused + 4 * head)
    if netvlad:  # the pooling of each distinct video of a batch
        batch += min(opts.batch_rows, videos) * frames * (vl_dim + k) * 3
    return per_row, 4.0 * (4 * params + buffer + batch) / 2**20


def _omg_memory(opts, input_dim: int, training: bool) -> tuple[float, float]:
    """OMG (eevflow/models/omg.py): per row, the branches' copies of its features, its sample
    indices and (training) its features and outputs kept; fixed, the weights (+ gradients and
    Adam's moments when training) and one chunk of CHUNK_ROWS rows in flight: the sampled rows,
    the LSTM's gates and outputs, ANet's layers (x3 when training: recomputed, then its
    gradients). Both branches are taken at the whole input size: an upper bound. Measured: a
    20,000-row video at 1,344 dims peaked at 1.6 GB training, 0.9 GB predicting."""
    h, f, a, nv, na = opts.lstm_hidden, opts.feature_dim, opts.fc_hidden, opts.n_visual, \
        opts.n_audio
    params = 2 * 4 * h * (input_dim + h + 2) + 2 * h * f + input_dim * a + a * f + 2 * f * 16
    chunk = opts.CHUNK_ROWS * (nv * (input_dim + 2 * 8 * h + 2 * h) + na * (input_dim + 2 * a
                                                                            + 2 * f))
    per_row = 4.0 * input_dim + 8.0 * (nv + na) + (4.0 * (2 * f + 2 * h) * 2 if training else 0)
    return per_row, 4.0 * ((4 if training else 1) * params + (3 if training else 1) * chunk) \
        / 2**20


def _model_memory(model: dict | None, input_dim: int, training: bool,
                  n_streams: int = 1) -> tuple[float, float]:
    """(bytes per row, fixed MB) of a variant's network: a TCN's activations (kept for the
    backward pass when training: about six tensors of its width per convolution), the linear
    family's context rows and normal-equation matrices (float64, a few copies in the solve), a
    bi-GRU's weights and gate activations, MGN-MA's (:func:`_mgn_memory`; ``n_streams``: the
    extractors)."""
    from eevflow.models.options import family_options, model_type

    family = model_type(model)
    opts = family_options(family).from_dict({k: v for k, v in (model or {}).items()
                                             if k != "type"})
    if family == "linear":
        ctx = input_dim * (1 + len(opts.lags_s) + len(opts.past_means_s))
        return 24.0 * ctx, (4 if training else 0) * 8.0 * ctx**2 / 2**20
    if family == "bigru":  # every stream taken at the visual width: an upper bound
        h = max(opts.hidden_visual, opts.hidden_audio)
        params = 2 * 3 * ((input_dim + h + 2) * h + (opts.layers - 1) * (3 * h + 2) * h)
        # weights (+ gradients and Adam's two moments when training); each row's gates and
        # outputs in both directions of every layer, kept for the backward pass when training
        return 4.0 * 8 * h * opts.layers * (1 if training else 0.25), \
            (4 if training else 1) * 4.0 * params / 2**20
    if family == "mgn":
        return _mgn_memory(opts, input_dim, n_streams, training)
    if family == "omg":
        return _omg_memory(opts, input_dim, training)
    convs = 2 * opts.stacks * len(opts.dilations)
    return 4.0 * opts.channels * convs * (6 if training else 2), 0.0


def train_resources(
    longest_rows: int | None, train_rows: int | None, dims: list[int], epochs: int,
    model: dict | None = None,
) -> dict[str, int]:
    """A train job streams its splits video by video (eevflow.split_stream.open_split), so memory
    follows the longest video (``longest_rows`` of the train and val shards; None: not known yet,
    an hour) times the feature dims, plus the network's share and a fixed base, not the size of
    the split. The time grows with the training rows (``train_rows``; None: 1,600 videos of
    1,500 rows) x epochs."""
    rows = UNKNOWN_LONGEST_ROWS if longest_rows is None else max(1, longest_rows)
    dim = max(1, sum(dims))
    per_row, fixed_mb = _model_memory(model, dim, training=True, n_streams=len(dims))
    steps = (1600 * 1500 if train_rows is None else train_rows) * epochs
    factor = TRAIN_TIME_FACTOR.get(_family(model), 1.0)
    return {
        "mem_mb": _stream_mb(rows, dim, per_row, fixed_mb),
        "runtime": int(15 + math.ceil(2 * factor * steps / TRAIN_STEPS_PER_S / 60)),
    }


def predict_resources(
    longest_rows: int | None, total_rows: int | None, dims: list[int], model: dict | None = None
) -> dict[str, int]:
    """A predict (or select_sweep) job predicts video by video and writes each video's rows as
    it goes: memory follows the longest video (None: an hour) x dims plus a fixed base; time the
    rows predicted (None: 60 minutes)."""
    rows = UNKNOWN_LONGEST_ROWS if longest_rows is None else max(1, longest_rows)
    dim = max(1, sum(dims))
    per_row, fixed_mb = _model_memory(model, dim, training=False, n_streams=len(dims))
    factor = PREDICT_TIME_FACTOR.get(_family(model), 1.0)
    runtime = 60 if total_rows is None else int(
        10 + math.ceil(2 * factor * total_rows / PREDICT_ROWS_PER_S / 60))
    return {
        "mem_mb": _stream_mb(rows, dim, per_row, fixed_mb),
        "runtime": runtime,
    }


def _family(model: dict | None) -> str:
    from eevflow.models.options import model_type

    return model_type(model)


def _seconds(value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 600.0
    return v if math.isfinite(v) and v > 0 else 600.0


# download_check (bench/bench_probe.py, BENCHMARKS.md "Probe and download_check per shard"): the
# probe of a 10-minute 720p H.264 file, longer than most EEV videos, took 0.58 s on 2 cores
# (probe.audio: ends; 1.5 s on a heavily loaded machine), PROBE_S_PER_VIDEO rounds it up; a
# download is not measured here (no network): DOWNLOAD_S_PER_VIDEO is a 4-minute 720p video
# (about 40 MB) at 1 MB/s, yt-dlp's start-up included.
PROBE_S_PER_VIDEO = 1.0
DOWNLOAD_S_PER_VIDEO = 60.0


def download_check_resources(
    n_videos: int, download: bool = False, min_interval_s: float = 0.0, parallel_jobs: int = 1
) -> dict[str, int]:
    """For a download_check job over ``n_videos`` videos (one (split, shard)). Time: four times
    the measured probe per video (VP9, AV1, 1080p and slow disks), and with ``download`` the
    download of each and its wait for the rate limit, which ``parallel_jobs`` jobs share (each
    start may wait for one start of every other job). Memory does not grow with the count (one
    file is open at a time; a row is a few hundred bytes): the peak is the probe's decoder and
    yt-dlp, which the flat figure covers."""
    per_video = 4 * PROBE_S_PER_VIDEO
    if download:
        per_video += DOWNLOAD_S_PER_VIDEO + max(1, parallel_jobs) * max(0.0, min_interval_s)
    return {
        "mem_mb": 1500,
        "runtime": int(5 + math.ceil(max(0, n_videos) * per_video / 60)),
    }


RETRY_GROWTH = 1.0  # each retry asks for this much more of the first attempt's memory and time


def on_attempt(value: int, attempt: int) -> int:
    """A job's request on its ``attempt``-th try (1 = the first): the first attempt's ``value``
    plus :data:`RETRY_GROWTH` x ``value`` for every retry, so a job that a scheduler killed for
    its memory or time limit (or that failed for any reason) asks for 2x, then 3x. The profiles'
    ``retries`` says how many tries there are (profiles/slurm: 2 retries)."""
    attempt = max(1, int(attempt))
    return int(round(value * (1 + RETRY_GROWTH * (attempt - 1))))


def retried(request):
    """``request`` as a Snakemake resource function that grows with the job's ``attempt``
    (:func:`on_attempt`): ``request`` is a number, or a resource function of ``wildcards`` (and
    ``input``, when it declares it). Every rule's ``mem_mb`` and ``runtime`` go through it."""
    if not callable(request):
        value = request

        def fixed(wildcards, attempt):
            return on_attempt(value, attempt)

        return fixed
    if "input" in inspect.signature(request).parameters:

        def sized(wildcards, input, attempt):
            return on_attempt(request(wildcards, input), attempt)

        return sized

    def by_wildcards(wildcards, attempt):
        return on_attempt(request(wildcards), attempt)

    return by_wildcards
