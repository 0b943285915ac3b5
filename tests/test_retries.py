"""A failed job is tried again asking for more: every rule's memory and time grow with
Snakemake's ``attempt`` (profiles/slurm sets ``retries``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from eevflow.resources import on_attempt, retried

REPO = Path(__file__).resolve().parents[1]


def test_each_retry_asks_for_one_more_first_attempt():
    assert [on_attempt(3000, a) for a in (1, 2, 3)] == [3000, 6000, 9000]
    assert on_attempt(45, 2) == 90


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_below_one_count_as_the_first(attempt):
    assert on_attempt(1000, attempt) == 1000


def test_retried_wraps_numbers_and_resource_functions_keeping_their_arguments():
    fixed = retried(4000)
    assert [fixed({}, attempt=a) for a in (1, 2)] == [4000, 8000]
    by_wc = retried(lambda wc: 10 * wc["n"])
    assert by_wc({"n": 3}, attempt=3) == 90

    def sized(wildcards, input):
        return len(input)

    grown = retried(sized)
    assert grown({}, input=[1, 2], attempt=2) == 4
    # Snakemake passes a resource function the arguments it names: these three name attempt
    import inspect

    for fn in (fixed, by_wc, grown):
        assert "attempt" in inspect.signature(fn).parameters
    assert "input" in inspect.signature(grown).parameters


def _resource_lines():
    for path in sorted((REPO / "rules").glob("*.smk")):
        for no, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"\s*(mem_mb|runtime)=(.*),$", line)
            if m:
                yield f"{path.name}:{no}", m.group(1), m.group(2)


def test_every_rule_request_of_memory_and_time_grows_on_retry():
    lines = list(_resource_lines())
    assert len(lines) >= 2 * 12  # every rule states both
    plain = [(where, key, value) for where, key, value in lines
             if not value.startswith("retried(")]
    assert not plain, f"mem_mb/runtime that would not grow on a retry: {plain}"


def test_the_slurm_profile_retries():
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["retries"] >= 1
