"""The steps between query and result: column checks, the NULL/NaN policy, ranks, tables, the plot."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from anomaly import service
from anomaly.params import parse_score
from dali.errors import UsageError
from dali.values import Column
from dali.writers import Info, resolve_format

ID = Column("coadd_object_id", "long", ucd="meta.id;meta.main")
G = Column("mag_auto_g", "float", unit="mag")
GR = Column("g_r", "double")
NAME = Column("tilename", "char", arraysize="12")


def _table(ids: list[int], g: list[float | None], gr: list[float | None]) -> pa.Table:
    return pa.table({"a": pa.array(ids, pa.int64()), "b": pa.array(g, pa.float32()), "c": pa.array(gr, pa.float64())})


def test_rows_with_null_or_nan_features_are_skipped_and_counted() -> None:
    table = _table([1, 2, 3, 4, 5], [20.0, None, 21.0, 22.0, float("inf")], [0.5, 0.6, float("nan"), 0.7, 0.1])
    sel = service.select((ID, G, GR), table, None)
    assert (sel.rows_selected, sel.rows_skipped) == (5, 3)
    assert sel.table.column(0).to_pylist() == [1, 4]
    assert sel.features.tolist() == [[20.0, 0.5], [22.0, 0.7]]


def test_the_id_column_may_be_any_selected_column() -> None:
    table = _table([1, 2], [20.0, 21.0], [0.5, 0.6])
    sel = service.select((ID, G, GR), table, "G_R")
    assert sel.id_column == GR and sel.feature_names == ("coadd_object_id", "mag_auto_g")
    assert sel.table.column(0).to_pylist() == [0.5, 0.6]


@pytest.mark.parametrize(
    ("columns", "table", "id_column", "param", "words"),
    [
        ((ID, G, GR), _table([1], [20.0], [0.5]), "nope", "ID_COLUMN", "not one of the selected columns"),
        ((ID,), pa.table({"a": pa.array([1], pa.int64())}), None, "QUERY", "no feature column"),
        ((ID, NAME), pa.table({"a": [1], "b": ["DES2134-0041"]}), None, "QUERY", "'tilename' is not numeric"),
        ((ID, G, GR), _table([], [], []), None, "QUERY", "selected no rows"),
        ((ID, G, GR), _table([1, 2], [None, 20.0], [0.1, None]), None, "QUERY", "NULL, NaN or sentinel"),
    ],
)
def test_unusable_selections_are_refused(columns: tuple[Column, ...], table: pa.Table, id_column: str | None,
                                         param: str, words: str) -> None:
    with pytest.raises(UsageError, match=words) as caught:
        service.select(columns, table, id_column)
    assert caught.value.param == param


def test_extension_level_must_be_below_the_number_of_features() -> None:
    sel = service.select((ID, G, GR), _table([1, 2, 3], [20.0, 21.0, 22.0], [0.5, 0.6, 0.7]), None)
    with pytest.raises(UsageError, match="below the number of features") as caught:
        service.fit_model(sel, parse_score({"QUERY": "x", "EXTENSION_LEVEL": "2"}))
    assert caught.value.param == "EXTENSION_LEVEL"
    model = service.fit_model(sel, parse_score({"QUERY": "x", "EXTENSION_LEVEL": "1", "NTREES": "5"}))
    assert model.forest.extension_level == 1 and model.center is not None


def test_a_model_refuses_other_features() -> None:
    sel = service.select((ID, G, GR), _table([1, 2, 3], [20.0, 21.0, 22.0], [0.5, 0.6, 0.7]), None)
    model = service.fit_model(sel, parse_score({"QUERY": "x", "NTREES": "5"}))
    other = service.select((ID, GR, G), _table([1, 2, 3], [20.0, 21.0, 22.0], [0.5, 0.6, 0.7]), None)
    service.check_model(model, sel, "job1")
    with pytest.raises(UsageError, match="fitted on features") as caught:
        service.check_model(model, other, "job1")
    assert caught.value.param == "MODEL"


def test_ranks_are_one_for_the_highest_and_stable_for_ties() -> None:
    assert service.ranks(np.array([0.5, 0.9, 0.5, 0.7])).tolist() == [3, 1, 4, 2]


def test_result_and_top_tables() -> None:
    sel = service.select((ID, G, GR), _table([10, 11, 12], [20.0, 21.0, 22.0], [0.5, 0.6, 0.7]), None)
    table = service.result_table(sel, np.array([0.4, 0.8, 0.6]))
    assert [c.name for c in service.result_columns(sel)] == ["coadd_object_id", "score", "rank", "mag_auto_g", "g_r"]
    assert table.column("rank").to_pylist() == [3, 1, 2]
    assert service.top_table(table, 2).column("coadd_object_id").to_pylist() == [11, 12]


def test_our_columns_step_aside_for_selected_ones_named_score() -> None:
    score = Column("score", "double")
    sel = service.select((ID, score), pa.table({"a": [1], "b": [0.3]}), None)
    assert [c.name for c in service.result_columns(sel)] == ["coadd_object_id", "anomaly_score", "rank", "score"]


def test_the_plot_is_a_png() -> None:
    png = service.plot_scores(np.random.default_rng(0).uniform(0.3, 0.8, 1000), 0.75, 10)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (700, 420)


async def test_a_table_file_reads_back(tmp_path: pytest.TempPathFactory) -> None:
    from astropy.io.votable import parse_single_table

    sel = service.select((ID, G, GR), _table([10, 11], [20.0, 21.0], [0.5, 0.6]), None)
    table = service.result_table(sel, np.array([0.4, 0.8]))
    path = tmp_path / "result.xml"  # type: ignore[operator]
    await service.write_table_file(path, resolve_format(None), service.result_columns(sel), table,
                                   [Info("rows_skipped", "0")])
    votable = parse_single_table(str(path)).to_table()
    assert votable["coadd_object_id"].tolist() == [10, 11] and votable["rank"].tolist() == [2, 1]


def test_rows_with_sentinel_features_are_skipped_and_counted_apart() -> None:
    table = _table([1, 2, 3, 4, 5], [20.0, 99.0, 21.0, None, 22.0], [0.5, 0.6, -99.0, 0.1, 999.0])
    sel = service.select((ID, G, GR), table, None, (99.0, -99.0, 999.0))
    assert (sel.rows_selected, sel.rows_skipped, sel.rows_sentinel) == (5, 4, 3)
    assert sel.table.column(0).to_pylist() == [1]
    kept = service.select((ID, G, GR), table, None, ())
    assert (kept.rows_skipped, kept.rows_sentinel) == (1, 0)


def test_a_columns_declared_null_is_skipped_in_that_column_only() -> None:
    # g (float32) declares 21.3, which single precision cannot hold exactly; g_r declares -9999.
    g, gr = replace(G, null="21.3"), replace(GR, null="-9999")
    table = _table([1, 2, 3, 4, 5, 6], [20.0, 21.3, -9999.0, 22.0, 99.0, 23.0], [0.5, 0.6, 0.7, -9999.0, 0.1, 21.3])
    sel = service.select((ID, g, gr), table, None, (99.0,))
    assert (sel.rows_selected, sel.rows_skipped, sel.rows_sentinel) == (6, 3, 3)  # rows 2, 4 (declared), 5 (99)
    assert sel.table.column(0).to_pylist() == [1, 3, 6]  # -9999 in g and 21.3 in g_r are values there
    assert service.declared_nulls((ID, g, gr, replace(GR, name="x", null="n/a"))) == {
        "mag_auto_g": float(np.float32(21.3)), "g_r": -9999.0}
    scored = service.select((ID, g, gr), table, None, (99.0,), declared=False)
    assert (scored.rows_skipped, scored.rows_sentinel) == (1, 1)
