"""Names and types: the tables and columns an ADQL query may use, and what each value is.

``Names`` resolves table and column names against the published metadata, the TAP_UPLOAD tables
and the common table expressions, scope by scope, and quotes their physical SQL names; a name that
resolves to nothing gets a suggestion. ``Ty`` is the ADQL type of a compiled value (with the
column it comes from and, for geometry, its parts), and ``output_column`` turns it into the
metadata of a result column. No SQL beyond names. Tests: tests/adql/test_translate.py,
tests/adql/test_cases.py (cases/semantics.toml), tests/adql/test_parse.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from adql.builders import qcol, quoted
from adql.dialect import fail
from adql.errors import ADQLError
from dali.values import Column, TableMeta

if TYPE_CHECKING:
    from adql.compiler import Compiler

__all__ = ["GEO_KINDS", "NUMERIC", "Geo", "Handler", "Names", "Scope", "Source", "Ty", "column", "column_in",
           "common_kind", "describe", "find_source", "ident_name", "is_stored_region", "kind_of", "need_number",
           "output_column", "position_of", "resolve_in"]

GEO_KINDS = {"point", "circle", "polygon"}
NUMERIC = {"int", "float", "null", "any"}
_INT_TYPES = {"short", "int", "long", "unsignedByte", "bit"}
_FLOAT_TYPES = {"float", "double"}


@dataclass
class Geo:
    """A geometry value as the SQL of its numbers."""

    shape: str  # point, circle, polygon
    parts: list[exp.Expr]  # point: lon, lat; circle: lon, lat, r; polygon: lon1, lat1, ...
    values: list[float] | None = None  # the same as numbers when all are constant
    position: Source | None = None  # a point made of a table's indexed ra/dec columns
    coordsys: str = "ICRS"
    column_source: Source | None = None  # a polygon column: the FROM item it belongs to


@dataclass
class Ty:
    """The ADQL type of a compiled value."""

    kind: str  # int, float, str, bool, time, null, any, point, circle, polygon
    column: Column | None = None
    geo: Geo | None = None
    contains: exp.Expr | None = None  # CONTAINS/INTERSECTS: the boolean form
    source: Source | None = None  # the FROM item a column reference comes from


# an expression or function handler: (compiler, node of its type, scope) -> the SQL and its type
Handler = Callable[["Compiler", Any, "Scope"], tuple[exp.Expr, Ty]]


@dataclass
class Source:
    """One FROM item: a table, an uploaded table, a common table expression or a subquery."""

    refs: set[str]  # names that qualify its columns (alias, or table and schema.table)
    sql_alias: str
    columns: list[Column]
    internal: dict[str, Column] = field(default_factory=dict)
    meta: TableMeta | None = None
    label: str = ""


@dataclass
class Scope:
    """The FROM items and output names visible in one SELECT (and those of the enclosing ones)."""

    parent: Scope | None
    sources: list[Source] = field(default_factory=list)
    merged: dict[str, list[Source]] = field(default_factory=dict)  # USING / NATURAL columns
    aliases: dict[str, tuple[str, Ty]] = field(default_factory=dict)  # output aliases (ORDER BY)
    in_order: bool = False
    in_group: bool = False


class Names:
    """The tables a statement may read and the names it has used, for one translation."""

    def __init__(self, metadata: Mapping[str, TableMeta], uploads: Mapping[str, TableMeta],
                 sources: Mapping[str, str]) -> None:
        self.metadata = metadata
        self.sources = sources
        self.uploads = {k.lower().removeprefix("tap_upload."): _text_regions(v) for k, v in uploads.items()}
        self.tables: set[str] = set()  # "schema.table" of every table read
        self.ctes: list[dict[str, list[Column]]] = []
        self.table_sql: dict[int, exp.Expr] = {}  # id(Source) -> its table in the output tree
        self._aliases: set[str] = set()

    def new_alias(self, name: str) -> str:
        """A SQL alias based on ``name`` that no other FROM item of the statement has."""
        base = name.lower() if name else "t"
        alias, n = base, 1
        while alias in self._aliases:
            n += 1
            alias = f"{base}_{n}"
        self._aliases.add(alias)
        return alias

    def add_source(self, scope: Scope, src: Source, node: exp.Expr) -> None:
        for other in scope.sources:
            if other.refs & src.refs:
                name = min(other.refs & src.refs)
                raise fail(f"the name {name} is used for two tables in FROM", node,
                           hint="give one of them another alias: ... AS other")
        scope.sources.append(src)

    def table(self, node: exp.Table, scope: Scope) -> exp.Expr:
        """A table name in FROM: added to ``scope``, returned as the quoted physical table."""
        if node.args.get("catalog"):
            raise fail("table names have at most two parts: schema.table", node)
        name_id: exp.Identifier = node.this
        schema_id: exp.Identifier | None = node.args.get("db")
        name = ident_name(name_id)
        schema = ident_name(schema_id) if schema_id is not None else None
        alias_node = node.args.get("alias")
        alias = ident_name(alias_node.this) if alias_node is not None and alias_node.this else None
        if alias_node is not None and alias_node.args.get("columns"):
            raise fail("column aliases after a table name are not ADQL", node)
        # common table expressions
        if schema is None:
            for level in reversed(self.ctes):
                if name.lower() in level:
                    cols = level[name.lower()]
                    refs = {alias.lower() if alias else name.lower()}
                    src = Source(refs=refs, sql_alias=self.new_alias(alias or name), columns=cols, label=name)
                    self.add_source(scope, src, node)
                    return exp.Table(this=quoted(name.lower()), alias=exp.TableAlias(this=quoted(src.sql_alias)))
        meta, physical = self._lookup_table(schema, name, node)
        if alias:
            refs = {alias if alias_node is not None and alias_node.this.quoted else alias.lower()}
        else:
            uploaded = physical[0] is None and meta.qualified not in self.sources
            refs = {meta.name, f"tap_upload.{meta.name}"} if uploaded else {meta.name, f"{meta.schema}.{meta.name}"}
        src = Source(
            refs=refs,
            sql_alias=self.new_alias(alias or meta.name),
            columns=list(meta.published_columns),
            internal={c.name: c for c in meta.columns if c.name.startswith("skygate_")},
            meta=meta,
            label=alias or meta.qualified,
        )
        self.add_source(scope, src, node)
        table_sql = exp.Table(this=quoted(physical[1]), db=quoted(physical[0]) if physical[0] else None)
        table_sql.set("alias", exp.TableAlias(this=quoted(src.sql_alias)))
        self.table_sql[id(src)] = table_sql
        return table_sql

    def read_table(self, meta: TableMeta) -> exp.Table:
        """The physical table of ``meta`` (a published or statement table a function reads, such as a
        footprint), recorded as read so the statement gets it."""
        self.tables.add(meta.qualified)
        registered = self.sources.get(meta.qualified)
        if registered:
            return exp.Table(this=quoted(registered))
        return exp.Table(this=quoted(meta.name), db=quoted(meta.schema))

    def _lookup_table(self, schema: str | None, name: str, node: exp.Expr
                      ) -> tuple[TableMeta, tuple[str | None, str]]:
        if schema is not None and schema.lower() == "tap_upload":
            meta = self.uploads.get(name.lower()) or self.uploads.get(name)
            if meta is None:
                known = ", ".join(sorted(self.uploads)) or "none"
                raise fail(f"there is no uploaded table TAP_UPLOAD.{name}", node, hint=f"uploaded tables: {known}")
            self.tables.add(f"tap_upload.{name.lower()}")
            return meta, (None, f"tap_upload_{name.lower()}")
        if schema is not None:
            key = f"{schema}.{name}"
            meta = self.metadata.get(key) or self.metadata.get(key.lower())
            if meta is None:
                raise self._unknown_table(key, node)
        else:
            matches = [m for m in self.metadata.values() if m.name == name] or [
                m for m in self.metadata.values() if m.name == name.lower()
            ]
            if not matches:
                raise self._unknown_table(name, node)
            if len(matches) > 1:
                names = ", ".join(sorted(m.qualified for m in matches))
                raise fail(f"the table name {name} is ambiguous", node, hint=f"write one of {names}")
            meta = matches[0]
        self.tables.add(meta.qualified)
        registered = self.sources.get(meta.qualified)
        return meta, (None, registered) if registered else (meta.schema, meta.name)

    def _unknown_table(self, name: str, node: exp.Expr) -> ADQLError:
        candidates: dict[str, str] = {}
        for key, meta in self.metadata.items():
            candidates[key] = key
            candidates[meta.name] = key
            candidates[key.replace(".", "_")] = key
            candidates[f"{meta.schema.split('_')[-1]}_{meta.name}"] = key
        close = difflib.get_close_matches(name.lower(), list(candidates), n=1, cutoff=0.6)
        hint = (f"did you mean {candidates[close[0]]}?" if close
                else "the published tables are listed in TAP_SCHEMA.tables")
        return fail(f"unknown table {name}", node, hint=hint)


def find_source(scope: Scope, qualifier: str, node: exp.Expr) -> Source:
    """The FROM item ``qualifier`` names, in ``scope`` or an enclosing one."""
    level: Scope | None = scope
    while level is not None:
        for src in level.sources:
            if qualifier in src.refs or qualifier.lower() in src.refs:
                return src
        level = level.parent
    names = sorted({r for s in scope.sources for r in s.refs})
    close = difflib.get_close_matches(qualifier.lower(), names, n=1)
    hint = f"did you mean {close[0]}?" if close else f"tables in FROM: {', '.join(names) or 'none'}"
    raise fail(f"{qualifier} is not a table in FROM", node, hint=hint)


def resolve_in(sources: list[Source], name: str, node: exp.Expr) -> tuple[Source, Column]:
    """The first of ``sources`` with a column ``name`` (a USING column)."""
    found = [(s, c) for s in sources if (c := column_in(s, name)) is not None]
    if not found:
        raise fail(f"unknown column {name} in USING", node)
    return found[0]


def column(node: exp.Column, scope: Scope) -> tuple[exp.Expr, Ty]:
    """A column reference: its quoted SQL and its type (an output alias in ORDER BY / GROUP BY)."""
    name = ident_name(node.this)
    if node.table:
        qualifier = ".".join(ident_name(p) for p in node.parts[:-1])
        if qualifier.lower().startswith("tap_upload."):
            qualifier = qualifier.lower()
        src = find_source(scope, qualifier, node)
        col = column_in(src, name)
        if col is None:
            raise _unknown_column(name, [src], node, qualifier)
        return qcol(src.sql_alias, col.name), Ty(kind_of(col), col, source=src)
    level: Scope | None = scope
    while level is not None:
        if name.lower() in level.merged:
            for src in level.merged[name.lower()]:
                col = column_in(src, name)
                if col is not None:
                    return qcol(None, col.name), Ty(kind_of(col), col)
        found = [(s, c) for s in level.sources if (c := column_in(s, name)) is not None]
        if len(found) > 1:
            labels = ", ".join(f"{s.label}.{c.name}" for s, c in found)
            raise fail(f"the column name {name} is ambiguous", node, hint=f"qualify it: {labels}")
        if found:
            src, col = found[0]
            return qcol(src.sql_alias, col.name), Ty(kind_of(col), col, source=src)
        level = level.parent
    if name.lower() in scope.aliases and (scope.in_order or scope.in_group):
        alias, ty = scope.aliases[name.lower()]
        return exp.Column(this=quoted(alias)), ty
    if name.lower().startswith("skygate_"):
        raise fail(f"unknown column {name}", node)
    raise _unknown_column(name, scope.sources, node, None)


def _unknown_column(name: str, sources: Iterable[Source], node: exp.Expr, qualifier: str | None) -> ADQLError:
    names = sorted({c.name for s in sources for c in s.columns})
    close = difflib.get_close_matches(name.lower(), [n.lower() for n in names], n=1, cutoff=0.6)
    where = f" in {qualifier}" if qualifier else ""
    hint = f"did you mean {close[0]}?" if close else "the columns are listed in TAP_SCHEMA.columns"
    return fail(f"unknown column {name}{where}", node, hint=hint)


def ident_name(ident: exp.Expr) -> str:
    """A name as ADQL compares it: as written when quoted, else in lower case."""
    if isinstance(ident, exp.Identifier):
        return ident.name if ident.quoted else ident.name.lower()
    return str(ident.name).lower()


def column_in(src: Source, name: str, internal: bool = False) -> Column | None:
    """The column ``name`` of ``src`` (exact, then case-insensitive; service columns on request)."""
    for c in src.columns:
        if c.name == name:
            return c
    lowered = name.lower()
    for c in src.columns:
        if c.name.lower() == lowered:
            return c
    if internal:
        return src.internal.get(lowered)
    return None


def position_of(ra: Ty, dec: Ty) -> Source | None:
    """The table whose indexed (ra, dec) columns these two values are, if they are."""
    src = ra.source
    if src is None or src is not dec.source or src.meta is None or src.meta.position is None:
        return None
    if ra.column is None or dec.column is None:
        return None
    pos = src.meta.position
    return src if (ra.column.name, dec.column.name) == (pos.ra, pos.dec) else None


# ---------------------------------------------------------------------------------------------
# types


def kind_of(col: Column) -> str:
    """The ADQL kind of a column's values."""
    if col.xtype in GEO_KINDS:
        return col.xtype
    if is_stored_region(col):
        return "polygon"
    if col.xtype == "timestamp":
        return "time"
    if col.datatype in _INT_TYPES:
        return "int"
    if col.datatype in _FLOAT_TYPES:
        return "float"
    if col.datatype in {"char", "unicodeChar"}:
        return "str"
    if col.datatype == "boolean":
        return "bool"
    return "any"


def is_stored_region(col: Column) -> bool:
    """A published ``adql:REGION`` column (ObsCore s_region): stored as a DALI polygon vertex list.

    Uploaded tables never get here as regions: their adql:REGION columns are text (see Names).
    """
    return (col.xtype or "").lower() == "adql:region"


def describe(kind: str) -> str:
    """A kind in the words of an error message."""
    return {"str": "text", "int": "an integer", "float": "a number", "time": "a timestamp",
            "bool": "a boolean", "point": "a POINT", "circle": "a CIRCLE", "polygon": "a POLYGON"}.get(kind, kind)


def need_number(ty: Ty, node: exp.Expr, what: str) -> None:
    if ty.kind not in NUMERIC:
        raise fail(f"{what} needs a number, not {describe(ty.kind)}", node)


def common_kind(types: list[Ty], node: exp.Expr, what: str) -> Ty:
    """The type of CASE, COALESCE, NULLIF over values of ``types``."""
    kinds = {t.kind for t in types} - {"null", "any"}
    if not kinds:
        return Ty("null")
    if kinds <= {"int", "float"}:
        return Ty("int" if kinds == {"int"} else "float")
    if len(kinds) > 1:
        raise fail(f"{what} mixes {' and '.join(sorted(describe(k) for k in kinds))}", node)
    kind = kinds.pop()
    if kind in GEO_KINDS:
        raise fail(f"{what} cannot return geometry", node)
    firsts = [t for t in types if t.kind == kind]
    return Ty(kind, firsts[0].column if len(types) == 1 else None)


def output_column(name: str, ty: Ty) -> Column:
    """The metadata of a result column named ``name`` holding values of ``ty``."""
    if ty.column is not None and is_stored_region(ty.column):
        c = ty.column  # the engine turns the stored vertices into STC-S text
        return Column(name=name, datatype="char", arraysize="*", xtype=c.xtype, ucd=c.ucd, utype=c.utype,
                      description=c.description)
    if ty.kind in GEO_KINDS:
        size = {"point": "2", "circle": "3", "polygon": "*"}[ty.kind]
        unit = ty.column.unit if ty.column is not None else "deg"
        return Column(name=name, datatype="double", arraysize=size, xtype=ty.kind, unit=unit,
                      ucd=ty.column.ucd if ty.column is not None else None)
    if ty.column is not None:
        c = ty.column
        return Column(name=name, datatype=c.datatype, arraysize=c.arraysize, xtype=c.xtype, unit=c.unit,
                      ucd=c.ucd, utype=c.utype, description=c.description, null=c.null)
    datatype, arraysize, xtype = {
        "int": ("long", None, None), "float": ("double", None, None), "str": ("char", "*", None),
        "time": ("char", "*", "timestamp"), "bool": ("boolean", None, None),
    }.get(ty.kind, ("char", "*", None))
    return Column(name=name, datatype=datatype, arraysize=arraysize, xtype=xtype)


def _text_regions(meta: TableMeta) -> TableMeta:
    """An uploaded table whose adql:REGION columns are plain text (uploads hold STC-S strings, not vertices)."""
    if not any(is_stored_region(c) for c in meta.columns):
        return meta
    columns = tuple(replace(c, xtype=None) if is_stored_region(c) else c for c in meta.columns)
    return replace(meta, columns=columns)
