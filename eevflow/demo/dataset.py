"""The built-in datasets by kind (``demo.kind``): ``synthetic`` (``eevflow.demo``: photos and tones
with a planted, clean signal) and ``realmedia`` (``eevflow.demo.realmedia``: real photos, clips
and sounds, responses that are not linear in the content). Their video IDs, their specs from the
config's ``demo:`` block, generating them, and the command line ``python -m eevflow.demo``."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from eevflow.demo.realmedia.plan import RealMediaSpec, realmedia_video_ids
from eevflow.demo.realmedia.write import generate_realmedia
from eevflow.demo.spec import DemoSpec, demo_video_ids
from eevflow.demo.write import generate_demo

KINDS = ("synthetic", "realmedia")
_SPECS = {"synthetic": DemoSpec, "realmedia": RealMediaSpec}
_IDS = {"synthetic": demo_video_ids, "realmedia": realmedia_video_ids}
_GENERATE = {"synthetic": generate_demo, "realmedia": generate_realmedia}
#: ``demo:`` keys that are spec fields (``noise_std`` only when not null: the kind's default)
CONFIG_FIELDS = ("n_train", "n_val", "n_test", "min_seconds", "max_seconds", "seed", "noise_std",
                 "targets")


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown demo kind {kind!r}; allowed values: {list(KINDS)}")
    return kind


def video_ids(kind: str, split: str, n: int) -> list[str]:
    """The first ``n`` video IDs of ``split`` in the dataset of ``kind``."""
    return _IDS[_kind(kind)](split, n)


def spec_from_config(demo: dict) -> DemoSpec | RealMediaSpec:
    """The spec of the config's ``demo:`` block (its kind's defaults for what it leaves out)."""
    cls = _SPECS[_kind(demo.get("kind", "synthetic"))]
    fields = cls.__dataclass_fields__
    return cls(**{k: demo[k] for k in CONFIG_FIELDS if demo.get(k) is not None and k in fields})


def generate(
    spec: DemoSpec | RealMediaSpec,
    videos_dir,
    labels: dict[str, str],
    test_ground_truth: str,
    jobs: int = 1,
    test_oracle: str | None = None,
) -> None:
    """Write the dataset of ``spec``'s kind (``generate_demo`` / ``generate_realmedia``)."""
    kind = next(k for k, cls in _SPECS.items() if isinstance(spec, cls))
    _GENERATE[kind](videos_dir, labels, test_ground_truth, spec, jobs=jobs, test_oracle=test_oracle)


_INT_FIELDS = ("n_train", "n_val", "n_test", "seed")
_FLOAT_FIELDS = ("min_seconds", "max_seconds", "noise_std", "no_detection_fraction")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m eevflow.demo",
        description="Write a built-in EEV-style dataset: synthetic (a planted, clean signal) or "
        "realmedia (real photos, clips and sounds; messier responses).",
    )
    p.add_argument("--kind", choices=KINDS, default="synthetic")
    p.add_argument("--videos-dir", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--test-ground-truth", required=True)
    p.add_argument("--test-oracle", help="also write the test split's noise-free signal here")
    for field in _INT_FIELDS:
        p.add_argument(f"--{field.replace('_', '-')}", type=int, help="default: the kind's")
    for field in _FLOAT_FIELDS:
        p.add_argument(f"--{field.replace('_', '-')}", type=float, help="default: the kind's")
    p.add_argument("--targets", choices=("eev", "arousal_valence"),
                   help="synthetic only: the 15 EEV expressions (default) or arousal and valence")
    p.add_argument("--jobs", type=int, default=1)
    a = p.parse_args(argv)
    given = {f: getattr(a, f) for f in _INT_FIELDS + _FLOAT_FIELDS + ("targets",)
             if getattr(a, f) is not None}
    spec = dataclasses.replace(_SPECS[a.kind](), **given)
    generate(
        spec,
        a.videos_dir,
        {"train": a.train, "val": a.val, "test": a.test},
        a.test_ground_truth,
        jobs=a.jobs,
        test_oracle=a.test_oracle,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
