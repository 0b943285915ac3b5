"""How a checkpoint's features were made: each extractor's options and the decode settings of the
media it embedded, as its embedding shards record them (``workflow_scripts/extract.py``). The train
job copies them into the checkpoint (``inputs``), so that a trained model can be run on a new video
without the config it was trained with (eevflow.new_videos); a config can supply them for a
checkpoint that has none (one made elsewhere, or before eevflow recorded them)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eevflow.shards import shard_metadata


class MissingExtractorError(ValueError):
    """A checkpoint's feature cannot be made: nothing says how, or its backend cannot embed a new
    video."""


def from_shards(shards: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
    """feature -> {"extractor": its config entry, "decode": decode settings, "clips": the clip
    stream's settings (clip-level extractors), "dim", "modality"}
    from the first shard of each feature (every shard of an extractor is written by the same
    rule with the same params); keys the shards do not record are left out."""
    out = {}
    for name, paths in shards.items():
        meta = shard_metadata(paths[0]) if paths else {}
        entry: dict[str, Any] = {}
        if "options" in meta:
            entry["extractor"] = json.loads(meta["options"])
        if meta.get("decode"):
            entry["decode"] = json.loads(meta["decode"])
        if meta.get("clips"):  # a clip-level extractor's clip stream (eevflow.clips)
            entry["clips"] = json.loads(meta["clips"])
        for key in ("dim", "modality", "version"):
            if key in meta:
                entry[key] = int(meta[key]) if key == "dim" else meta[key]
        out[name] = entry
    return out


@dataclass
class FeatureInputs:
    """What a checkpoint's features need: ``extractors`` ``[(feature, config entry)]`` in the
    checkpoint's feature order, the ``decode`` settings the media-reading ones share (``{}``,
    the defaults, when none reads media), and ``clips``: feature -> its clip stream's settings
    (eevflow.clips.clip_settings) for the clip-level ones."""

    extractors: list[tuple[str, dict[str, Any]]]
    decode: dict[str, Any]
    clips: dict[str, dict[str, Any]] = field(default_factory=dict)


def resolve(ckpt: Mapping[str, Any], source: str, config: Mapping[str, Any] | None = None,
            ) -> FeatureInputs:
    """The checkpoint's :class:`FeatureInputs`, from its ``inputs`` or else ``config`` (its
    ``extractors``, ``decode`` and ``clips``). Raises :class:`MissingExtractorError` naming the
    feature and ``source``."""
    from eevflow.features.options import backend_options

    features = list(ckpt.get("settings", {}).get("features", []))
    if not features:
        raise MissingExtractorError(f"{source}: the checkpoint names no features")
    recorded = ckpt.get("inputs") or {}
    extractors, decodes, clips, undecoded = [], [], {}, []
    for name in features:
        entry = recorded.get(name, {})
        opts = entry.get("extractor")
        decode, clip = entry.get("decode"), entry.get("clips")
        if opts is None and config is not None and name in config.get("extractors", {}):
            opts = dict(config["extractors"][name])
            decode = decode or _config_decode(config)
            clip = clip or _config_clips(config)
        if opts is None:
            raise MissingExtractorError(
                f"{source}: the model reads feature {name!r}, but the checkpoint does not say how "
                "it was made and no config names an extractor of that name: pass --config with "
                f"an `extractors: {name}:` entry (the config the model was trained with)")
        if opts.get("backend") == "precomputed":
            raise MissingExtractorError(
                f"{source}: feature {name!r} was read from precomputed files, which exist only "
                "for the videos they were made for; a new video needs an extractor that embeds "
                "media (train the variant on such an extractor)")
        try:
            cls = backend_options(opts.get("backend"))
        except ValueError as exc:
            raise MissingExtractorError(f"{source}: feature {name!r}: {exc}") from None
        extractors.append((name, opts))
        if cls.input_stream == "clips":
            if not clip:
                raise MissingExtractorError(
                    f"{source}: feature {name!r} reads the clip stream, but the checkpoint does "
                    "not record its settings: pass --config with the config the model was "
                    "trained with (its clips: block)")
            clips[name] = clip
        if not cls.reads_media:  # subtitles: the label rows and the subtitle file only
            continue
        if decode:
            decodes.append(decode)
        else:
            undecoded.append(name)
    if undecoded:
        raise MissingExtractorError(f"{source}: no decode settings recorded for {undecoded}; "
                                    "pass --config with the config the model was trained with")
    first = decodes[0] if decodes else {}
    for other in decodes[1:]:
        if other != first:
            raise MissingExtractorError(
                f"{source}: its features were decoded with different settings "
                f"({first} and {other}); eevflow decodes a video once")
    return FeatureInputs(extractors, first, clips)


def _config_clips(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config's clips block in the clip shard index's terms (eevflow.clips.clip_settings)."""
    from eevflow.clips import ClipSettings

    c, d = ClipSettings.from_dict(config.get("clips") or {}, ("clips",)), config.get("decode", {})
    out = {"clip_fps": float(c.fps), "frame_size": c.frame_size, "store": c.store,
           "backend": d.get("backend", "pyav")}
    if c.store == "compressed":
        out.update(jpeg_quality=d.get("jpeg_quality", 90),
                   jpeg_subsampling=d.get("jpeg_subsampling", "4:2:0"))
    return out


def _config_decode(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config's decode block in the shard index's terms (eevflow.decoded_shard)."""
    d = config.get("decode", {})
    keys = {"store": "store", "frame_size": "frame_size", "sample_rate": "audio_sample_rate",
            "frame_sampling": "frame_sampling", "audio_path": "audio_path",
            "backend": "backend", "chunk_frames": "chunk_frames",
            "jpeg_quality": "jpeg_quality", "jpeg_subsampling": "jpeg_subsampling"}
    return {k: d[v] for k, v in keys.items() if v in d}
