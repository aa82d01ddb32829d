"""The memory estimate of an anomaly job, and its refusal naming the parameters."""

from __future__ import annotations

import numpy as np
import pytest

from anomaly import forest
from anomaly.memory import check_memory, estimate, feature_count
from dali.errors import UsageError


def _nbytes(fitted: forest.Forest) -> int:
    return sum(a.nbytes for a in (fitted.normals, fitted.intercepts, fitted.offsets, fitted.sizes, fitted.path))


def test_the_estimate_matches_the_forest_arrays() -> None:
    data = np.random.default_rng(1).normal(size=(500, 3))
    assert estimate(7, 100, 3) == _nbytes(forest.fit(data, ntrees=7, sample_size=100, seed=2))
    # The sample is capped at the rows; the selection adds its copies.
    capped = forest.fit(data, ntrees=7, sample_size=100_000, seed=2)
    assert estimate(7, 100_000, 3, rows=500) == _nbytes(capped) + 500 * 4 * 8 * 5


def test_the_issue_s_job_needs_tens_of_gigabytes() -> None:
    # NTREES=10000 SAMPLE_SIZE=20000 allocated ~40 GB up front (issue 13), at three features.
    assert 40e9 < estimate(10_000, 20_000, 3) < 45e9


def test_over_the_limit_is_refused_naming_the_parameters() -> None:
    with pytest.raises(UsageError, match=r"NTREES=10000 and SAMPLE_SIZE=20000 with 3 features, 1,000 rows need about"
                                         r" .* GiB of memory; a job may use 512 MiB") as info:
        check_memory(10_000, 20_000, 3, 1000, 512 * 2**20)
    assert info.value.param == "NTREES"
    assert check_memory(200, 256, 3, 1000, 512 * 2**20) == estimate(200, 256, 3, 1000)
    assert check_memory(10_000, 20_000, 3, None, None) == estimate(10_000, 20_000, 3)


@pytest.mark.parametrize(("query", "features"), [
    ("SELECT coadd_object_id, mag_auto_g, mag_auto_r - mag_auto_i AS r_i FROM des_dr1.main", 2),
    ("SELECT * FROM des_dr1.main", 1),
    ("SELECT a FROM", 1),
])
def test_features_are_counted_from_the_select_list(query: str, features: int) -> None:
    assert feature_count(query) == features
