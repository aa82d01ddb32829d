"""The ``main_sample`` selection: a deterministic 1 % of DR1_MAIN chosen by a hash of COADD_OBJECT_ID.

``hash`` is splitmix64 (Steele, Lea & Flood 2014; the finaliser of java.util.SplittableRandom) of the
id as an unsigned 64-bit integer; a row is in the sample when ``splitmix64(id) % 100 == 0``. Pure
numpy on id arrays. Tests: tests/release/test_demo_catalog.py.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["SAMPLE_MODULUS", "main_sample_mask", "splitmix64"]

SAMPLE_MODULUS = 100


def splitmix64(values: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """splitmix64 of each value (int64 ids are reinterpreted as uint64), arithmetic modulo 2**64."""
    z = np.asarray(values, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def main_sample_mask(coadd_object_id: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """True for the rows of ``des_dr1.main_sample``: ``splitmix64(coadd_object_id) % 100 == 0``."""
    return np.asarray(splitmix64(coadd_object_id) % np.uint64(SAMPLE_MODULUS) == 0)
