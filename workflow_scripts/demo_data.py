"""Generate the built-in demo dataset of the config's kind (demo.kind: synthetic or realmedia)."""

import _paths  # noqa: F401  (makes eevflow importable)
from eevflow.demo import generate, spec_from_config
from eevflow.runtime import run_script


def main(sm):
    labels = {"train": sm.output.train, "val": sm.output.val, "test": sm.output.test}
    oracle = sm.output.get("oracle")
    generate(spec_from_config(sm.params.demo), sm.params.videos_dir, labels, sm.output.truth,
             jobs=sm.threads, test_oracle=oracle)


run_script(snakemake, main)  # noqa: F821
