"""A sandbox run's sample (runs/plan.py, docs/runs.md §2): the units whose BLAKE3 of
``"sample\\0" + id`` sorts first, kept in selection order — the same units for the same
selection in every version, so that a trial's results are there for the next trial."""

from __future__ import annotations

import blake3

from mstore.runs.plan import sample_units


def _key(unit: str) -> bytes:
    return blake3.blake3(b"sample\0" + unit.encode()).digest()


def test_a_sample_is_the_units_whose_hash_sorts_first() -> None:
    units = [f"{i * 7919:064x}" for i in range(1, 5001)]
    # 10 units and 2 % (100): a few are picked without a sort, a fair part with one
    small, big = sample_units(units, "10"), sample_units(units, "2%")
    for sample, n in ((small, 10), (big, 100)):
        first = set(sorted(units, key=_key)[:n])
        assert sample == [u for u in units if u in first]
    assert set(small) <= set(big)  # a bigger sample contains a smaller one
    assert sample_units(units[::-1], "10") == small[::-1]  # selection order kept
    assert sample_units(units, "100%") == units and sample_units(units, "") == units
    assert sample_units(units[:7], "10") == units[:7]
