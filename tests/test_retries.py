"""A failed job is tried again asking for more: every rule's memory and time grow with
Snakemake's ``attempt`` (profiles/slurm sets ``retries``)."""

from __future__ import annotations

import pytest

from eevflow.resources import on_attempt


def test_each_retry_asks_for_one_more_first_attempt():
    assert [on_attempt(3000, a) for a in (1, 2, 3)] == [3000, 6000, 9000]
    assert on_attempt(45, 2) == 90


@pytest.mark.parametrize("attempt", [0, -1])
def test_attempts_below_one_count_as_the_first(attempt):
    assert on_attempt(1000, attempt) == 1000
