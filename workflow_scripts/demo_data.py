"""Generate the built-in synthetic demo dataset."""

import _paths  # noqa: F401  (makes eevflow importable)
from eevflow.demo import DemoSpec, generate_demo
from eevflow.runtime import run_script


def main(sm):
    d = sm.params.demo
    spec = DemoSpec(
        n_train=d["n_train"], n_val=d["n_val"], n_test=d["n_test"],
        min_seconds=d["min_seconds"], max_seconds=d["max_seconds"], seed=d["seed"],
    )
    labels = {"train": sm.output.train, "val": sm.output.val, "test": sm.output.test}
    generate_demo(sm.params.videos_dir, labels, sm.output.truth, spec, jobs=sm.threads)


run_script(snakemake, main)  # noqa: F821
