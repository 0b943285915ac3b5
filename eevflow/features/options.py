"""The options of every extractor backend, one typed class each, and each backend's output size as
a function of its options.

These classes are the one declaration: the schema's per-backend parts
(``definitions.extractor_<backend>`` in ``schemas/config.schema.yaml``), the defaults filled into
the config, the README's option tables and the resource estimates all come from here. The module
imports no model library: the Snakefile reads it when it parses the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from eevflow.options import Options, option

WindowMode = Literal["label_window", "equal_chunks"]
MusicnnModel = Literal["MTT_musicnn", "MSD_musicnn"]

# TF Hub models: the defaults their name picks (handle, dim, output_key, window, batch_size) and
# how eevflow.features.tfhub calls them (call: "chunks" embeds each row's window, "track" the whole
# track with frames averaged over each row)
TRILL_DISTILLED_URL = "https://tfhub.dev/google/nonsemantic-speech-benchmark/trill-distilled/3"
VGGISH_URL = "https://tfhub.dev/google/vggish/1"
YAMNET_URL = "https://tfhub.dev/google/yamnet/1"
EFFICIENTNET_B0_URL = "https://tfhub.dev/tensorflow/efficientnet/b0/feature-vector/1"
RESNET_V2_50_URL = "https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/4"
INCEPTION_RESNET_V2_URL = "https://tfhub.dev/google/imagenet/inception_resnet_v2/feature_vector/5"

HUB_AUDIO_MODELS: dict[str, dict[str, Any]] = {
    "trill_distilled": dict(
        handle=TRILL_DISTILLED_URL, dim=2048, output_key="embedding", call="chunks",
        window="equal_chunks", batch_size=256,
    ),
    "vggish": dict(
        handle=VGGISH_URL, dim=128, output_key=None, call="track", window="label_window",
        frame_s=0.96, hop_s=0.96, min_s=0.975, batch_size=256,
    ),
    "yamnet": dict(
        handle=YAMNET_URL, dim=1024, output_key=1, call="track", window="label_window",
        frame_s=0.96, hop_s=0.48, min_s=0.975, batch_size=256,
    ),
}
HUB_IMAGE_MODELS: dict[str, dict[str, Any]] = {
    "efficientnet_b0": dict(handle=EFFICIENTNET_B0_URL, dim=1280, output_key=None, batch_size=32,
                            input_size=224),
    "resnet_v2_50": dict(handle=RESNET_V2_50_URL, dim=2048, output_key=None, batch_size=32,
                         input_size=224),
    "inception_resnet_v2": dict(handle=INCEPTION_RESNET_V2_URL, dim=1536, output_key=None,
                                batch_size=16, input_size=299),
}
MUSICNN_LAYERS = {"penultimate": 200, "mean_pool": 753, "max_pool": 753, "taggram": 50}
EFFICIENTNET_LITE0_DIM = 1280


@dataclass
class BackendOptions(Options):
    """Base of the backend option classes: ``backend``, ``modality`` and the implementing module
    are class facts; ``output_dim()`` is the embedding size."""

    backend: ClassVar[str]
    modality: ClassVar[str]  # "visual" (reads the decoded frames) or "audio" (the 16 kHz track)
    module: ClassVar[str]  # the module that implements it (its code fingerprint)
    rows_per_s: ClassVar[float]  # label rows embedded per second on 2 CPU cores (BENCHMARKS.md)
    gpu: ClassVar[bool] = True  # whether the job asks a scheduler for a GPU
    # False: its extract job reads no decoded media (precomputed features: the label rows)
    reads_media: ClassVar[bool] = True
    # what the extract job reads: "decoded" (the decode shard: a frame per row and the sound),
    # "clips" (the clip decode shard: frames at a fixed rate, eevflow.clips), "subtitles" (the
    # shard's videos' subtitle files, eevflow.subtitles) or "labels" (the label rows only)
    input_stream: ClassVar[str] = "decoded"
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("backend", "modality")

    def output_dim(self) -> int:
        raise NotImplementedError

    def check_decode(self, decode: dict[str, Any]) -> list[tuple[str, str]]:
        """Problems with the config's ``decode`` block (e.g. a frequency above Nyquist)."""
        return []


@dataclass
class EfficientNetLite0Options(BackendOptions):
    """EfficientNet-Lite0 (ImageNet weights shipped by a PyPI package): 1280-D per frame."""

    backend: ClassVar[str] = "efficientnet_lite0"
    modality: ClassVar[str] = "visual"
    module: ClassVar[str] = "eevflow.features.efficientnet_lite"
    rows_per_s: ClassVar[float] = 30.0

    batch_size: int = option(32, "frames per model call", minimum=1)

    def output_dim(self) -> int:
        return EFFICIENTNET_LITE0_DIM


@dataclass
class LogMelOptions(BackendOptions):
    """Weight-free audio features: the mean log-mel spectrum of each row's audio window."""

    backend: ClassVar[str] = "logmel"
    modality: ClassVar[str] = "audio"
    module: ClassVar[str] = "eevflow.features.logmel"
    rows_per_s: ClassVar[float] = 2000.0
    gpu: ClassVar[bool] = False

    n_mels: int = option(64, "mel bands, the embedding size", minimum=1)
    window: WindowMode = option(
        "label_window",
        "audio window of each row: label_window (the 1/6 s from its timestamp) or equal_chunks "
        "(the track cut into one equal chunk per row, the winner's TRILL preprocessing)",
    )
    fmin: float = option(125.0, "lowest mel frequency in Hz", minimum=0)
    fmax: float = option(7500.0, "highest mel frequency in Hz (at most half the sample rate)",
                         exclusiveMinimum=0)
    win_ms: float = option(25.0, "STFT window length in milliseconds", exclusiveMinimum=0)
    hop_ms: float = option(10.0, "STFT hop in milliseconds", exclusiveMinimum=0)

    def output_dim(self) -> int:
        return self.n_mels

    def check(self):
        if self.fmin >= self.fmax:
            return [("fmax", f"{self.fmax} must be above fmin ({self.fmin})")]
        return []

    def check_decode(self, decode):
        nyquist = decode["audio_sample_rate"] / 2
        if self.fmax > nyquist:
            return [("fmax", f"{self.fmax} is above half decode.audio_sample_rate ({nyquist})")]
        return []


@dataclass
class MusicnnOptions(BackendOptions):
    """musicnn's tagger (MagnaTagATune or Million Song weights shipped by the PyPI package)."""

    backend: ClassVar[str] = "musicnn"
    modality: ClassVar[str] = "audio"
    module: ClassVar[str] = "eevflow.features.musicnn_tagger"
    rows_per_s: ClassVar[float] = 15.0

    model: MusicnnModel = option(
        "MTT_musicnn", "the shipped checkpoint: MagnaTagATune or Million Song Dataset"
    )
    layer: Literal["penultimate", "mean_pool", "max_pool", "taggram"] = option(
        "penultimate", "representation: penultimate (200-D), mean_pool, max_pool (753-D) or "
        "taggram (50)"
    )
    context_s: float = option(3.0, "seconds of audio around each row (3: its training input)",
                              exclusiveMinimum=0)
    batch_size: int = option(32, "audio patches per model call", minimum=1)
    window: WindowMode = option("label_window", "audio window of each row, whose centre the "
                                "context is taken around: label_window or equal_chunks")
    dim: int | None = option(None, "expected embedding size, checked against the layer's; "
                             "null: the layer's", minimum=1)

    def output_dim(self) -> int:
        return MUSICNN_LAYERS[self.layer]

    def check(self):
        expected = self.dim
        if expected is not None and expected != MUSICNN_LAYERS[self.layer]:
            return [("dim", f"{expected} does not match layer {self.layer!r} "
                            f"({MUSICNN_LAYERS[self.layer]})")]
        return []


@dataclass
class _HubOptions(BackendOptions):
    MODELS: ClassVar[dict[str, dict[str, Any]]] = {}
    module: ClassVar[str] = "eevflow.features.tfhub"

    def spec(self) -> dict[str, Any]:
        return self.MODELS[self.model]

    def resolved(self, key: str):
        """An option, or the model's default where the option is null."""
        value = getattr(self, key)
        return self.spec()[key] if value is None else value

    def output_dim(self) -> int:
        return int(self.resolved("dim"))


_HANDLE = ("a tfhub.dev URL (TFHUB_CACHE_DIR, then its Kaggle handle via kagglehub), a Kaggle "
           "Models URL or kaggle:owner/model/framework/variation/version handle (kagglehub), or "
           "a SavedModel directory; null: the model's tfhub.dev URL")
_OUTPUT_KEY = "the embedding's dict key, or index into a tuple output; null: the model's"
_DIM = "expected embedding size, checked on the output; null: the model's"


@dataclass
class TFHubAudioOptions(_HubOptions):
    """A TF Hub audio model (the winner's TRILL-distilled, VGGish, YAMNet) at 16 kHz."""

    backend: ClassVar[str] = "tfhub_audio"
    modality: ClassVar[str] = "audio"
    rows_per_s: ClassVar[float] = 60.0
    MODELS: ClassVar[dict[str, dict[str, Any]]] = HUB_AUDIO_MODELS

    model: Literal["trill_distilled", "vggish", "yamnet"] = option(
        "trill_distilled", "the model: it picks the default handle, dim, output_key and window"
    )
    handle: str | None = option(None, _HANDLE, minLength=1)
    output_key: str | int | None = option(None, _OUTPUT_KEY)
    dim: int | None = option(None, _DIM, minimum=1)
    batch_size: int | None = option(None, "audio chunks per model call; null: 256", minimum=1)
    window: WindowMode | None = option(
        None, "audio window of each row: label_window or equal_chunks (the winner's TRILL "
        "preprocessing); null: the model's (equal_chunks for TRILL, else label_window)"
    )


@dataclass
class TFHubImageOptions(_HubOptions):
    """A TF Hub image feature-vector model (the winner's EfficientNet-B0, ResNet-50 v2; MGN-MA's
    Inception-ResNet-v2)."""

    backend: ClassVar[str] = "tfhub_image"
    modality: ClassVar[str] = "visual"
    rows_per_s: ClassVar[float] = 15.0
    MODELS: ClassVar[dict[str, dict[str, Any]]] = HUB_IMAGE_MODELS

    model: Literal["efficientnet_b0", "resnet_v2_50", "inception_resnet_v2"] = option(
        "efficientnet_b0", "the model: it picks the default handle, dim, output_key and input_size"
    )
    handle: str | None = option(None, _HANDLE, minLength=1)
    output_key: str | int | None = option(None, _OUTPUT_KEY)
    dim: int | None = option(None, _DIM, minimum=1)
    batch_size: int | None = option(None, "frames per model call; null: 32 (16 for "
                                    "inception_resnet_v2)", minimum=1)
    input_size: int | None = option(
        None, "side of the square the model sees: frames of another size (decode.frame_size) are "
        "resized bilinearly; null: the model's (299 for inception_resnet_v2, else 224)", minimum=1)


#: PrecomputedOptions.modality as a class fact: the user declares it (visual or audio)
DECLARED = "declared: visual or audio"
PRECOMPUTED_FORMATS = {".npy": "npy", ".npz": "npz", ".pt": "pt", ".pth": "pt", ".h5": "h5",
                       ".hdf5": "h5"}


@dataclass
class PrecomputedOptions(BackendOptions):
    """Features a user already has: one file per video (npy / npz / pt / HDF5), resampled to the
    label rows (eevflow.features.precomputed); no media is decoded."""

    backend: ClassVar[str] = "precomputed"
    module: ClassVar[str] = "eevflow.features.precomputed"
    rows_per_s: ClassVar[float] = 50000.0
    gpu: ClassVar[bool] = False
    reads_media: ClassVar[bool] = False
    input_stream: ClassVar[str] = "labels"
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("backend",)  # modality is the user's option here

    modality: Literal["visual", "audio"] = option(
        description="what the features were made from: visual or audio (omg / bi-GRU branches)")
    dim: int = option(description="embedding size, checked on every file", minimum=1)
    path: str = option(description="folder of the feature files (relative: to the working "
                       "directory)", minLength=1)
    pattern: str = option("{video_id}.npy", "file name of a video's features inside path, "
                          "with {video_id}", minLength=1, pattern=r"\{video_id\}")
    format: Literal["auto", "npy", "npz", "pt", "h5"] = option(
        "auto", "file format; auto: by the pattern's suffix (.npy, .npz, .pt/.pth, .h5/.hdf5)")
    key: str | None = option(
        None, "npz / pt dict / HDF5: the features' array name; null: the file's only array "
        "besides the timestamps (a pt file may also hold a bare tensor)", minLength=1)
    timestamps_key: str | None = option(
        None, "npz / pt dict / HDF5: the array of each feature row's time; null: a fixed rate "
        "(rate_hz, offset_s)", minLength=1)
    timestamps_unit: Literal["us", "ms", "s"] = option("us", "unit of the timestamps array")
    rate_hz: float | None = option(
        None, "without timestamps_key: feature rows per second (row i at offset_s + i / rate_hz)",
        exclusiveMinimum=0)
    offset_s: float = option(0.0, "without timestamps_key: the time of the first row, seconds")
    resample: Literal["nearest", "linear", "previous"] = option(
        "nearest", "each label row's feature: the nearest feature row in time (ties: the "
        "earlier), linear interpolation between the two around it, or the last at or before it")
    out_of_span: Literal["hold", "error"] = option(
        "hold", "label rows before the first or after the last feature row: hold the edge row's "
        "value, or error when one is further than span_tolerance_s out (nearer ones are held)")
    span_tolerance_s: float = option(0.5, "out_of_span error: seconds past the span held "
                                     "before it is an error", minimum=0)
    missing: Literal["skip", "error"] = option(
        "skip", "a video without a feature file: skip it (counted and logged; it then has no "
        "features, as a video absent from shards) or error")

    def output_dim(self) -> int:
        return self.dim

    def file_format(self) -> str | None:
        """The format, from the pattern's suffix when ``auto`` (None: an unknown suffix)."""
        if self.format != "auto":
            return self.format
        suffix = "." + self.pattern.rsplit(".", 1)[-1].lower() if "." in self.pattern else ""
        return PRECOMPUTED_FORMATS.get(suffix)

    def file_for(self, video_id: str) -> str:
        """The feature file of one video (the ID is checked to name a file)."""
        import os

        from eevflow.ids import validate_local_id

        name = self.pattern.replace("{video_id}", validate_local_id(video_id))
        return os.path.join(self.path, name)

    def check(self):
        fmt, out = self.file_format(), []
        if fmt is None:
            out.append(("format", f"auto cannot tell the format of {self.pattern!r}; name "
                        f"it (npy, npz, pt, h5) or use a suffix of {sorted(PRECOMPUTED_FORMATS)}"))
        if fmt == "npy" and (self.key or self.timestamps_key):
            out.append(("key" if self.key else "timestamps_key",
                        "an .npy file holds one array: no key / timestamps_key (use rate_hz)"))
        if self.timestamps_key is None and self.rate_hz is None:
            out.append(("rate_hz", "required without timestamps_key (the feature rows' rate)"))
        if self.timestamps_key is not None and self.rate_hz is not None:
            out.append(("rate_hz", "give either timestamps_key or rate_hz, not both"))
        return out


PrecomputedOptions.modality = DECLARED  # the class fact other backends state; instances: the user's


def _option_modules() -> tuple[str, ...]:
    """The modules ``eevflow/features/*_options.py``: a backend may declare its option classes
    in its own ``<name>_options.py`` beside its extractor module (importing BackendOptions from
    here); every class in them with its own ``backend`` is registered. Like this module, they
    import no model library (the Snakefile reads them when it parses the config)."""
    import pkgutil

    import eevflow.features as package

    return tuple(sorted(f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
                        if m.name.endswith("_options")))


OPTION_MODULES: tuple[str, ...] = _option_modules()


def _declared() -> list[type[BackendOptions]]:
    import importlib

    classes = [EfficientNetLite0Options, LogMelOptions, MusicnnOptions, PrecomputedOptions,
               TFHubAudioOptions, TFHubImageOptions]
    for name in OPTION_MODULES:
        module = importlib.import_module(name)
        classes += [c for c in vars(module).values()
                    if isinstance(c, type) and issubclass(c, BackendOptions)
                    and c.__module__ == name and "backend" in vars(c)]
    return classes


BACKENDS: dict[str, type[BackendOptions]] = {cls.backend: cls for cls in _declared()}


def backend_options(backend: str) -> type[BackendOptions]:
    try:
        return BACKENDS[backend]
    except KeyError:
        raise ValueError(f"unknown extractor backend {backend!r}; known: {sorted(BACKENDS)}") from None


def parse_extractor(name: str, values: dict[str, Any]) -> BackendOptions:
    """An extractor entry of the config as its backend's options (raises OptionError)."""
    return backend_options(values.get("backend")).from_dict(values, ("extractors", name))


def extractor_dim(values: dict[str, Any]) -> int:
    """The embedding size of an extractor entry of the config."""
    return parse_extractor("?", values).output_dim()
