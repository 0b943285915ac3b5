"""HTML pages of the score report, the dataset report and the run's validated configuration
(also written as YAML), for ``snakemake --report``, which shows HTML results in the page."""

import _paths  # noqa: F401  (makes eevflow importable)
from pathlib import Path

from eevflow.io import atomic_path
from eevflow.report_pages import markdown_page, text_page
from eevflow.runtime import run_script


def write(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def main(sm):
    write(sm.output.scores, markdown_page("Scores", Path(sm.input.scores).read_text()))
    write(sm.output.dataset, markdown_page("Dataset check", Path(sm.input.dataset).read_text()))
    write(sm.output.config_yaml, sm.params.config_yaml)
    write(sm.output.config_html, text_page("Configuration (validated, defaults filled in)",
                                           sm.params.config_yaml))


run_script(snakemake, main)  # noqa: F821
