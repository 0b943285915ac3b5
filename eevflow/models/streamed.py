"""The sizes the data fixes for the families that treat each extractor's block of the features as
a stream of its own (bi-GRU, MGN-MA, OMG): a mixin of their configs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class StreamedConfig:
    """``input_dim`` and ``n_targets``; ``streams``, one ``[extractor, dim, modality]`` per block
    of the features in their order (none given: one visual stream of all of them); and the
    config's ``target_range``, which fixes the output activation (eevflow.targets). Put it first
    among a family config's bases, before the family's options class."""

    input_dim: int = 0
    n_targets: int = 15
    streams: list = field(default_factory=list)
    target_range: list | None = field(default_factory=lambda: [0.0, 1.0])

    def __post_init__(self):
        super().__post_init__()  # the options' own checks (choices), from code as from a config
        if not self.streams:
            self.streams = [["features", self.input_dim, "visual"]]
        dims = [int(d) for _, d, _ in self.streams]
        if sum(dims) != self.input_dim:
            raise ValueError(f"{self.family}: stream sizes {dims} do not add up to the input "
                             f"size {self.input_dim}")
