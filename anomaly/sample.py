"""The training sample of a forest: the rows the trees grow from, the same whatever order they come in.

``forest.fit`` draws each tree's points from the rows it is given, by position. A selection has no
fixed order: PostgreSQL's parallel scans and Spark's file packing return the same rows in another
order from one run to the next, and a Spark job (anomaly/spark.py) never holds the rows in one place.
So the rows handed to ``forest.fit`` are chosen by content: every kept row gets a key, a 64-bit hash
of the job's SEED, its identifier and its feature values (the splitmix64 finaliser of Steele, Lea &
Flood 2014, folded over those 64-bit words), and the sample is the NTREES x SAMPLE_SIZE rows with the
smallest keys (a bottom-k sample: uniform without replacement, Cohen & Kaplan 2007), ordered by key and
then by feature values. It depends only on the set of rows, so the forest fitted in one process, in a
chunked job or from Spark is the same, bit for bit. Spark collects only the rows whose key falls below
``key_bound``, a bound set so that more than enough rows pass.

Rows with the same identifier and the same features get the same key and are interchangeable. Keys of
float values use their IEEE bits (-0.0 counted as 0.0); integer identifiers their int64 value; any
other identifier its text (BLAKE2b of the UTF-8 bytes), and NULL a fixed word.
Pure numpy and pyarrow: no I/O. Tests: tests/anomaly/test_sample.py.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from anomaly.forest import FloatArray

__all__ = ["KeyArray", "below", "key_bound", "row_keys", "smallest", "training_sample"]

KeyArray = npt.NDArray[np.uint64]
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_NULL_WORD = np.uint64(0x6E756C6C6E756C6C)  # b"nullnull"
_KEYS = 2**64


def training_sample(ids: pa.Array | pa.ChunkedArray, features: FloatArray, rows: int, seed: int) -> FloatArray:
    """The ``rows`` kept rows (all of them when there are fewer) that the forest is fitted on, in key order.

    Parameters
    ----------
    ids : the identifiers of the kept rows
    features : (n, d) float64 feature values of the kept rows
    rows : NTREES x SAMPLE_SIZE
    seed : the job's SEED
    """
    return smallest(row_keys(ids, features, seed), features, rows)


def row_keys(ids: pa.Array | pa.ChunkedArray, features: FloatArray, seed: int) -> KeyArray:
    """Each row's key: the 64-bit hash of (seed, identifier, feature values)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != len(ids):
        raise ValueError("features must be (rows, d) with one row per identifier")
    words = np.ascontiguousarray(x + 0.0).view(np.uint64)  # + 0.0 turns -0.0 into 0.0
    key = _mix(np.full(x.shape[0], np.uint64(seed % _KEYS), dtype=np.uint64))
    key = _mix(key ^ _id_words(ids))
    for j in range(x.shape[1]):
        key = _mix(key ^ words[:, j])
    return key


def smallest(keys: KeyArray, features: FloatArray, rows: int) -> FloatArray:
    """The ``rows`` rows with the smallest (key, features...) in that order (all rows when fewer).

    The same rows come out of any superset that holds every row whose key is at most the
    ``rows``-th smallest: how Spark's candidates (below ``key_bound``) give the local path's sample.
    """
    x = np.asarray(features, dtype=np.float64)
    n = keys.shape[0]
    if n > rows:
        kth = np.partition(keys, rows - 1)[rows - 1]
        candidates = np.flatnonzero(keys <= kth)  # ties at the k-th key are decided by the features
    else:
        candidates = np.arange(n)
    # np.lexsort sorts by its last key first: the row key, then feature 0, 1, ...
    order = np.lexsort((*x[candidates].T[::-1], keys[candidates]))
    return np.ascontiguousarray(x[candidates[order[:rows]]])


def key_bound(rows: int, total: int) -> int:
    """A key bound below which at least ``rows`` of ``total`` uniform keys fall, all but surely.

    The count below ``2**64 * q`` is binomial(total, q); the bound asks for ``rows`` plus eight
    standard deviations plus 64, so a second look (``anomaly/spark.py`` then takes every row) is a
    one-in-10**15 event. Returns ``2**64`` (every key) when that is most of the rows.
    """
    wanted = rows + 8 * math.sqrt(rows) + 64
    if total <= 0 or wanted >= total:
        return _KEYS
    return min(_KEYS, math.ceil(_KEYS * wanted / total))


def below(keys: KeyArray, bound: int) -> npt.NDArray[np.bool_]:
    """Which keys are below ``bound`` (``2**64``: all)."""
    if bound >= _KEYS:
        return np.ones(keys.shape[0], dtype=bool)
    return keys < np.uint64(bound)


def _mix(z: KeyArray) -> KeyArray:
    """splitmix64's output function (wrapping uint64 arithmetic)."""
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _id_words(ids: pa.Array | pa.ChunkedArray) -> KeyArray:
    """One 64-bit word per identifier (see the module docstring)."""
    kind = ids.type
    valid = np.asarray(pc.is_valid(ids).to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        values = pc.fill_null(pc.cast(ids, pa.int64(), safe=False), 0)
        words = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.int64).view(np.uint64)
    elif pa.types.is_floating(kind):
        values = pc.fill_null(pc.cast(ids, pa.float64()), 0.0)
        words = (np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64) + 0.0).view(np.uint64)
    else:
        text = pc.cast(ids, pa.string()).to_pylist()
        words = np.array([int.from_bytes(hashlib.blake2b((v or "").encode(), digest_size=8).digest(), "little")
                          for v in text], dtype=np.uint64)
    return np.where(valid, words, _NULL_WORD)
