"""How a checkpoint's features were made: each extractor's options and the decode settings of the
media it embedded, as its embedding shards record them (``workflow_scripts/extract.py``). The train
job copies them into the checkpoint (``inputs``), so that a trained model can be run on a new video
without the config it was trained with (eevflow.new_videos); a config can supply them for a
checkpoint that has none (one made elsewhere, or before eevflow recorded them)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from eevflow.shards import shard_metadata


class MissingExtractorError(ValueError):
    """A checkpoint's feature cannot be made: nothing says how, or its backend cannot embed a new
    video."""


def from_shards(shards: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
    """feature -> {"extractor": its config entry, "decode": decode settings, "dim", "modality"}
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
        for key in ("dim", "modality", "version"):
            if key in meta:
                entry[key] = int(meta[key]) if key == "dim" else meta[key]
        out[name] = entry
    return out


def resolve(ckpt: Mapping[str, Any], source: str, config: Mapping[str, Any] | None = None):
    """``[(feature, extractor config entry)]`` in the checkpoint's feature order and the decode
    settings they share, from the checkpoint's ``inputs`` or else ``config`` (its ``extractors``
    and ``decode``). Raises :class:`MissingExtractorError` naming the feature and ``source``."""
    features = list(ckpt.get("settings", {}).get("features", []))
    if not features:
        raise MissingExtractorError(f"{source}: the checkpoint names no features")
    recorded = ckpt.get("inputs") or {}
    extractors, decodes = [], []
    for name in features:
        entry = recorded.get(name, {})
        opts = entry.get("extractor")
        decode = entry.get("decode")
        if opts is None and config is not None and name in config.get("extractors", {}):
            opts = dict(config["extractors"][name])
            decode = decode or _config_decode(config)
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
        extractors.append((name, opts))
        if decode:
            decodes.append(decode)
    if not decodes:
        raise MissingExtractorError(f"{source}: no decode settings recorded for {features}; "
                                    "pass --config with the config the model was trained with")
    first = decodes[0]
    for other in decodes[1:]:
        if other != first:
            raise MissingExtractorError(
                f"{source}: its features were decoded with different settings "
                f"({first} and {other}); eevflow decodes a video once")
    return extractors, first


def _config_decode(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config's decode block in the shard index's terms (eevflow.decoded_shard)."""
    d = config.get("decode", {})
    keys = {"store": "store", "frame_size": "frame_size", "sample_rate": "audio_sample_rate",
            "frame_sampling": "frame_sampling", "audio_path": "audio_path",
            "backend": "backend", "chunk_frames": "chunk_frames",
            "jpeg_quality": "jpeg_quality", "jpeg_subsampling": "jpeg_subsampling"}
    return {k: d[v] for k, v in keys.items() if v in d}
