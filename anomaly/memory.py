"""How much memory an anomaly job needs, estimated from its parameters before anything is allocated.

The forest (anomaly/forest.py) is allocated up front: per tree, ``2 ** (h + 1) - 1`` slots of a
normal and an intercept (``d`` float64 each), an offset (float64) and a size (int32), plus ``2 ** h``
bottom path lengths, with ``h = ceil(log2(min(SAMPLE_SIZE, rows)))``. NTREES=10000 with SAMPLE_SIZE=20000
is 2 ** 16 slots per tree: about 11 GB per feature. The selection costs its rows times the features
a few times over (the Arrow table, the float64 matrix, its standardised copy, the scores and the
result table). Pure arithmetic: no I/O. Tests: tests/anomaly/test_memory.py.
"""

from __future__ import annotations

import math

from dali.errors import UsageError

__all__ = ["check_memory", "estimate", "feature_count"]

# Copies of the selection's (rows, d + 1) float64 values alive at once while a job scores.
_SELECTION_COPIES = 5


def estimate(ntrees: int, sample_size: int, features: int, rows: int | None = None) -> int:
    """Bytes the forest (and, when ``rows`` is known, the selection) needs."""
    psi = sample_size if rows is None else max(1, min(sample_size, rows))
    height = max(1, math.ceil(math.log2(psi))) if psi > 1 else 1
    slots = 2 ** (height + 1) - 1
    forest = ntrees * (slots * (2 * 8 * features + 8 + 4) + 2**height * 8)
    selection = 0 if rows is None else rows * (features + 1) * 8 * _SELECTION_COPIES
    return int(forest + selection)


def check_memory(ntrees: int, sample_size: int, features: int, rows: int | None, limit: int | None) -> int:
    """The estimate, or a ``UsageError`` naming the parameters when it exceeds ``limit`` bytes.

    Raises
    ------
    UsageError
        The job would need more than ``limit`` bytes.
    """
    need = estimate(ntrees, sample_size, features, rows)
    if limit is not None and need > limit:
        selected = f", {rows:,} rows" if rows is not None else ""
        raise UsageError(
            f"NTREES={ntrees} and SAMPLE_SIZE={sample_size} with {features} features{selected} need about "
            f"{_gib(need)} of memory; a job may use {_gib(limit)}",
            param="NTREES",
            hint="lower NTREES or SAMPLE_SIZE (the defaults 200 and 256 suit most selections), or select fewer rows",
        )
    return need


def feature_count(query: str) -> int:
    """The features an ADQL query selects (its select list less the identifier; at least 1).

    ``*`` counts as one: the job checks again with the real columns once the query ran.
    """
    from adql import ADQLError, parse

    try:
        tree = parse(query)
    except ADQLError:
        return 1  # the job reports the query's error itself
    selects = getattr(tree, "selects", None) or []
    return max(1, len(selects) - 1)


def _gib(size: int) -> str:
    return f"{size / 2**30:.3g} GiB" if size >= 2**30 else f"{size / 2**20:.3g} MiB"
