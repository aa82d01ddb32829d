"""The training sample: chosen by content, so the same forest whatever order the rows come in."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from anomaly import sample, service
from anomaly.params import parse_score
from dali.values import Column

ID, A, B = Column("id", "long"), Column("a", "double"), Column("b", "float")


def _rows(n: int, seed: int = 0) -> tuple[pa.Array, np.ndarray]:
    rng = np.random.default_rng(seed)
    return pa.array(np.arange(n, dtype=np.int64) * 7 + 3), rng.normal(size=(n, 2))


def test_the_sample_does_not_depend_on_the_row_order() -> None:
    ids, features = _rows(5000)
    shuffled = np.random.default_rng(1).permutation(5000)
    one = sample.training_sample(ids, features, 600, seed=4)
    other = sample.training_sample(ids.take(pa.array(shuffled)), features[shuffled], 600, seed=4)
    assert one.shape == (600, 2) and np.array_equal(one, other)
    assert not np.array_equal(one, sample.training_sample(ids, features, 600, seed=5))  # the seed decides


def test_fewer_rows_than_wanted_are_all_taken_in_key_order() -> None:
    ids, features = _rows(50)
    got = sample.training_sample(ids, features, 600, seed=1)
    assert got.shape == (50, 2)
    assert sorted(map(tuple, got)) == sorted(map(tuple, features))


def test_candidates_below_the_bound_give_the_same_sample() -> None:
    """What Spark does: keep the keys below key_bound in each partition, then the smallest on the driver."""
    ids, features = _rows(20_000)
    keys = sample.row_keys(ids, features, seed=9)
    bound = sample.key_bound(1000, 20_000)
    kept = sample.below(keys, bound)
    assert 1000 < kept.sum() < 2000  # a few per cent more than needed, not the whole selection
    assert np.array_equal(sample.smallest(keys[kept], features[kept], 1000), sample.smallest(keys, features, 1000))
    assert sample.key_bound(1000, 1100) == 2**64 and sample.below(keys, 2**64).all()


def test_equal_keys_are_ordered_by_features() -> None:
    keys = np.array([5, 1, 5, 5], dtype=np.uint64)
    features = np.array([[3.0], [9.0], [1.0], [2.0]])
    assert sample.smallest(keys, features, 3).ravel().tolist() == [9.0, 1.0, 2.0]


@pytest.mark.parametrize(
    "ids",
    [
        pa.array([1, 2, None], pa.int32()),
        pa.array(["x", "y", None]),
        pa.array([1.5, -0.0, None]),
        pa.array([True, False, None]),
    ],
)
def test_identifiers_of_any_type_and_nulls_have_keys(ids: pa.Array) -> None:
    features = np.array([[1.0, -0.0], [2.0, 0.0], [3.0, 0.0]])
    keys = sample.row_keys(ids, features, seed=2)
    assert keys.dtype == np.uint64 and len(set(keys.tolist())) == 3
    # -0.0 is 0.0, in features and in identifiers
    assert np.array_equal(keys, sample.row_keys(ids, features + 0.0, seed=2))


def test_fit_model_fits_the_same_forest_whatever_the_row_order() -> None:
    ids, features = _rows(3000)
    b = features[:, 1].astype(np.float32)
    table = pa.table({"id": ids, "a": features[:, 0], "b": b})
    order = pa.array(np.random.default_rng(3).permutation(3000))
    params = parse_score({"QUERY": "x", "NTREES": "8", "SAMPLE_SIZE": "64", "SEED": "2"})
    one = service.fit_model(service.select((ID, A, B), table, None), params)
    other = service.fit_model(service.select((ID, A, B), table.take(order), None), params)
    assert np.array_equal(one.forest.normals, other.forest.normals)
    assert np.array_equal(one.center, other.center)  # type: ignore[arg-type]
