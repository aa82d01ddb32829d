"""``skygate_in_footprint(ra, dec, 'schema.table')``: is a position inside a footprint MOC (1) or not (0).

The footprints are the MOCs the service builds for each positional table and for the image
collection (``/moc/{name}``). A statement that names one reads it as a table of its cells
(``footprint_table``: columns ``depth`` and ``ipix``, one row per cell of the MOC at its own
depth, the MOC's order in ``position.index_order``), which the query engine registers beside the
release like the caller's other statement tables (``release.statement_tables``).

The point's HEALPix cell at the MOC's order is
- the table's HEALPix index column shifted right, when ``ra`` and ``dec`` are the position columns
  of a release table whose index is at least as deep (every positional table: ``skygate_hpx``,
  order 14, NESTED); this is exactly the cell the footprint was built from, so the answer is the
  MOC's own for every row of that table;
- otherwise the cell computed from ``(ra, dec)`` in SQL (``adql.sphere_sql.healpix_index``), which
  agrees with cdshealpix except for points within about 1e-12 degrees of a cell edge.
That cell is then tested against the MOC's cells depth by depth: ``cell >> 2 (order - d)`` in
the cells of depth ``d`` (an ``IN`` subquery each, hash lookups on both databases). NULL
positions give 0. No I/O. Tests: tests/adql/test_footprint.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from adql.builders import num, paren, qcol, quoted
from adql.dialect import fail
from adql.names import Handler, Scope, Ty, need_number, position_of
from adql.sphere_sql import healpix_index
from dali.values import Column, Position, TableMeta

if TYPE_CHECKING:
    from adql.compiler import Compiler

__all__ = ["FOOTPRINT_SCHEMA", "FUNCTIONS", "footprint_key", "footprint_table"]

FOOTPRINT_SCHEMA = "skygate_footprint"
_MAX_ORDER = 29


def footprint_key(name: str) -> str:
    """The statement-table key (and qualified name) under which the footprint ``name`` is read."""
    return f"{FOOTPRINT_SCHEMA}.{name.lower()}"


def footprint_table(name: str, order: int, description: str | None = None) -> TableMeta:
    """The metadata of the footprint ``name`` (a MOC of ``order``) as a statement reads it: its cells,
    ``depth`` (int) and ``ipix`` (long, NESTED at that depth)."""
    return TableMeta(
        schema=FOOTPRINT_SCHEMA, name=name.lower(),
        columns=(Column("depth", "int", description="HEALPix depth of the cell"),
                 Column("ipix", "long", description="NESTED index of the cell at its depth")),
        description=description,
        position=Position(ra="", dec="", index_column="ipix", index_order=order),
    )


def _in_footprint(c: Compiler, node: exp.Anonymous, scope: Scope) -> tuple[exp.Expr, Ty]:
    if len(node.expressions) != 3:
        raise fail("skygate_in_footprint() takes ra, dec and a footprint name", node,
                   hint="e.g. skygate_in_footprint(ra, dec, 'des_dr1.main') = 1")
    ra_node, dec_node, name_node = node.expressions
    if not (isinstance(name_node, exp.Literal) and name_node.is_string):
        raise fail("the footprint of skygate_in_footprint() must be a string literal such as 'des_dr1.main'", node)
    meta = c.names.metadata.get(footprint_key(name_node.this))
    if meta is None or meta.position is None:
        known = sorted(m.name for m in c.names.metadata.values() if m.schema == FOOTPRINT_SCHEMA)
        raise fail(f"there is no footprint called {name_node.this!r}", node,
                   hint=(f"footprints: {', '.join(known)}" if known else "no footprints are built here") +
                   " (listed at /moc)")
    order = meta.position.index_order
    ra, ra_ty = c.value(ra_node, scope)
    dec, dec_ty = c.value(dec_node, scope)
    need_number(ra_ty, node, "skygate_in_footprint()")
    need_number(dec_ty, node, "skygate_in_footprint()")
    cell = _cell(ra_ty, dec_ty, order)
    if cell is None:
        cell = healpix_index(order, ra, dec)
    relation = c.names.read_table(meta)
    tests: list[exp.Expr] = []
    for depth in range(order + 1):
        shifted = cell.copy() if depth == order else exp.Paren(
            this=exp.BitwiseRightShift(this=paren(cell.copy()), expression=num(2 * (order - depth))))
        cells = (exp.select(quoted("ipix")).from_(relation.copy())
                 .where(exp.EQ(this=exp.Column(this=quoted("depth")), expression=num(depth))))
        tests.append(exp.In(this=shifted, query=exp.Subquery(this=cells)))
    inside: exp.Expr = tests[0]
    for test in tests[1:]:
        inside = exp.Or(this=inside, expression=test)
    case = exp.Case(ifs=[exp.If(this=exp.Paren(this=inside), true=exp.Literal.number(1))],
                    default=exp.Literal.number(0))
    return case, Ty("int", Column(name="skygate_in_footprint", datatype="int"))


def _cell(ra: Ty, dec: Ty, order: int) -> exp.Expr | None:
    """The stored HEALPix index of the row shifted to ``order``, when (ra, dec) are a table's indexed
    position columns with an index at least that deep; else None."""
    source = position_of(ra, dec)
    if source is None or source.meta is None or source.meta.position is None:
        return None
    position = source.meta.position
    if position.index_order < order or position.index_order > _MAX_ORDER:
        return None
    column = qcol(source.sql_alias, position.index_column)
    if position.index_order == order:
        return column
    return exp.Paren(this=exp.BitwiseRightShift(this=column, expression=num(2 * (position.index_order - order))))


FUNCTIONS: dict[str, Handler] = {"SKYGATE_IN_FOOTPRINT": _in_footprint}
