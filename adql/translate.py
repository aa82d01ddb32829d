"""Translate a parsed ADQL query into PostgreSQL or DuckDB SQL, with its output columns.

Resolves every table and column against the published metadata (and TAP_UPLOAD tables), checks
types, and rebuilds the query as a new sqlglot tree in which every name is quoted and physical,
every ADQL function is written in the target's terms with ADQL semantics, and geometry becomes
plain arithmetic on the sphere (haversine distances, great-circle edge tests) so that no database
extension is needed. Literal regions over an indexed position add HEALPix-range predicates;
crossmatch conditions add a declination band the planners turn into range joins.
No I/O. Tests: tests/adql/test_translate.py, tests/adql/test_cases.py, tests/adql/test_geometry.py.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from sqlglot import exp

from adql import polygon_measures, sphere
from adql.dialect import fail, parse
from adql.errors import ADQLError
from adql.features import UNSUPPORTED
from adql.limits import MAX_OUTPUT_COLUMNS, check_limits, output_limit_error
from adql.semantics import check_semantics
from dali.values import Column, TableMeta

__all__ = ["DIALECTS", "Translation", "translate"]

DIALECTS = ("postgres", "duckdb")
_INT_TYPES = {"short", "int", "long", "unsignedByte", "bit"}
_FLOAT_TYPES = {"float", "double"}
_GEO_KINDS = {"point", "circle", "polygon"}
_NUMERIC = {"int", "float", "null", "any"}


@dataclass(frozen=True, slots=True)
class Translation:
    """The SQL for one backend and the metadata of its output columns, in order.

    The SQL's result columns carry exactly the names in ``columns``.
    """

    sql: str
    columns: tuple[Column, ...]
    tables: tuple[str, ...] = ()


@dataclass
class _Geo:
    shape: str  # point, circle, polygon
    parts: list[exp.Expr]  # point: lon, lat; circle: lon, lat, r; polygon: lon1, lat1, ...
    values: list[float] | None = None  # the same as numbers when all are constant
    position: _Source | None = None  # a point made of a table's indexed ra/dec columns
    coordsys: str = "ICRS"
    column_source: _Source | None = None  # a polygon column: the FROM item it belongs to


@dataclass
class _Ty:
    kind: str  # int, float, str, bool, time, null, any, point, circle, polygon
    column: Column | None = None
    geo: _Geo | None = None
    contains: exp.Expr | None = None  # CONTAINS/INTERSECTS: the boolean form
    source: _Source | None = None  # the FROM item a column reference comes from


@dataclass
class _Source:
    refs: set[str]  # names that qualify its columns (alias, or table and schema.table)
    sql_alias: str
    columns: list[Column]
    internal: dict[str, Column] = field(default_factory=dict)
    meta: TableMeta | None = None
    label: str = ""


@dataclass
class _Scope:
    parent: _Scope | None
    sources: list[_Source] = field(default_factory=list)
    merged: dict[str, list[_Source]] = field(default_factory=dict)  # USING / NATURAL columns
    aliases: dict[str, tuple[str, _Ty]] = field(default_factory=dict)  # output aliases (ORDER BY)
    in_order: bool = False
    in_group: bool = False


def translate(
    text: str,
    metadata: Mapping[str, TableMeta],
    dialect: str,
    maxrec: int | None = None,
    uploads: Mapping[str, TableMeta] | None = None,
    sources: Mapping[str, str] | None = None,
) -> Translation:
    """Translate ADQL into SQL for ``dialect`` ("postgres" or "duckdb").

    Parameters
    ----------
    text
        The ADQL query.
    metadata
        Published tables keyed by lower-case "schema.table".
    dialect
        "postgres" or "duckdb".
    maxrec
        When given, the SQL returns at most ``maxrec + 1`` rows (a smaller TOP wins), so the
        caller can detect overflow.
    uploads
        TAP_UPLOAD tables keyed by their upload name; ``TAP_UPLOAD.x`` becomes ``tap_upload_x``.
    sources
        Tables of ``metadata`` whose rows the statement reads from a relation registered for it
        alone (a user's tables on DuckDB, a caller's view of TAP_SCHEMA): "schema.table" -> the
        unqualified SQL name of that relation.

    Returns
    -------
    Translation

    Raises
    ------
    ADQLError
        Syntax errors, unknown or ambiguous names (with a suggestion), type errors, and anything
        ADQL or this service does not allow.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown SQL dialect {dialect!r}")
    tree = parse(text)
    try:
        check_limits(tree)
        check_semantics(tree)
        compiler = _Compiler(metadata, uploads or {}, dialect, sources or {})
        sql_tree, columns = compiler.statement(tree, maxrec)
        sql = sql_tree.sql(dialect=dialect, comments=False, copy=False)  # the tree is ours, used once
    except RecursionError:
        raise ADQLError("the query is nested too deeply") from None
    except sphere.GeometryValueError as err:
        raise ADQLError(f"invalid region: {err}") from None
    return Translation(sql=sql, columns=tuple(columns), tables=tuple(sorted(compiler.tables)))


# ---------------------------------------------------------------------------------------------
# small SQL builders


def _p(node: exp.Expr) -> exp.Expr:
    if isinstance(node, (exp.Binary, exp.Neg, exp.Not, exp.Case)) or (
        isinstance(node, exp.Literal) and not node.is_string and node.this.startswith("-")
    ):
        return exp.Paren(this=node)
    return node


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _num(value: float) -> exp.Expr:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**53):
        text = str(int(value)) if isinstance(value, int) else repr(float(value))
    else:
        text = repr(float(value))
    if text.startswith("-"):
        return exp.Paren(this=exp.Literal.number(text))
    return exp.Literal.number(text)


def _add(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Add(this=_p(a), expression=_p(b))


def _sub(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Sub(this=_p(a), expression=_p(b))


def _mul(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Mul(this=_p(a), expression=_p(b))


def _div(a: exp.Expr, b: exp.Expr) -> exp.Expr:
    return exp.Div(this=_p(a), expression=_p(b), typed=True)


def _and(parts: Sequence[exp.Expr]) -> exp.Expr:
    out = parts[0]
    for part in parts[1:]:
        out = exp.And(this=_pb(out), expression=_pb(part))
    return out


def _or(parts: Sequence[exp.Expr]) -> exp.Expr:
    out = parts[0]
    for part in parts[1:]:
        out = exp.Or(this=out, expression=part)
    return exp.Paren(this=out) if len(parts) > 1 else out


def _pb(node: exp.Expr) -> exp.Expr:
    return exp.Paren(this=node) if isinstance(node, exp.Or) else node


_TYPES = {
    "BIGINT": exp.DataType.Type.BIGINT, "INTEGER": exp.DataType.Type.INT, "SMALLINT": exp.DataType.Type.SMALLINT,
    "DOUBLE": exp.DataType.Type.DOUBLE, "REAL": exp.DataType.Type.FLOAT, "VARCHAR": exp.DataType.Type.VARCHAR,
    "TIMESTAMP": exp.DataType.Type.TIMESTAMP,
}


def _cast(node: exp.Expr, sqltype: str) -> exp.Expr:
    # built directly: DataType.build would tokenize and parse the type name every time
    return exp.Cast(this=node, to=exp.DataType(this=_TYPES[sqltype]))


def _quoted(name: str) -> exp.Identifier:
    return exp.Identifier(this=name, quoted=True)


def _qcol(alias: str | None, name: str) -> exp.Column:
    return exp.Column(this=_quoted(name), table=_quoted(alias) if alias else None)


def _rad(node: exp.Expr) -> exp.Expr:
    return _fn("radians", node)


def _const(node: exp.Expr) -> float | None:
    """The value of a constant numeric ADQL expression, else None."""
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    if isinstance(node, exp.Paren):
        return _const(node.this)
    if isinstance(node, exp.Neg):
        inner = _const(node.this)
        return None if inner is None else -inner
    if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
        a, b = _const(node.this), _const(node.expression)
        if a is None or b is None:
            return None
        if isinstance(node, exp.Add):
            return a + b
        if isinstance(node, exp.Sub):
            return a - b
        if isinstance(node, exp.Mul):
            return a * b
        return a / b if b else None
    return None


def _kind_of(col: Column) -> str:
    if col.xtype in _GEO_KINDS:
        return col.xtype
    if _is_stored_region(col):
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


def _is_stored_region(col: Column) -> bool:
    """A published ``adql:REGION`` column (ObsCore s_region): stored as a DALI polygon vertex list.

    Uploaded tables never get here as regions: their adql:REGION columns are text (see _Compiler).
    """
    return (col.xtype or "").lower() == "adql:region"


def _describe(kind: str) -> str:
    return {"str": "text", "int": "an integer", "float": "a number", "time": "a timestamp",
            "bool": "a boolean", "point": "a POINT", "circle": "a CIRCLE", "polygon": "a POLYGON"}.get(kind, kind)


def _text_regions(meta: TableMeta) -> TableMeta:
    """An uploaded table whose adql:REGION columns are plain text (uploads hold STC-S strings, not vertices)."""
    if not any(_is_stored_region(c) for c in meta.columns):
        return meta
    columns = tuple(replace(c, xtype=None) if _is_stored_region(c) else c for c in meta.columns)
    return replace(meta, columns=columns)


# ---------------------------------------------------------------------------------------------


class _Compiler:
    def __init__(self, metadata: Mapping[str, TableMeta], uploads: Mapping[str, TableMeta], dialect: str,
                 sources: Mapping[str, str]) -> None:
        self.metadata = metadata
        self.sources = sources
        self.uploads = {k.lower().removeprefix("tap_upload."): _text_regions(v) for k, v in uploads.items()}
        self.dialect = dialect
        self.tables: set[str] = set()
        self.ctes: list[dict[str, list[Column]]] = []
        self._aliases: set[str] = set()
        self._table_sql: dict[int, exp.Expr] = {}  # id(_Source) -> its table in the output tree
        self._preps: dict[tuple[int, str], str] = {}  # (id(_Source), polygon SQL) -> LATERAL alias
        self._current: _Scope | None = None  # the scope of the SELECT being translated

    # -- statements ------------------------------------------------------------------------

    def statement(self, tree: exp.Expr, maxrec: int | None) -> tuple[exp.Expr, list[Column]]:
        node, columns = self.query(tree, None, outer=True)
        if maxrec is not None:
            cap = maxrec + 1
            limit = node.args.get("limit")
            current = int(limit.expression.this) if isinstance(limit, exp.Limit) else None
            if current is None or current > cap:
                node.set("limit", exp.Limit(expression=_num(cap)))
        return node, columns

    def query(self, node: exp.Expr, parent: _Scope | None, outer: bool = False
              ) -> tuple[exp.Expr, list[Column]]:
        with_ = node.args.get("with_")
        pushed = False
        ctes_sql: list[exp.Expr] = []
        if with_:
            self.ctes.append({})
            pushed = True
            for cte in with_.expressions:
                name = self._ident_name(cte.args["alias"].this)
                body, cols = self.query(cte.this, None)
                self.ctes[-1][name.lower()] = cols
                ctes_sql.append(exp.CTE(this=body, alias=exp.TableAlias(this=_quoted(name.lower()))))
        try:
            if isinstance(node, exp.Subquery):
                inner, cols = self.query(node.this, parent)
                result: exp.Expr = exp.Subquery(this=inner)
                for key in ("order", "limit", "offset"):
                    if node.args.get(key):
                        raise fail(f"{key.upper()} after a parenthesised query is not supported", node)
            elif isinstance(node, exp.SetOperation):
                result, cols = self.set_operation(node, parent)
            else:
                assert isinstance(node, exp.Select)
                result, cols = self.select(node, parent)
        finally:
            if pushed:
                self.ctes.pop()
        if ctes_sql:
            result.set("with_", exp.With(expressions=ctes_sql))
        return result, cols

    def set_operation(self, node: exp.SetOperation, parent: _Scope | None) -> tuple[exp.Expr, list[Column]]:
        left, lcols = self.query(node.this, parent)
        right, rcols = self.query(node.expression, parent)
        if len(lcols) != len(rcols):
            raise fail(f"{node.key.upper()} needs the same number of columns on both sides "
                       f"({len(lcols)} and {len(rcols)})", node)
        for a, b in zip(lcols, rcols, strict=True):
            ka, kb = _kind_of(a), _kind_of(b)
            if {ka, kb} - {"any"} and ((ka in _NUMERIC) != (kb in _NUMERIC)) and "null" not in (ka, kb):
                raise fail(f"{node.key.upper()} combines {_describe(ka)} with {_describe(kb)} "
                           f"in column {a.name}", node)
        cls = type(node)
        result = cls(this=left, expression=right, distinct=node.args.get("distinct", True))
        scope = _Scope(parent)
        scope.aliases = {c.name.lower(): (c.name, _Ty(_kind_of(c), c)) for c in lcols}
        if node.args.get("order"):
            result.set("order", self.order(node.args["order"], scope, lcols, set_op=True))
        for key in ("limit", "offset"):
            if node.args.get(key):
                result.set(key, node.args[key].copy())
        return result, lcols

    def select(self, node: exp.Select, parent: _Scope | None) -> tuple[exp.Expr, list[Column]]:
        outer, self._current = self._current, _Scope(parent)
        try:
            return self._select(node, self._current)
        finally:
            self._current = outer

    def _select(self, node: exp.Select, scope: _Scope) -> tuple[exp.Expr, list[Column]]:
        out = exp.Select()
        from_ = node.args["from_"]
        out.set("from_", exp.From(this=self.source(from_.this, scope)))
        joins = []
        for join in node.args.get("joins") or ():
            joins.append(self.join(join, scope))
        if joins:
            out.set("joins", joins)
        if node.args.get("where"):
            out.set("where", exp.Where(this=self.predicate(node.args["where"].this, scope)))
        projections, columns = self.projections(node, scope)
        out.set("expressions", projections)
        if node.args.get("distinct"):
            out.set("distinct", exp.Distinct())
        if node.args.get("group"):
            scope.in_group = True
            groups = [self.value(g, scope)[0] for g in node.args["group"].expressions]
            scope.in_group = False
            out.set("group", exp.Group(expressions=groups))
        if node.args.get("having"):
            out.set("having", exp.Having(this=self.predicate(node.args["having"].this, scope)))
        if node.args.get("order"):
            order = self.order(node.args["order"], scope, columns)
            if node.args.get("distinct"):
                self._check_distinct_order(order, projections, node.args["order"])
            out.set("order", order)
        if node.args.get("limit"):
            out.set("limit", exp.Limit(expression=_num(int(node.args["limit"].expression.this))))
        if node.args.get("offset"):
            out.set("offset", exp.Offset(expression=_num(int(node.args["offset"].expression.this))))
        return out, columns

    # -- FROM ------------------------------------------------------------------------------

    def source(self, node: exp.Expr, scope: _Scope) -> exp.Expr:
        if isinstance(node, exp.Table):
            if node.args.get("joins"):
                # a parenthesised join: its sources join the enclosing scope
                first = self.source(exp.Table(**{k: v for k, v in node.args.items() if k != "joins"}), scope)
                out_joins = [self.join(j, scope) for j in node.args["joins"]]
                sel = exp.Table(this=first.this, db=first.args.get("db"), alias=first.args.get("alias"))
                sel.set("joins", out_joins)
                return sel
            return self.table(node, scope)
        if isinstance(node, exp.Subquery):
            inner = node.this
            if isinstance(inner, exp.Table) and inner.args.get("joins") and not node.alias:
                return exp.Paren(this=self.source(inner, scope))
            alias_node = node.args.get("alias")
            if alias_node is None:
                raise fail("a subquery in FROM needs a name: (SELECT ...) AS name", node)
            name = self._ident_name(alias_node.this)
            body, cols = self.query(inner, None)
            src = _Source(refs={name if alias_node.this.quoted else name.lower()}, sql_alias=self._new_alias(name),
                          columns=cols, label=name)
            self._add_source(scope, src, node)
            return exp.Subquery(this=body, alias=exp.TableAlias(this=_quoted(src.sql_alias)))
        raise fail("this kind of FROM item is not supported", node)

    def _new_alias(self, name: str) -> str:
        base = name.lower() if name else "t"
        alias, n = base, 1
        while alias in self._aliases:
            n += 1
            alias = f"{base}_{n}"
        self._aliases.add(alias)
        return alias

    def _add_source(self, scope: _Scope, src: _Source, node: exp.Expr) -> None:
        for other in scope.sources:
            if other.refs & src.refs:
                name = min(other.refs & src.refs)
                raise fail(f"the name {name} is used for two tables in FROM", node,
                           hint="give one of them another alias: ... AS other")
        scope.sources.append(src)

    def table(self, node: exp.Table, scope: _Scope) -> exp.Expr:
        if node.args.get("catalog"):
            raise fail("table names have at most two parts: schema.table", node)
        name_id: exp.Identifier = node.this
        schema_id: exp.Identifier | None = node.args.get("db")
        name = self._ident_name(name_id)
        schema = self._ident_name(schema_id) if schema_id is not None else None
        alias_node = node.args.get("alias")
        alias = self._ident_name(alias_node.this) if alias_node is not None and alias_node.this else None
        if alias_node is not None and alias_node.args.get("columns"):
            raise fail("column aliases after a table name are not ADQL", node)
        # common table expressions
        if schema is None:
            for level in reversed(self.ctes):
                if name.lower() in level:
                    cols = level[name.lower()]
                    refs = {alias.lower() if alias else name.lower()}
                    src = _Source(refs=refs, sql_alias=self._new_alias(alias or name), columns=cols, label=name)
                    self._add_source(scope, src, node)
                    return exp.Table(this=_quoted(name.lower()), alias=exp.TableAlias(this=_quoted(src.sql_alias)))
        meta, physical = self._lookup_table(schema, name, node)
        if alias:
            refs = {alias if alias_node is not None and alias_node.this.quoted else alias.lower()}
        else:
            uploaded = physical[0] is None and meta.qualified not in self.sources
            refs = {meta.name, f"tap_upload.{meta.name}"} if uploaded else {meta.name, f"{meta.schema}.{meta.name}"}
        src = _Source(
            refs=refs,
            sql_alias=self._new_alias(alias or meta.name),
            columns=list(meta.published_columns),
            internal={c.name: c for c in meta.columns if c.name.startswith("skygate_")},
            meta=meta,
            label=alias or meta.qualified,
        )
        self._add_source(scope, src, node)
        table_sql = exp.Table(this=_quoted(physical[1]), db=_quoted(physical[0]) if physical[0] else None)
        table_sql.set("alias", exp.TableAlias(this=_quoted(src.sql_alias)))
        self._table_sql[id(src)] = table_sql
        return table_sql

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

    def join(self, node: exp.Join, scope: _Scope) -> exp.Expr:
        before = list(scope.sources)
        right_sql = self.source(node.this, scope)
        new_sources = [s for s in scope.sources if s not in before]
        out = exp.Join(this=right_sql)
        for key in ("side", "kind", "method"):
            if node.args.get(key):
                out.set(key, node.args[key])
        using = node.args.get("using")
        if (node.args.get("method") or "").upper() == "NATURAL":
            left_names = {c.name for s in before for c in s.columns}
            common = [c.name for s in new_sources for c in s.columns if c.name in left_names]
            for name in common:
                scope.merged[name] = before + new_sources
        elif using:
            names = []
            for ident in using:
                name = self._ident_name(ident)
                self._resolve_in(before, name, ident)
                self._resolve_in(new_sources, name, ident)
                scope.merged[name.lower()] = before + new_sources
                names.append(_quoted(name.lower()))
            out.set("using", names)
        elif node.args.get("on"):
            out.set("on", self.predicate(node.args["on"], scope))
        elif (node.args.get("kind") or "").upper() != "CROSS":
            # ADQL allows a join without ON or USING (every pair of rows); SQL wants a condition
            out.set("on", exp.Boolean(this=True))
        return out

    # -- SELECT list -----------------------------------------------------------------------

    def projections(self, node: exp.Select, scope: _Scope) -> tuple[list[exp.Expr], list[Column]]:
        items: list[tuple[exp.Expr, Column]] = []
        taken: set[str] = set()
        suffix: dict[str, int] = {}

        def unique(name: str) -> str:
            base = name
            n = suffix.get(base.lower(), 1)
            while name.lower() in taken:
                n += 1
                name = f"{base}_{n}"
            suffix[base.lower()] = n
            taken.add(name.lower())
            return name

        for item in node.expressions:
            if isinstance(item, exp.Star) or (isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
                expanded = self.star(item, scope)
                if len(items) + len(expanded) > MAX_OUTPUT_COLUMNS:
                    raise output_limit_error(item)
                for sql, col in expanded:
                    name = unique(col.name)
                    items.append((sql, replace(col, name=name)))
                continue
            if len(items) >= MAX_OUTPUT_COLUMNS:
                raise output_limit_error(item)
            alias = None
            expr = item
            if isinstance(item, exp.Alias):
                alias = self._alias_text(item.args["alias"])
                expr = item.this
            sql, ty = self.value(expr, scope, output=True)
            name = unique(alias or self._default_name(expr))
            col = self._output_column(name, ty)
            sql = self._output_cast(sql, ty, expr)
            items.append((sql, col))
            scope.aliases[name.lower()] = (name, ty)
        projections: list[exp.Expr] = [exp.Alias(this=sql, alias=_quoted(col.name)) for sql, col in items]
        for _, col in items:
            scope.aliases.setdefault(col.name.lower(), (col.name, _Ty(_kind_of(col), col)))
        return projections, [col for _, col in items]

    def star(self, item: exp.Expr, scope: _Scope) -> list[tuple[exp.Expr, Column]]:
        if isinstance(item, exp.Column):
            qualifier = ".".join(self._ident_name(p) for p in item.parts[:-1])
            src = self._find_source(scope, qualifier, item)
            return [(_qcol(src.sql_alias, c.name), c) for c in src.columns]
        out: list[tuple[exp.Expr, Column]] = []
        seen: set[str] = set()
        for name, sources in scope.merged.items():
            for src in sources:
                col = self._column_in(src, name)
                if col is not None:
                    out.append((_qcol(None, col.name), col))
                    seen.add(name)
                    break
        for src in scope.sources:
            for c in src.columns:
                if c.name.lower() in seen:
                    continue
                out.append((_qcol(src.sql_alias, c.name), c))
        return out

    def _default_name(self, expr: exp.Expr) -> str:
        if isinstance(expr, exp.Column):
            return self._ident_name(expr.this).lower() if not expr.this.quoted else expr.this.name
        if isinstance(expr, exp.Anonymous):
            return str(expr.this).lower()
        if isinstance(expr, exp.Cast):
            return self._default_name(expr.this) if isinstance(expr.this, exp.Column) else "cast"
        if isinstance(expr, exp.Paren):
            return self._default_name(expr.this)
        return "expr"

    def _output_column(self, name: str, ty: _Ty) -> Column:
        if ty.column is not None and _is_stored_region(ty.column):
            c = ty.column  # the engine turns the stored vertices into STC-S text
            return Column(name=name, datatype="char", arraysize="*", xtype=c.xtype, ucd=c.ucd, utype=c.utype,
                          description=c.description)
        if ty.kind in _GEO_KINDS:
            size = {"point": "2", "circle": "3", "polygon": "*"}[ty.kind]
            unit = ty.column.unit if ty.column is not None else "deg"
            return Column(name=name, datatype="double", arraysize=size, xtype=ty.kind, unit=unit,
                          ucd=ty.column.ucd if ty.column is not None else None)
        if ty.column is not None:
            c = ty.column
            return Column(name=name, datatype=c.datatype, arraysize=c.arraysize, xtype=c.xtype, unit=c.unit,
                          ucd=c.ucd, utype=c.utype, description=c.description)
        datatype, arraysize, xtype = {
            "int": ("long", None, None), "float": ("double", None, None), "str": ("char", "*", None),
            "time": ("char", "*", "timestamp"), "bool": ("boolean", None, None),
        }.get(ty.kind, ("char", "*", None))
        return Column(name=name, datatype=datatype, arraysize=arraysize, xtype=xtype)

    def _output_cast(self, sql: exp.Expr, ty: _Ty, expr: exp.Expr) -> exp.Expr:
        # Give computed numbers one type on both backends (PostgreSQL numeric, DuckDB hugeint...).
        if ty.column is not None and isinstance(expr, exp.Column):
            return sql
        if ty.kind == "int" and ty.column is None:
            return _cast(sql, "BIGINT")
        if ty.kind == "float" and ty.column is None:
            return _cast(sql, "DOUBLE")
        if ty.kind == "null":
            return _cast(sql, "VARCHAR")
        return sql

    def order(self, node: exp.Order, scope: _Scope, columns: list[Column], set_op: bool = False) -> exp.Order:
        items = []
        for ordered in node.expressions:
            key = ordered.this
            if isinstance(key, exp.Literal) and not key.is_string:
                position = int(float(key.this))
                if not 1 <= position <= len(columns) or not key.this.isdigit():
                    raise fail(f"ORDER BY {key.this}: there are {len(columns)} columns", key)
                sql: exp.Expr = _quoted(columns[position - 1].name)
                sql = exp.Column(this=sql)
            elif isinstance(key, exp.Column) and not key.table and key.name.lower() in scope.aliases and (
                set_op or not self._resolves(scope, key)
            ):
                sql = exp.Column(this=_quoted(scope.aliases[key.name.lower()][0]))
            elif set_op:
                raise fail("ORDER BY after UNION/INTERSECT/EXCEPT takes output column names or positions", key)
            else:
                scope.in_order = True
                sql = self.value(key, scope)[0]
                scope.in_order = False
            desc = bool(ordered.args.get("desc"))
            items.append(exp.Ordered(this=sql, desc=True, nulls_first=False) if desc
                         else exp.Ordered(this=sql, nulls_first=False))
        return exp.Order(expressions=items)

    @staticmethod
    def _check_distinct_order(order: exp.Order, projections: list[exp.Expr], node: exp.Expr) -> None:
        # SQL (both backends) sorts a DISTINCT result only by what it selects; say so in ADQL terms.
        selected = {p.this.sql() for p in projections} | {p.alias for p in projections}
        for item in order.expressions:
            key = item.this
            if isinstance(key, exp.Column) and not key.table and key.name in selected:
                continue
            if key.sql() not in selected:
                raise fail("with SELECT DISTINCT, ORDER BY may only use selected columns", node,
                           hint="add the expression to the SELECT list or order by an output column")

    def _resolves(self, scope: _Scope, key: exp.Column) -> bool:
        try:
            self.column(key, scope)
        except ADQLError:
            return False
        return True

    # -- names -----------------------------------------------------------------------------

    @staticmethod
    def _ident_name(ident: exp.Expr) -> str:
        if isinstance(ident, exp.Identifier):
            return ident.name if ident.quoted else ident.name.lower()
        return str(ident.name).lower()

    @staticmethod
    def _alias_text(ident: exp.Expr) -> str:
        return ident.name

    @staticmethod
    def _column_in(src: _Source, name: str, internal: bool = False) -> Column | None:
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

    def _find_source(self, scope: _Scope, qualifier: str, node: exp.Expr) -> _Source:
        level: _Scope | None = scope
        while level is not None:
            for src in level.sources:
                if qualifier in src.refs or qualifier.lower() in src.refs:
                    return src
            level = level.parent
        names = sorted({r for s in scope.sources for r in s.refs})
        close = difflib.get_close_matches(qualifier.lower(), names, n=1)
        hint = f"did you mean {close[0]}?" if close else f"tables in FROM: {', '.join(names) or 'none'}"
        raise fail(f"{qualifier} is not a table in FROM", node, hint=hint)

    def _resolve_in(self, sources: list[_Source], name: str, node: exp.Expr) -> tuple[_Source, Column]:
        found = [(s, c) for s in sources if (c := self._column_in(s, name)) is not None]
        if not found:
            raise fail(f"unknown column {name} in USING", node)
        return found[0]

    def column(self, node: exp.Column, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        name = self._ident_name(node.this)
        if node.table:
            qualifier = ".".join(self._ident_name(p) for p in node.parts[:-1])
            if qualifier.lower().startswith("tap_upload."):
                qualifier = qualifier.lower()
            src = self._find_source(scope, qualifier, node)
            col = self._column_in(src, name)
            if col is None:
                raise self._unknown_column(name, [src], node, qualifier)
            return _qcol(src.sql_alias, col.name), _Ty(_kind_of(col), col, source=src)
        level: _Scope | None = scope
        while level is not None:
            if name.lower() in level.merged:
                for src in level.merged[name.lower()]:
                    col = self._column_in(src, name)
                    if col is not None:
                        return _qcol(None, col.name), _Ty(_kind_of(col), col)
            found = [(s, c) for s in level.sources if (c := self._column_in(s, name)) is not None]
            if len(found) > 1:
                labels = ", ".join(f"{s.label}.{c.name}" for s, c in found)
                raise fail(f"the column name {name} is ambiguous", node, hint=f"qualify it: {labels}")
            if found:
                src, col = found[0]
                return _qcol(src.sql_alias, col.name), _Ty(_kind_of(col), col, source=src)
            level = level.parent
        if name.lower() in scope.aliases and (scope.in_order or scope.in_group):
            alias, ty = scope.aliases[name.lower()]
            return exp.Column(this=_quoted(alias)), ty
        if name.lower().startswith("skygate_"):
            raise fail(f"unknown column {name}", node)
        raise self._unknown_column(name, scope.sources, node, None)

    def _unknown_column(self, name: str, sources: Iterable[_Source], node: exp.Expr,
                        qualifier: str | None) -> ADQLError:
        names = sorted({c.name for s in sources for c in s.columns})
        close = difflib.get_close_matches(name.lower(), [n.lower() for n in names], n=1, cutoff=0.6)
        where = f" in {qualifier}" if qualifier else ""
        hint = f"did you mean {close[0]}?" if close else "the columns are listed in TAP_SCHEMA.columns"
        return fail(f"unknown column {name}{where}", node, hint=hint)

    # -- expressions -----------------------------------------------------------------------

    def predicate(self, node: exp.Expr, scope: _Scope) -> exp.Expr:
        sql, ty = self.value(node, scope)
        if ty.kind not in {"bool", "null", "any"}:
            raise fail("a condition is needed here, not a value", node)
        return sql

    def value(self, node: exp.Expr, scope: _Scope, output: bool = False) -> tuple[exp.Expr, _Ty]:
        handler = getattr(self, f"v_{node.key}", None)
        if handler is None:
            raise fail(f"'{node.key.upper()}' is not supported here", node)
        return handler(node, scope)  # type: ignore[no-any-return]

    def v_column(self, node: exp.Column, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        if isinstance(node.this, exp.Star):
            raise fail("t.* is only allowed in the SELECT list", node)
        sql, ty = self.column(node, scope)
        if ty.kind in _GEO_KINDS and ty.geo is None:
            geo = self._geo_from_column(sql, ty.kind)
            geo.column_source = ty.source
            ty = replace(ty, geo=geo)
        return sql, ty

    def _geo_from_column(self, sql: exp.Expr, kind: str) -> _Geo:
        if kind == "point":
            parts: list[exp.Expr] = [exp.Bracket(this=sql.copy(), expressions=[exp.Literal.number(i)]) for i in (0, 1)]
            return _Geo("point", parts)
        if kind == "circle":
            return _Geo("circle", [exp.Bracket(this=sql.copy(), expressions=[exp.Literal.number(i)])
                                   for i in (0, 1, 2)])
        return _Geo("polygon", [sql])

    def v_literal(self, node: exp.Literal, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        if node.is_string:
            return exp.Literal.string(node.this), _Ty("str")
        text = node.this
        is_int = text.isdigit()
        if is_int and int(text) > 2**63 - 1:
            raise fail(f"the integer {text} is too large", node)
        return exp.Literal.number(text), _Ty("int" if is_int else "float")

    def v_hexstring(self, node: exp.HexString, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        try:
            value = int(node.this, 16)
        except ValueError:
            raise fail(f"0x{node.this} is not a hexadecimal number", node) from None
        if value > 2**63 - 1:
            raise fail(f"0x{node.this} does not fit in 64 bits", node)
        return exp.Literal.number(str(value)), _Ty("int")

    def v_null(self, node: exp.Null, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        return exp.Null(), _Ty("null")

    def v_boolean(self, node: exp.Boolean, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        return exp.Boolean(this=node.this), _Ty("bool")

    def v_paren(self, node: exp.Paren, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        sql, ty = self.value(node.this, scope)
        if ty.geo is not None or ty.contains is not None:
            return sql, ty
        return exp.Paren(this=sql), replace(ty, column=None)

    def v_neg(self, node: exp.Neg, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        sql, ty = self.value(node.this, scope)
        self._need_number(ty, node, "-")
        return exp.Neg(this=_p(sql)), _Ty(ty.kind)

    def _need_number(self, ty: _Ty, node: exp.Expr, what: str) -> None:
        if ty.kind not in _NUMERIC:
            raise fail(f"{what} needs a number, not {_describe(ty.kind)}", node)

    def _arith(self, node: exp.Binary, scope: _Scope, op: str) -> tuple[exp.Expr, _Ty]:
        a, ta = self.value(node.this, scope)
        b, tb = self.value(node.expression, scope)
        self._need_number(ta, node, op)
        self._need_number(tb, node, op)
        # REAL operands (or values that may be REAL): PostgreSQL and DuckDB would pick different
        # precisions; compute in double
        a, b = _as_double(a, ta), _as_double(b, tb)
        kind = "int" if ta.kind == "int" and tb.kind == "int" else "float"
        cls = type(node)
        if cls is exp.Div and _const(node.expression) in (None, 0.0):
            # x / 0 is an error in PostgreSQL, NULL or infinity in DuckDB: make it NULL on both
            b = _fn("nullif", b, _num(0))
        if cls is exp.Div and kind == "int" and self.dialect == "duckdb":
            # ADQL/SQL integer division truncates (PostgreSQL does); DuckDB's / would give a double.
            return exp.IntDiv(this=_p(a), expression=_p(b)), _Ty("int")
        if cls is exp.Div:
            # typed: keep the operator as written (sqlglot would otherwise cast to force float division)
            return exp.Div(this=_p(a), expression=_p(b), typed=True), _Ty(kind)
        return cls(this=_p(a), expression=_p(b)), _Ty(kind)

    def v_add(self, node: exp.Add, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        return self._arith(node, scope, "+")

    def v_sub(self, node: exp.Sub, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        return self._arith(node, scope, "-")

    def v_mul(self, node: exp.Mul, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        return self._arith(node, scope, "*")

    def v_div(self, node: exp.Div, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        return self._arith(node, scope, "/")

    def _bitwise(self, node: exp.Binary, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        a, ta = self.value(node.this, scope)
        b, tb = self.value(node.expression, scope)
        for ty in (ta, tb):
            if ty.kind not in {"int", "null", "any"}:
                raise fail("bitwise operators need integers", node)
        return type(node)(this=_p(a), expression=_p(b)), _Ty("int")

    v_bitwiseand = v_bitwiseor = v_bitwisexor = _bitwise

    def v_bitwisenot(self, node: exp.BitwiseNot, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        a, ta = self.value(node.this, scope)
        if ta.kind not in {"int", "null", "any"}:
            raise fail("bitwise operators need integers", node)
        return exp.BitwiseNot(this=_p(a)), _Ty("int")

    def v_dpipe(self, node: exp.DPipe, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        a, ta = self.value(node.this, scope)
        b, tb = self.value(node.expression, scope)
        for ty in (ta, tb):
            if ty.kind in _GEO_KINDS:
                raise fail("|| joins text, not geometry", node)
        if ta.kind != "str":
            a = _cast(a, "VARCHAR")
        if tb.kind != "str":
            b = _cast(b, "VARCHAR")
        return exp.DPipe(this=_p(a), expression=_p(b)), _Ty("str")

    def _compare(self, node: exp.Binary, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        special = self._geometry_comparison(node, scope)
        if special is not None:
            return special, _Ty("bool")
        a, ta = self.value(node.this, scope)
        b, tb = self.value(node.expression, scope)
        for ty in (ta, tb):
            if ty.kind in _GEO_KINDS:
                raise fail("geometry values cannot be compared", node,
                           hint="test them with 1 = CONTAINS(...) or 1 = INTERSECTS(...)")
        numeric = {ta.kind, tb.kind} <= _NUMERIC
        textual = {ta.kind, tb.kind} <= {"str", "time", "null", "any"}
        if not (numeric or textual or ta.kind == tb.kind):
            raise fail(f"cannot compare {_describe(ta.kind)} with {_describe(tb.kind)}", node)
        if numeric:
            a, b = _same_precision(a, ta, b, tb)
        return type(node)(this=_p(a), expression=_p(b)), _Ty("bool")

    v_eq = v_neq = v_gt = v_gte = v_lt = v_lte = _compare

    def _logic(self, node: exp.Binary, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        a = self.predicate(node.this, scope)
        b = self.predicate(node.expression, scope)
        return type(node)(this=_pb(a) if isinstance(node, exp.And) else a,
                          expression=_pb(b) if isinstance(node, exp.And) else b), _Ty("bool")

    v_and = v_or = _logic

    def v_not(self, node: exp.Not, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        return exp.Not(this=exp.Paren(this=self.predicate(node.this, scope))), _Ty("bool")

    def _like(self, node: exp.Binary, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        a, ta = self.value(node.this, scope)
        b, tb = self.value(node.expression, scope)
        for ty in (ta, tb):
            if ty.kind not in {"str", "null", "any"}:
                raise fail(f"{node.key.upper()} compares text, not {_describe(ty.kind)}", node)
        return type(node)(this=_p(a), expression=_p(b)), _Ty("bool")

    v_like = v_ilike = _like

    def v_between(self, node: exp.Between, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        a, ta = self.value(node.this, scope)
        lo, tlo = self.value(node.args["low"], scope)
        hi, thi = self.value(node.args["high"], scope)
        for ty in (ta, tlo, thi):
            if ty.kind in _GEO_KINDS or ty.kind == "bool":
                raise fail(f"BETWEEN cannot use {_describe(ty.kind)}", node)
        if {ta.kind, tlo.kind, thi.kind} <= _NUMERIC:
            a, lo = _same_precision(a, ta, lo, tlo)
            a, hi = _same_precision(a, ta, hi, thi)
        return exp.Between(this=_p(a), low=_p(lo), high=_p(hi)), _Ty("bool")

    def v_is(self, node: exp.Is, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        a, ta = self.value(node.this, scope)
        if not isinstance(node.expression, exp.Null):
            raise fail("IS only tests NULL: x IS NULL or x IS NOT NULL", node)
        if ta.geo is not None and ta.column is None:
            return exp.Boolean(this=False), _Ty("bool")
        return exp.Is(this=_p(a), expression=exp.Null()), _Ty("bool")

    def v_in(self, node: exp.In, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        a, ta = self.value(node.this, scope)
        if ta.kind in _GEO_KINDS:
            raise fail("IN cannot test geometry values", node)
        if node.args.get("query"):
            sub, cols = self.query(node.args["query"].this, scope)
            if len(cols) != 1:
                raise fail("the subquery after IN must return one column", node)
            return exp.In(this=_p(a), query=exp.Subquery(this=sub)), _Ty("bool")
        values = [self.value(v, scope)[0] for v in node.expressions]
        return exp.In(this=_p(a), expressions=values), _Ty("bool")

    def v_exists(self, node: exp.Exists, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        inner = node.this.this if isinstance(node.this, exp.Subquery) else node.this
        sub, _ = self.query(inner, scope)
        return exp.Exists(this=sub), _Ty("bool")

    def v_subquery(self, node: exp.Subquery, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        sub, cols = self.query(node.this, scope)
        if len(cols) != 1:
            raise fail("a subquery used as a value must return one column", node)
        kind = _kind_of(cols[0])
        sql: exp.Expr = exp.Subquery(this=sub)
        if kind in _GEO_KINDS:
            # a geometry value (e.g. one s_region): used like a column of that shape
            return sql, _Ty(kind, cols[0], geo=self._geo_from_column(sql, kind))
        return sql, _Ty(kind, cols[0])

    def v_case(self, node: exp.Case, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        ifs = []
        kinds: list[_Ty] = []
        for branch in node.args.get("ifs") or ():
            # the simple form CASE x WHEN v THEN ... is CASE WHEN x = v THEN ...
            test = branch.this if node.this is None else exp.EQ(this=node.this.copy(), expression=branch.this.copy())
            cond = self.predicate(test, scope)
            val, ty = self.value(branch.args["true"], scope)
            ifs.append(exp.If(this=cond, true=val))
            kinds.append(ty)
        default = None
        if node.args.get("default") is not None:
            default, ty = self.value(node.args["default"], scope)
            kinds.append(ty)
        result = self._common_kind(kinds, node, "CASE")
        return exp.Case(ifs=ifs, default=default), result

    def _common_kind(self, types: list[_Ty], node: exp.Expr, what: str) -> _Ty:
        kinds = {t.kind for t in types} - {"null", "any"}
        if not kinds:
            return _Ty("null")
        if kinds <= {"int", "float"}:
            return _Ty("int" if kinds == {"int"} else "float")
        if len(kinds) > 1:
            raise fail(f"{what} mixes {' and '.join(sorted(_describe(k) for k in kinds))}", node)
        kind = kinds.pop()
        if kind in _GEO_KINDS:
            raise fail(f"{what} cannot return geometry", node)
        firsts = [t for t in types if t.kind == kind]
        return _Ty(kind, firsts[0].column if len(types) == 1 else None)

    def v_cast(self, node: exp.Cast, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        target = node.to
        if target.this == exp.DataType.Type.USERDEFINED:
            return self._cast_geometry(node, str(target.args.get("kind")).upper())
        sql, ty = self.value(node.this, scope)
        if ty.kind in _GEO_KINDS:
            raise fail("geometry values cannot be CAST", node)
        t = exp.DataType.Type
        mapping = {t.SMALLINT: ("SMALLINT", "int", "short"), t.INT: ("INTEGER", "int", "int"),
                   t.BIGINT: ("BIGINT", "int", "long"), t.FLOAT: ("REAL", "float", "float"),
                   t.DOUBLE: ("DOUBLE", "float", "double"), t.TIMESTAMP: ("TIMESTAMP", "time", None)}
        if target.this in mapping:
            sqltype, kind, datatype = mapping[target.this]
            if kind in {"int", "float"} and ty.kind == "time":
                raise fail("a timestamp cannot be CAST to a number", node)
            col = Column(name="cast", datatype=datatype) if datatype else Column(
                name="cast", datatype="char", arraysize="*", xtype="timestamp")
            if kind == "int" and ty.kind == "float":
                # ADQL: CAST of a real to an integer rounds (both backends round half away from zero)
                sql = _fn("round", sql)
            return _cast(sql, sqltype), _Ty(kind, col)
        # CHAR(n), VARCHAR(n): PostgreSQL pads/truncates, DuckDB ignores n; make both cut at n.
        length = None
        if target.expressions:
            length_node = target.expressions[0].this
            if not (isinstance(length_node, exp.Literal) and length_node.this.isdigit()):
                raise fail("the length of CHAR(n)/VARCHAR(n) must be a whole number", node)
            length = int(length_node.this)
        text = _cast(sql, "VARCHAR")
        if length is not None:
            text = _fn("substr", text, _num(1), _num(length))
        return text, _Ty("str", Column(name="cast", datatype="char", arraysize=f"{length}*" if length else "*"))

    def _cast_geometry(self, node: exp.Cast, kind: str) -> tuple[exp.Expr, _Ty]:
        inner = node.this
        if not (isinstance(inner, exp.Literal) and inner.is_string):
            raise fail(f"CAST to {kind} takes a string literal such as '10 20'", node)
        try:
            numbers = [float(x) for x in inner.this.replace(",", " ").split()]
        except ValueError:
            raise fail(f"'{inner.this}' is not a DALI {kind.lower()} (numbers separated by spaces)", node) from None
        expected = {"POINT": lambda n: n == 2, "CIRCLE": lambda n: n == 3, "POLYGON": lambda n: n >= 6 and n % 2 == 0}
        if not expected[kind](len(numbers)):
            raise fail(f"'{inner.this}' is not a DALI {kind.lower()}", node)
        return self._geometry_value(kind.lower(), [_num(v) for v in numbers], numbers, node)

    # -- functions -------------------------------------------------------------------------

    def v_anonymous(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        name = str(node.this).upper()
        if name in UNSUPPORTED:
            raise fail(UNSUPPORTED[name], node)
        handler = getattr(self, f"f_{name.lower()}", None)
        if handler is None:
            raise fail(f"unknown function {node.this}()", node)
        return handler(node, scope)  # type: ignore[no-any-return]

    def _args(self, node: exp.Anonymous, scope: _Scope, numeric: bool = True) -> list[tuple[exp.Expr, _Ty]]:
        out = [self.value(a, scope) for a in node.expressions]
        if numeric:
            for _, ty in out:
                self._need_number(ty, node, f"{str(node.this).upper()}()")
        return out

    def _math(self, sqlname: str, kind: str = "float") -> object:
        def handler(node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
            args = self._args(node, scope)
            return _fn(sqlname, *[a for a, _ in args]), _Ty(kind)
        return handler

    def __getattr__(self, attr: str) -> object:
        simple = {
            "f_abs": "abs", "f_degrees": "degrees", "f_exp": "exp", "f_log": "ln", "f_log10": "log10",
            "f_radians": "radians", "f_sqrt": "sqrt", "f_sin": "sin", "f_cos": "cos", "f_tan": "tan",
            "f_cot": "cot", "f_asin": "asin", "f_acos": "acos", "f_atan": "atan", "f_atan2": "atan2",
            "f_power": "power", "f_pi": "pi",
        }
        if attr in simple:
            return self._math(simple[attr])
        if attr in {"f_ceiling", "f_floor"}:
            return self._rounding("ceil" if attr == "f_ceiling" else "floor")
        raise AttributeError(attr)

    def _rounding(self, sqlname: str) -> object:
        def handler(node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
            (a, ta), = self._args(node, scope)
            if ta.kind == "int":
                return a, _Ty("int")
            return _fn(sqlname, a), _Ty("float")
        return handler

    def f_mod(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        (a, ta), (b, tb) = self._args(node, scope)
        b = _fn("nullif", b, _num(0))  # MOD(x, 0): NULL on both backends (PostgreSQL would fail)
        if ta.kind == "int" and tb.kind == "int":
            return exp.Mod(this=_p(a), expression=_p(b)), _Ty("int")
        # x - y * trunc(x / y): the sign of x, as ADQL and C fmod; DuckDB's fmod differs.
        a2, b2 = _cast(a, "DOUBLE"), _cast(b, "DOUBLE")
        return _sub(a2, _mul(b2.copy(), _fn("trunc", _div(a2.copy(), b2.copy())))), _Ty("float")

    def f_round(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        args = self._args(node, scope)
        a = _cast(args[0][0], "DOUBLE")
        # sign(x) * floor(|x| * 10^n + 0.5) / 10^n: half away from zero with the same double
        # arithmetic on both backends (PostgreSQL's round(double) rounds half to even).
        scale = _fn("power", _num(10.0), args[1][0]) if len(args) == 2 else None
        if len(args) == 2 and args[1][1].kind not in {"int", "null", "any"}:
            raise fail("the second argument of ROUND() must be an integer", node)
        body = _fn("abs", a) if scale is None else _mul(_fn("abs", a), scale)
        rounded = _mul(_fn("sign", a.copy()), _fn("floor", _add(body, _num(0.5))))
        return (rounded if scale is None else _div(rounded, scale.copy())), _Ty("float")

    def f_truncate(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        args = self._args(node, scope)
        a = _cast(args[0][0], "DOUBLE")
        if len(args) == 1:
            return _fn("trunc", a), _Ty("float")
        if args[1][1].kind not in {"int", "null", "any"}:
            raise fail("the second argument of TRUNCATE() must be an integer", node)
        scale = _fn("power", _num(10.0), args[1][0])
        return _div(_fn("trunc", _mul(a, scale)), scale.copy()), _Ty("float")

    def f_rand(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        if node.expressions:
            raise fail("RAND(seed) is not supported: the databases cannot seed a per-query sequence", node,
                       hint="use RAND() without a seed")
        return _fn("random"), _Ty("float")

    def _aggregate(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        name = str(node.this).upper()
        arg = node.expressions[0]
        distinct = isinstance(arg, exp.Distinct)
        if distinct:
            arg = arg.expressions[0]
        if isinstance(arg, exp.Star):
            inner: exp.Expr = exp.Star()
            ty = _Ty("any")
        else:
            inner, ty = self.value(arg, scope)
            if ty.kind in _GEO_KINDS:
                raise fail(f"{name}() cannot aggregate geometry", node)
        wrapped = exp.Distinct(expressions=[inner]) if distinct else inner
        call = _fn(name.lower(), wrapped)
        if name == "COUNT":
            return _cast(call, "BIGINT"), _Ty("int", Column(name="count", datatype="long"))
        if name in {"SUM", "AVG"}:
            self._need_number(ty, node, f"{name}()")
            unit = ty.column.unit if ty.column else None
            if name == "AVG" or ty.kind == "float":
                return _cast(call, "DOUBLE"), _Ty("float", Column(name=name.lower(), datatype="double", unit=unit))
            return _cast(call, "BIGINT"), _Ty("int", Column(name=name.lower(), datatype="long", unit=unit))
        col = ty.column
        if col is not None:
            col = Column(name=name.lower(), datatype=col.datatype, arraysize=col.arraysize, xtype=col.xtype,
                         unit=col.unit, ucd=col.ucd)
        return call, _Ty(ty.kind, col)

    f_count = f_min = f_max = f_sum = f_avg = _aggregate

    def f_lower(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        (a, ta), = self._args(node, scope, numeric=False)
        if ta.kind not in {"str", "null", "any"}:
            raise fail(f"{str(node.this).upper()}() needs text", node)
        return _fn(str(node.this).lower(), a), _Ty("str")

    f_upper = f_lower

    def f_coalesce(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        args = self._args(node, scope, numeric=False)
        ty = self._common_kind([t for _, t in args], node, str(node.this).upper())
        return _fn(str(node.this).lower(), *[a for a, _ in args]), ty

    f_nullif = f_coalesce

    def f_in_unit(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        value, ty = self.value(node.expressions[0], scope)
        self._need_number(ty, node, "IN_UNIT()")
        target_node = node.expressions[1]
        if not (isinstance(target_node, exp.Literal) and target_node.is_string):
            raise fail("the unit of IN_UNIT() must be a string literal such as 'rad'", node)
        source = ty.column.unit if ty.column is not None else None
        if not source:
            raise fail("IN_UNIT() needs a value whose unit is known (a column, or MIN/MAX/AVG/SUM of one)", node)
        factor = _unit_factor(source, target_node.this)
        if factor is None:
            raise fail(f"cannot convert {source} to {target_node.this}", node,
                       hint="the units must be VOUnits of the same kind (e.g. deg and rad)")
        col = Column(name="in_unit", datatype="double", unit=target_node.this,
                     ucd=ty.column.ucd if ty.column is not None else None)
        return _mul(_cast(value, "DOUBLE"), _num(factor)), _Ty("float", col)

    def f_ivo_healpix_index(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        order = _const(node.expressions[0])
        if order is None or not order.is_integer() or not 0 <= order <= 29:
            raise fail("the order of ivo_healpix_index() must be a whole number from 0 to 29", node)
        (_, _), (ra, _), (dec, _) = self._args(node, scope)
        return _healpix_sql(int(order), ra, dec, self.dialect), _Ty(
            "int", Column(name="ivo_healpix_index", datatype="long", ucd="pos.healpix"))

    # -- geometry --------------------------------------------------------------------------

    def _coords(self, node: exp.Anonymous, scope: _Scope) -> tuple[str, list[exp.Expr]]:
        args = list(node.expressions)
        coordsys = "ICRS"
        if args and (isinstance(args[0], exp.Null) or (isinstance(args[0], exp.Literal) and args[0].is_string)):
            first = args.pop(0)
            if isinstance(first, exp.Literal) and first.this.strip():
                coordsys = first.this.strip().upper()
                if coordsys.split()[0] not in {"ICRS", "J2000", "FK5"}:
                    raise fail(f"coordinate system {first.this} is not supported: positions here are ICRS",
                               node, hint="write '' or 'ICRS', or leave the argument out")
        return coordsys, args

    def _geometry_value(self, shape: str, parts: list[exp.Expr], values: list[float] | None,
                        node: exp.Expr, position: _Source | None = None) -> tuple[exp.Expr, _Ty]:
        if values is not None:
            if shape in {"point", "circle"}:
                if not -90.0 <= values[1] <= 90.0:
                    raise fail(f"latitude {values[1]} is outside [-90, 90]", node)
                values[0] = values[0] % 360.0
                parts = [_num(values[0]), _num(values[1]), *parts[2:]]
            if shape == "circle" and not 0.0 < values[2] <= 180.0:
                raise fail(f"the CIRCLE radius {values[2]} must be in (0, 180] degrees", node)
            if shape == "polygon":
                try:
                    pts = sphere.normalize_polygon(list(zip(values[0::2], values[1::2], strict=True)))
                    sphere.convex_pieces(pts)
                except sphere.GeometryValueError as err:
                    raise fail(f"invalid POLYGON: {err}", node) from None
                values = [v for pt in pts for v in pt]
                parts = [_num(v) for v in values]
        geo = _Geo(shape, parts, values, position)
        array = exp.Array(expressions=[_cast(p.copy(), "DOUBLE") for p in parts])
        return array, _Ty(shape, None, geo)

    def _numbers(self, node: exp.Anonymous, args: list[exp.Expr], scope: _Scope
                 ) -> tuple[list[exp.Expr], list[float] | None, list[_Ty]]:
        compiled = [self.value(a, scope) for a in args]
        for _, ty in compiled:
            self._need_number(ty, node, f"{str(node.this).upper()}()")
        consts = [_const(a) for a in args]
        values = None if any(c is None for c in consts) else [float(c) for c in consts if c is not None]
        return [c for c, _ in compiled], values, [t for _, t in compiled]

    def f_point(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        _, args = self._coords(node, scope)
        parts, values, types = self._numbers(node, args, scope)
        position = None
        if types[0].geo is None and types[0].column is not None and types[1].column is not None:
            position = _position_of(types[0], types[1])
        return self._geometry_value("point", parts, values, node, position)

    def _geo_arg(self, node: exp.Expr, scope: _Scope, want: set[str], fname: str) -> _Geo:
        _, ty = self.value(node, scope)
        if ty.geo is None or ty.kind not in want:
            allowed = " or ".join(sorted(w.upper() for w in want))
            raise fail(f"{fname} needs {allowed} here, not {_describe(ty.kind)}", node)
        return ty.geo

    def f_circle(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        _, args = self._coords(node, scope)
        if len(args) == 2:
            center = self._geo_arg(args[0], scope, {"point"}, "CIRCLE()")
            r, rvals, _ = self._numbers(node, args[1:], scope)
            values = center.values + rvals if center.values is not None and rvals is not None else None
            sql, ty = self._geometry_value("circle", center.parts + r, values, node)
            ty.geo.position = center.position  # type: ignore[union-attr]
            return sql, ty
        parts, values, _ = self._numbers(node, args, scope)
        return self._geometry_value("circle", parts, values, node)

    def f_box(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        _, args = self._coords(node, scope)
        if len(args) == 3:
            center = self._geo_arg(args[0], scope, {"point"}, "BOX()")
            _rest, rvals, _ = self._numbers(node, args[1:], scope)
            values = center.values + rvals if center.values is not None and rvals is not None else None
        else:
            _, values, _ = self._numbers(node, args, scope)
        if values is None:
            raise fail("BOX() needs constant numbers here", node, hint="use POLYGON for boxes built from columns")
        try:
            corners = sphere.box_polygon(*values)
        except sphere.GeometryValueError as err:
            raise fail(f"invalid BOX: {err}", node) from None
        flat = [v for pt in corners for v in pt]
        return self._geometry_value("polygon", [_num(v) for v in flat], flat, node)

    def f_polygon(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        _, args = self._coords(node, scope)
        if len(args) == 3 or all(isinstance(a, exp.Anonymous) and str(a.this).upper() == "POINT" for a in args):
            geos = [self._geo_arg(a, scope, {"point"}, "POLYGON()") for a in args]
            parts = [p for g in geos for p in g.parts]
            values = None if any(g.values is None for g in geos) else [v for g in geos for v in g.values or []]
        else:
            parts, values, _ = self._numbers(node, args, scope)
        return self._geometry_value("polygon", parts, values, node)

    def f_coord1(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        geo = self._geo_arg(node.expressions[0], scope, {"point"}, "COORD1()")
        index = 0 if str(node.this).upper() == "COORD1" else 1
        ucd = "pos.eq.ra" if index == 0 else "pos.eq.dec"
        return geo.parts[index].copy(), _Ty("float", Column(name="coord", datatype="double", unit="deg", ucd=ucd))

    f_coord2 = f_coord1

    def f_coordsys(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        geo = self._geo_arg(node.expressions[0], scope, _GEO_KINDS, "COORDSYS()")
        return exp.Literal.string(geo.coordsys), _Ty("str")

    def f_area(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        geo = self._geo_arg(node.expressions[0], scope, _GEO_KINDS, "AREA()")
        col = Column(name="area", datatype="double", unit="deg**2", ucd="phys.angArea")
        if geo.shape == "point":
            return _num(0.0), _Ty("float", col)
        if geo.shape == "circle":
            # 2 pi (1 - cos r) steradians, in square degrees
            r = geo.parts[2].copy()
            body = _mul(_num(2 * math.pi * (180 / math.pi) ** 2), _sub(_num(1.0), _fn("cos", _rad(r))))
            return body, _Ty("float", col)
        if geo.values is None:
            return polygon_measures.area_sql(_polygon_array(geo), self.dialect), _Ty("float", col)
        return _num(sphere.polygon_area(list(zip(geo.values[0::2], geo.values[1::2], strict=True)))), _Ty("float", col)

    def f_centroid(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        geo = self._geo_arg(node.expressions[0], scope, _GEO_KINDS, "CENTROID()")
        if geo.shape in {"point", "circle"}:
            vals = geo.values[:2] if geo.values is not None else None
            return self._geometry_value("point", [p.copy() for p in geo.parts[:2]], vals, node)
        if geo.values is None:
            lon_sql, lat_sql = polygon_measures.centroid_sql(_polygon_array(geo), self.dialect)
            return self._geometry_value("point", [lon_sql, lat_sql], None, node)
        lon, lat = sphere.polygon_centroid(list(zip(geo.values[0::2], geo.values[1::2], strict=True)))
        return self._geometry_value("point", [_num(lon), _num(lat)], [lon, lat], node)

    def f_distance(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        a, b = self._distance_points(node, scope)
        col = Column(name="distance", datatype="double", unit="deg", ucd="pos.angDistance")
        return _fn("degrees", _mul(_num(2.0), _fn("asin", _fn("least", _num(1.0), _fn("sqrt", _hav(a, b)))))), _Ty(
            "float", col)

    def _distance_points(self, node: exp.Anonymous, scope: _Scope) -> tuple[_Geo, _Geo]:
        args = list(node.expressions)
        if len(args) == 4:
            parts, _, types = self._numbers(node, args, scope)
            consts = [_const(a) for a in args]
            va = None if consts[0] is None or consts[1] is None else [consts[0], consts[1]]
            vb = None if consts[2] is None or consts[3] is None else [consts[2], consts[3]]
            pa = _Geo("point", parts[:2], va, _position_of(types[0], types[1]))
            pb = _Geo("point", parts[2:], vb, _position_of(types[2], types[3]))
            return pa, pb
        return (self._geo_arg(args[0], scope, {"point"}, "DISTANCE()"),
                self._geo_arg(args[1], scope, {"point"}, "DISTANCE()"))

    def f_contains(self, node: exp.Anonymous, scope: _Scope) -> tuple[exp.Expr, _Ty]:
        pred = self._region_predicate(node, scope)
        return exp.Case(ifs=[exp.If(this=pred, true=_num(1))], default=_num(0)), _Ty("int", contains=pred)

    f_intersects = f_contains

    def _region_predicate(self, node: exp.Anonymous, scope: _Scope) -> exp.Expr:
        name = str(node.this).upper()
        a = self._geo_arg(node.expressions[0], scope, _GEO_KINDS, f"{name}()")
        b = self._geo_arg(node.expressions[1], scope, _GEO_KINDS, f"{name}()")
        if name == "INTERSECTS" and a.shape != "point" and b.shape == "point":
            a, b = b, a
        if a.shape == "point":
            return self._point_in(a, b, node)
        if a.shape == "circle" and b.shape == "circle":
            d = _Geo("point", a.parts[:2], a.values[:2] if a.values else None)
            e = _Geo("point", b.parts[:2], b.values[:2] if b.values else None)
            if name == "CONTAINS":
                # the whole of a inside b: distance + r_a <= r_b
                dist = _fn("degrees", _mul(_num(2.0), _fn("asin", _fn("least", _num(1.0), _fn("sqrt", _hav(d, e))))))
                return exp.LTE(this=_add(dist, a.parts[2].copy()), expression=_p(b.parts[2].copy()))
            bound = _add(a.parts[0 + 2].copy(), b.parts[2].copy())
            return exp.LTE(this=_hav(d, e), expression=_hav_bound_sql(bound))
        if a.values is not None and b.values is not None:
            return exp.Boolean(this=_literal_relation(name, a, b))
        column_polygon = self._polygon_column_relation(name, a, b, node)
        if column_polygon is not None:
            return column_polygon
        raise fail(f"{name}() of {a.shape.upper()} and {b.shape.upper()} needs constant regions here", node,
                   hint="a column may be a POINT (or a CIRCLE centre); "
                        "regions built from columns are limited to circles")

    def _polygon_column_relation(self, name: str, a: _Geo, b: _Geo, node: exp.Anonymous) -> exp.Expr | None:
        """A polygon column against a constant circle or polygon (INTERSECTS, CONTAINS)."""

        def is_column(g: _Geo) -> bool:
            return g.shape == "polygon" and g.values is None and len(g.parts) == 1

        def vertices(g: _Geo) -> list[tuple[float, float]]:
            assert g.values is not None
            return list(zip(g.values[0::2], g.values[1::2], strict=True))

        if is_column(a) and b.shape == "polygon" and b.values is not None:
            kind = "intersects" if name == "INTERSECTS" else "within"
            return _polygon_column_vs_polygon_sql(kind, self.dialect, a.parts[0], vertices(b))
        if is_column(b) and a.shape == "polygon" and a.values is not None:
            kind = "intersects" if name == "INTERSECTS" else "holds"
            return _polygon_column_vs_polygon_sql(kind, self.dialect, b.parts[0], vertices(a))
        if name == "CONTAINS" and is_column(a) and b.shape == "circle" and b.values is not None:
            if b.values[2] > 90:
                raise fail("CONTAINS of a polygon column in a circle needs a radius of at most 90 degrees", node)
            center = _Geo("point", b.parts[:2], b.values[:2])
            return _polygon_column_sql("within_circle", self.dialect, a.parts[0], center, b.values[2])
        if name == "CONTAINS" and is_column(b) and a.shape == "circle" and a.values is not None:
            center = _Geo("point", a.parts[:2], a.values[:2])
            reach = _polygon_column_sql("reaches_edge", self.dialect, b.parts[0], center, a.values[2])
            inside = _polygon_column_sql("contains", self.dialect, b.parts[0], center)
            return _and([inside, exp.Not(this=exp.Paren(this=reach))])
        pairs = [(a, b), (b, a)] if name == "INTERSECTS" else []
        for poly, circle in pairs:
            if poly.shape == "polygon" and poly.values is None and len(poly.parts) == 1 and circle.shape == "circle" \
                    and circle.values is not None:
                if circle.values[2] > 90:
                    raise fail("INTERSECTS of a polygon column and a circle needs a radius of at most 90 degrees", node)
                center = _Geo("point", circle.parts[:2], circle.values[:2])
                return _polygon_column_sql("intersects", self.dialect, poly.parts[0], center, circle.values[2])
        return None

    def _point_in(self, p: _Geo, region: _Geo, node: exp.Anonymous) -> exp.Expr:
        if region.shape == "point":
            return exp.LTE(this=_hav(p, region), expression=_num(0.0))
        if region.shape == "circle":
            return self._cone(p, region.parts[:3], region.values, node)
        if region.values is None and len(region.parts) == 1:
            # a polygon column (DALI double[] xtype polygon)
            if p.values is not None:
                return _polygon_column_sql("contains", self.dialect, region.parts[0], p)
            prep = self._polygon_prep(region, p)
            if prep is not None:
                vec = _vec_sql(p)
                return polygon_measures.point_in_prepared(prep, (vec[0], vec[1], vec[2]), p.parts[1], self.dialect)
            return _polygon_column_sql("contains", self.dialect, region.parts[0], p)
        if region.values is None:
            raise fail("CONTAINS() in a polygon needs constant vertices", node)
        vertices = list(zip(region.values[0::2], region.values[1::2], strict=True))
        exact = _polygon_sql(p, vertices)
        if p.position is not None and p.position.meta is not None and p.position.meta.position is not None:
            pos = p.position.meta.position
            ranges = sphere.polygon_ranges(vertices, pos.index_order, pos.tolerance)
            return _and([_ranges_sql(p.position, pos.index_column, ranges), exact])
        return exact

    def _polygon_prep(self, region: _Geo, point: _Geo) -> str | None:
        """The alias of a LATERAL row of per-polygon values beside a polygon column's table.

        Points from one table tested against polygons of another: computing each polygon's edges
        and declination band once per polygon row lets the planner join on the band and test the
        candidates cheaply (adql/polygon_measures.py), instead of rebuilding the polygon for every
        pair of rows. None when the column's table is not a plain table of the output tree, or when
        the polygon or the point comes from an enclosing query (DuckDB 1.5 cannot bind a lambda
        over columns of two query levels).
        """
        src = region.column_source
        scope = self._current
        if src is None and scope is not None and scope.sources and _self_contained(region.parts[0]):
            src = scope.sources[0]  # an uncorrelated polygon (a scalar subquery): once, beside the first table
        table_sql = self._table_sql.get(id(src)) if src is not None else None
        if src is None or table_sql is None or table_sql.parent is None or scope is None or src not in scope.sources:
            return None
        local = {s.sql_alias for s in scope.sources}
        for part in point.parts:
            if any(c.table and c.table not in local for c in part.find_all(exp.Column)):
                return None
        key = (id(src), region.parts[0].sql())
        if key in self._preps:
            return self._preps[key]
        alias = self._new_alias(f"{src.sql_alias}_polygon")
        lateral = exp.Lateral(this=exp.Subquery(this=polygon_measures.polygon_prep(region.parts[0], self.dialect)),
                              alias=exp.TableAlias(this=_quoted(alias)))
        join = exp.Join(this=lateral, kind="CROSS")
        if isinstance(table_sql.parent, exp.Subquery) and table_sql.args.get("joins"):
            table_sql.append("joins", join)  # a second polygon of the same table
        else:
            inner = table_sql.copy()
            inner.set("joins", [join])
            table_sql.replace(exp.Subquery(this=inner))
            self._table_sql[id(src)] = inner
        self._preps[key] = alias
        return alias

    def _cone(self, p: _Geo, circle: list[exp.Expr], values: list[float] | None,
              node: exp.Expr) -> exp.Expr:
        center = _Geo("point", circle[:2], values[:2] if values else None)
        radius = circle[2]
        rconst = values[2] if values else _const(radius)
        bound = _num(math.sin(math.radians(rconst) / 2) ** 2) if rconst is not None else _hav_bound_sql(radius)
        exact = exp.LTE(this=_hav(p, center), expression=bound)
        terms: list[exp.Expr] = []
        if values is not None and p.position is not None and p.position.meta and p.position.meta.position:
            pos = p.position.meta.position
            ranges = sphere.cone_ranges(values[0], values[1], values[2], pos.index_order, pos.tolerance)
            terms.append(_ranges_sql(p.position, pos.index_column, ranges))
        elif values is None and rconst is not None and p.values is None:
            # crossmatch: a declination band (a range join for the planner) and an RA window
            r = rconst + 1e-9
            terms.append(exp.GTE(this=_p(p.parts[1].copy()), expression=_sub(center.parts[1].copy(), _num(r))))
            terms.append(exp.LTE(this=_p(p.parts[1].copy()), expression=_add(center.parts[1].copy(), _num(r))))
            terms.append(_ra_window(p, center, rconst))
        elif values is None and p.values is None:
            # crossmatch with a per-row radius: the declination band still makes a range join
            r_expr = _add(_fn("least", radius.copy(), _num(180.0)), _num(1e-9))
            terms.append(exp.GTE(this=_p(p.parts[1].copy()), expression=_sub(center.parts[1].copy(), r_expr)))
            terms.append(exp.LTE(this=_p(p.parts[1].copy()), expression=_add(center.parts[1].copy(), r_expr.copy())))
        return _and([*terms, exact])

    def _geometry_comparison(self, node: exp.Binary, scope: _Scope) -> exp.Expr | None:
        """1 = CONTAINS(...), CONTAINS(...) = 0, DISTANCE(...) < r and their mirrors."""
        left, right = node.this, node.expression
        while isinstance(left, exp.Paren):
            left = left.this
        while isinstance(right, exp.Paren):
            right = right.this
        flipped = {exp.LT: exp.GT, exp.LTE: exp.GTE, exp.GT: exp.LT, exp.GTE: exp.LTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}
        op = type(node)
        geometric = {"CONTAINS", "INTERSECTS", "DISTANCE"}
        if _is_call(right, geometric) and not _is_call(left, geometric):
            left, right, op = right, left, flipped[op]
        if _is_call(left, {"CONTAINS", "INTERSECTS"}):
            value = _const(right)
            if value not in (0.0, 1.0) or op not in (exp.EQ, exp.NEQ):
                return None
            pred = self._region_predicate(left, scope)
            positive = (value == 1.0) == (op is exp.EQ)
            return pred if positive else exp.Not(this=exp.Paren(this=pred))
        if _is_call(left, {"DISTANCE"}) and op in (exp.LT, exp.LTE):
            radius = _const(right)
            if radius is None or radius <= 0:
                return None
            a, b = self._distance_points(left, scope)
            if b.position is not None and a.position is None:
                a, b = b, a
            pred = self._cone(a, [*b.parts, _num(min(radius, 180.0))],
                              [*b.values, min(radius, 180.0)] if b.values is not None else None, node)
            if op is exp.LT:
                # strictness at the boundary: compare the distance itself as well
                dist = _fn("degrees", _mul(_num(2.0), _fn("asin", _fn("least", _num(1.0), _fn("sqrt", _hav(a, b))))))
                pred = _and([pred, exp.LT(this=dist, expression=_num(radius))])
            return pred
        return None


@functools.lru_cache(maxsize=256)
def _unit_factor(source: str, target: str) -> float | None:
    """The factor converting ``source`` to ``target`` (VOUnit strings, read by astropy), or None."""
    import warnings

    from astropy import units as u

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(u.Unit(source, format="vounit").to(u.Unit(target, format="vounit")))
    except (ValueError, u.UnitsError, TypeError):
        return None


def _self_contained(node: exp.Expr) -> bool:
    """A scalar subquery whose columns all belong to its own tables (it reads no outer column)."""
    if not isinstance(node, exp.Subquery):
        return False
    own = {t.alias_or_name for t in node.find_all(exp.Table)} | {
        q.alias for q in node.find_all(exp.Subquery) if q.alias}
    return all(c.table and c.table in own for c in node.find_all(exp.Column))


def _polygon_array(geo: _Geo) -> exp.Expr:
    """A polygon's vertices as one array: a polygon column as it is, built ones from their parts."""
    if len(geo.parts) == 1:
        return geo.parts[0]
    return exp.Array(expressions=[_cast(p.copy(), "DOUBLE") for p in geo.parts])


def _is_real(ty: _Ty) -> bool:
    return ty.column is not None and ty.column.datatype == "float"


def _same_precision(a: exp.Expr, ta: _Ty, b: exp.Expr, tb: _Ty) -> tuple[exp.Expr, exp.Expr]:
    """Compare a REAL column with a literal in REAL (index-friendly), anything else in double.

    PostgreSQL and DuckDB promote REAL differently against numeric literals and doubles, which
    changes results at the boundary; making the precision explicit gives the same rows on both.
    """
    real_a, real_b = _is_real(ta), _is_real(tb)
    if real_a and real_b:
        return a, b
    if real_a and isinstance(b, exp.Literal):
        return a, _cast(b, "REAL")
    if real_b and isinstance(a, exp.Literal):
        return _cast(a, "REAL"), b
    if real_a or real_b:
        return _as_double(a, ta), _as_double(b, tb)
    return a, b


def _as_double(sql: exp.Expr, ty: _Ty) -> exp.Expr:
    if ty.kind != "float" or isinstance(sql, exp.Literal) or (ty.column is not None and ty.column.datatype == "double"):
        return sql
    if isinstance(sql, exp.Cast) and sql.to.this == exp.DataType.Type.DOUBLE:
        return sql
    return _cast(sql, "DOUBLE")


def _is_call(node: exp.Expr, names: set[str]) -> bool:
    return isinstance(node, exp.Anonymous) and str(node.this).upper() in names


def _position_of(ra: _Ty, dec: _Ty) -> _Source | None:
    """The table whose indexed (ra, dec) columns these two values are, if they are."""
    src = ra.source
    if src is None or src is not dec.source or src.meta is None or src.meta.position is None:
        return None
    if ra.column is None or dec.column is None:
        return None
    pos = src.meta.position
    return src if (ra.column.name, dec.column.name) == (pos.ra, pos.dec) else None


def _hav(a: _Geo, b: _Geo) -> exp.Expr:
    """sin^2(dlat/2) + cos(lat1) cos(lat2) sin^2(dlon/2), the haversine of the separation."""
    lon1, lat1 = a.parts[0].copy(), a.parts[1].copy()
    lon2, lat2 = b.parts[0].copy(), b.parts[1].copy()
    if b.values is not None:
        coslat2: exp.Expr = _num(math.cos(math.radians(b.values[1])))
    else:
        coslat2 = _fn("cos", _rad(lat2.copy()))
    dlat = _fn("sin", _div(_rad(_sub(lat2, lat1)), _num(2.0)))
    dlon = _fn("sin", _div(_rad(_sub(lon2, lon1)), _num(2.0)))
    return _add(_fn("power", dlat, _num(2)),
                _mul(_mul(_fn("cos", _rad(a.parts[1].copy())), coslat2), _fn("power", dlon, _num(2))))


def _hav_bound_sql(radius: exp.Expr) -> exp.Expr:
    return _fn("power", _fn("sin", _div(_rad(_fn("least", radius.copy(), _num(180.0))), _num(2.0))), _num(2))


def _ra_window(p: _Geo, center: _Geo, radius: float) -> exp.Expr:
    """|ra_p - ra_c| (across the 0/360 seam) within asin(sin r / cos dec_c); any RA near a pole."""
    dra = _fn("abs", _sub(p.parts[0].copy(), center.parts[0].copy()))
    wrapped = _fn("least", dra, _sub(_num(360.0), dra.copy()))
    cosdec = _fn("greatest", _fn("cos", _rad(center.parts[1].copy())), _num(1e-12))
    half = _fn("degrees", _fn("asin", _fn("least", _num(1.0), _div(_num(math.sin(math.radians(radius))), cosdec))))
    near_pole = exp.GTE(this=_add(_fn("abs", center.parts[1].copy()), _num(radius)), expression=_num(90.0))
    return exp.Paren(this=exp.Or(this=near_pole, expression=exp.LTE(this=wrapped, expression=_add(half, _num(1e-9)))))


def _polygon_sql(p: _Geo, vertices: list[tuple[float, float]]) -> exp.Expr:
    """Point in a counter-clockwise polygon: inside every edge's great circle, per convex piece."""
    lon, lat = _rad(p.parts[0].copy()), _rad(p.parts[1].copy())
    if p.values is not None:
        inside = sphere.point_in_polygon(p.values[0], p.values[1], vertices)
        return exp.Boolean(this=inside)
    pieces = []
    for piece in sphere.convex_pieces(vertices):
        vecs = [sphere.unit(a, d) for a, d in piece]
        terms = []
        for i in range(len(vecs)):
            n = sphere.cross(vecs[i], vecs[(i + 1) % len(vecs)])
            # n . p = cos(lat) (nx cos(lon) + ny sin(lon)) + nz sin(lat)
            horiz = _add(_mul(_num(n[0]), _fn("cos", lon.copy())), _mul(_num(n[1]), _fn("sin", lon.copy())))
            dot = _add(_mul(_fn("cos", lat.copy()), horiz), _mul(_num(n[2]), _fn("sin", lat.copy())))
            terms.append(exp.GTE(this=dot, expression=_num(0.0)))
        pieces.append(exp.Paren(this=_and(terms)))
    return _or(pieces)


def _ranges_sql(src: _Source, column: str, ranges: list[tuple[int, int]]) -> exp.Expr:
    col = _qcol(src.sql_alias, column)
    terms: list[exp.Expr] = []
    for lo, hi in ranges:
        if lo == hi:
            terms.append(exp.EQ(this=col.copy(), expression=_num(lo)))
        else:
            terms.append(exp.Between(this=col.copy(), low=_num(lo), high=_num(hi)))
    if not terms:
        return exp.Boolean(this=False)
    if len(terms) == 1:
        return terms[0]
    # The hull first: DuckDB prunes row groups (zone maps) on a plain range but not on an OR of
    # ranges, and the tables are stored in index order (a 0.05 deg cone on 10 M rows: 3 ms, not 59).
    hull = exp.Between(this=col.copy(), low=_num(min(lo for lo, _ in ranges)), high=_num(max(hi for _, hi in ranges)))
    return _and([hull, _or(terms)])


def _literal_relation(name: str, a: _Geo, b: _Geo) -> bool:
    """CONTAINS / INTERSECTS between two constant regions, computed here."""
    assert a.values is not None and b.values is not None

    def polygon(g: _Geo) -> list[tuple[float, float]]:
        return list(zip(g.values[0::2], g.values[1::2], strict=True))  # type: ignore[index]

    if a.shape == "circle" and b.shape == "polygon":
        verts = polygon(b)
        if name == "CONTAINS":
            return sphere.point_in_polygon(a.values[0], a.values[1], verts) and (
                _polygon_circle_distance(verts, a.values[0], a.values[1]) >= a.values[2])
        if sphere.point_in_polygon(a.values[0], a.values[1], verts):
            return True
        return _polygon_circle_distance(verts, a.values[0], a.values[1]) <= a.values[2]
    if a.shape == "polygon" and b.shape == "circle":
        verts = polygon(a)
        if name == "CONTAINS":
            if b.values[2] > 90:
                raise sphere.GeometryValueError("CONTAINS(POLYGON, CIRCLE) needs a radius of at most 90 degrees")
            # a cap of radius <= 90 degrees is convex: it holds the polygon when it holds the vertices
            return all(sphere.separation(lon, lat, b.values[0], b.values[1]) <= b.values[2] for lon, lat in verts)
        if sphere.point_in_polygon(b.values[0], b.values[1], verts):
            return True
        return _polygon_circle_distance(verts, b.values[0], b.values[1]) <= b.values[2]
    if a.shape == "polygon" and b.shape == "polygon":
        pa, pb = polygon(a), polygon(b)
        if name == "CONTAINS":
            return all(sphere.point_in_polygon(lon, lat, pb) for lon, lat in pa)
        if any(sphere.point_in_polygon(lon, lat, pb) for lon, lat in pa) or any(
            sphere.point_in_polygon(lon, lat, pa) for lon, lat in pb
        ):
            return True
        return _edges_cross(pa, pb)
    raise sphere.GeometryValueError(f"{name} of {a.shape} and {b.shape} is not supported")


def _polygon_circle_distance(verts: list[tuple[float, float]], lon: float, lat: float) -> float:
    """Smallest angular distance (degrees) from a point to the polygon's edges."""
    p = sphere.unit(lon, lat)
    best = 180.0
    for i in range(len(verts)):
        a, b = sphere.unit(*verts[i]), sphere.unit(*verts[(i + 1) % len(verts)])
        best = min(best, sphere.separation(lon, lat, *verts[i]))
        n = sphere.cross(a, b)
        nn = math.sqrt(sphere.dot(n, n))
        if nn == 0:
            continue
        n = (n[0] / nn, n[1] / nn, n[2] / nn)
        # foot of the perpendicular on the great circle, if it falls within the arc
        s = sphere.dot(p, n)
        foot = (p[0] - s * n[0], p[1] - s * n[1], p[2] - s * n[2])
        if sphere.dot(sphere.cross(a, foot), n) >= 0 and sphere.dot(sphere.cross(foot, b), n) >= 0:
            best = min(best, math.degrees(math.asin(min(1.0, abs(s)))))
    return best


def _edges_cross(pa: list[tuple[float, float]], pb: list[tuple[float, float]]) -> bool:
    va = [sphere.unit(*v) for v in pa]
    vb = [sphere.unit(*v) for v in pb]
    for i in range(len(va)):
        a1, a2 = va[i], va[(i + 1) % len(va)]
        na = sphere.cross(a1, a2)
        for j in range(len(vb)):
            b1, b2 = vb[j], vb[(j + 1) % len(vb)]
            nb = sphere.cross(b1, b2)
            if sphere.dot(b1, na) * sphere.dot(b2, na) < 0 and sphere.dot(a1, nb) * sphere.dot(a2, nb) < 0:
                x = sphere.cross(na, nb)
                for cand in (x, (-x[0], -x[1], -x[2])):
                    if sphere.dot(sphere.cross(a1, cand), na) >= 0 and sphere.dot(sphere.cross(cand, a2), na) >= 0:
                        return True
    return False


def _healpix_sql(order: int, ra: exp.Expr, dec: exp.Expr, dialect: str) -> exp.Expr:
    """The HEALPix NESTED index of (ra, dec) at ``order``, in plain SQL arithmetic.

    The standard ang2pix (Gorski et al. 2005, as in healpy/cdshealpix): face and in-face (x, y)
    from z = sin(dec), then the bits of x and y interleaved with the usual magic masks.
    """
    tree = _healpix_template(order).copy()
    for placeholder in list(tree.find_all(exp.Column)):
        if placeholder.name == "ra_in":
            placeholder.replace(_p(ra.copy()))
        elif placeholder.name == "dec_in":
            placeholder.replace(_p(dec.copy()))
    return exp.Paren(this=tree)


def _spread_bits(v: str) -> str:
    # x -> its bits at the even positions of a 64-bit integer (masks 0x0000FFFF0000FFFF,
    # 0x00FF00FF00FF00FF, 0x0F0F0F0F0F0F0F0F, 0x3333333333333333, 0x5555555555555555)
    s = f"(({v} | ({v} << 16)) & 281470681808895)"
    s = f"(({s} | ({s} << 8)) & 71777214294589695)"
    s = f"(({s} | ({s} << 4)) & 1085102592571150095)"
    s = f"(({s} | ({s} << 2)) & 3689348814741910323)"
    s = f"(({s} | ({s} << 1)) & 6148914691236517205)"
    return s


@functools.lru_cache(maxsize=32)
def _healpix_template(order: int) -> exp.Expr:
    # Written in PostgreSQL syntax and parsed by sqlglot once per order, so it renders for either
    # backend; ra_in / dec_in are replaced by the argument expressions.
    import sqlglot

    nside, nside1, nside2 = 1 << order, (1 << order) - 1, 1 << (2 * order)
    z = "sin(radians(dec_in))"
    za = f"abs({z})"
    tt = "((ra_in - 360.0 * floor(ra_in / 360.0)) / 90.0)"
    eq_jp = f"CAST(floor({nside} * (0.5 + {tt}) - {nside} * {z} * 0.75) AS BIGINT)"
    eq_jm = f"CAST(floor({nside} * (0.5 + {tt}) + {nside} * {z} * 0.75) AS BIGINT)"
    eq_ifp = f"({eq_jp} >> {order})"
    eq_ifm = f"({eq_jm} >> {order})"
    eq_face = (f"(CASE WHEN {eq_ifp} = {eq_ifm} THEN ({eq_ifp} | 4) WHEN {eq_ifp} < {eq_ifm} "
               f"THEN {eq_ifp} ELSE {eq_ifm} + 8 END)")
    eq_ix = f"({eq_jm} & {nside1})"
    eq_iy = f"({nside} - ({eq_jp} & {nside1}) - 1)"
    ntt = f"least(3, CAST(floor({tt}) AS BIGINT))"
    tp = f"({tt} - {ntt})"
    # nside * sqrt(3 (1 - |z|)), written with cos(dec) to keep precision near the poles
    tmp = f"({nside} * cos(radians(dec_in)) * sqrt(3.0 / (1.0 + {za})))"
    pjp = f"least({nside1}, CAST(floor({tp} * {tmp}) AS BIGINT))"
    pjm = f"least({nside1}, CAST(floor((1.0 - {tp}) * {tmp}) AS BIGINT))"
    north = "dec_in >= 0"
    po_face = f"(CASE WHEN {north} THEN {ntt} ELSE {ntt} + 8 END)"
    po_ix = f"(CASE WHEN {north} THEN {nside} - {pjm} - 1 ELSE {pjp} END)"
    po_iy = f"(CASE WHEN {north} THEN {nside} - {pjp} - 1 ELSE {pjm} END)"
    polar = f"{za} > 2.0 / 3.0"
    face = f"(CASE WHEN {polar} THEN {po_face} ELSE {eq_face} END)"
    ix = f"(CASE WHEN {polar} THEN {po_ix} ELSE {eq_ix} END)"
    iy = f"(CASE WHEN {polar} THEN {po_iy} ELSE {eq_iy} END)"
    text = (f"CASE WHEN ra_in IS NULL OR dec_in IS NULL THEN NULL ELSE "
            f"CAST({face} AS BIGINT) * {nside2} + {_spread_bits(ix)} + 2 * {_spread_bits(iy)} END")
    return sqlglot.parse_one(text, read="postgres")


# ---------------------------------------------------------------------------------------------
# polygon-valued columns (e.g. ivoa.obscore.s_region): per-edge tests in a correlated subquery


def _vec_sql(p: _Geo) -> list[exp.Expr]:
    """The unit vector of a point, as numbers for a constant point or as SQL."""
    if p.values is not None:
        return [_num(v) for v in sphere.unit(p.values[0], p.values[1])]
    lon, lat = _rad(p.parts[0].copy()), _rad(p.parts[1].copy())
    return [_mul(_fn("cos", lat.copy()), _fn("cos", lon.copy())), _mul(_fn("cos", lat.copy()), _fn("sin", lon.copy())),
            _fn("sin", lat.copy())]


@functools.lru_cache(maxsize=8)
def _polygon_column_template(kind: str, dialect: str) -> exp.Expr:
    """Point-in-polygon or polygon-circle overlap for a convex polygon stored as a flat array.

    Orientation-free: the point is inside when it lies on the same side of every edge's great
    circle and in the polygon's hemisphere (towards the sum of its vertices), which holds for
    convex polygons smaller than a hemisphere, as every footprint is. ``poly_in``, ``px_in``,
    ``py_in``, ``pz_in`` (the point's unit vector) and ``cosr_in``/``sinr_in`` are replaced.
    """
    import sqlglot

    half = "array_length(poly_in, 1) / 2" if dialect == "postgres" else "len(poly_in) // 2"
    vertex = ("cos(radians(poly_in[2 * {k} + 2])) * cos(radians(poly_in[2 * {k} + 1])) AS {a}x, "
              "cos(radians(poly_in[2 * {k} + 2])) * sin(radians(poly_in[2 * {k} + 1])) AS {a}y, "
              "sin(radians(poly_in[2 * {k} + 2])) AS {a}z")
    edges = (f"(SELECT {vertex.format(k='i', a='a')}, {vertex.format(k='j', a='b')} FROM "
             f"(SELECT i, (i + 1) % ({half}) AS j FROM generate_series(0, {half} - 1) AS g(i)) AS k)")
    nx, ny, nz = "(ay * bz - az * by)", "(az * bx - ax * bz)", "(ax * by - ay * bx)"
    side = f"({nx} * px_in + {ny} * py_in + {nz} * pz_in)"
    hemisphere = "(sum(ax) * px_in + sum(ay) * py_in + sum(az) * pz_in > 0)"
    inside = f"((bool_and({side} >= 0) OR bool_and({side} <= 0)) AND {hemisphere})"
    if kind == "contains":
        text = f"(SELECT {inside} FROM {edges} AS e)"
    elif kind == "within_circle":
        text = f"(SELECT bool_and(ax * px_in + ay * py_in + az * pz_in >= cosr_in) FROM {edges} AS e)"
    else:
        # the circle reaches the polygon: centre inside, a vertex within r, or an edge within r
        # (the foot of the perpendicular on the arc: (A x C).n >= 0 and (C x B).n >= 0)
        ac = (f"((ay * pz_in - az * py_in) * {nx} + (az * px_in - ax * pz_in) * {ny} + "
              f"(ax * py_in - ay * px_in) * {nz})")
        cb = (f"((py_in * bz - pz_in * by) * {nx} + (pz_in * bx - px_in * bz) * {ny} + "
              f"(px_in * by - py_in * bx) * {nz})")
        norm = f"sqrt({nx} * {nx} + {ny} * {ny} + {nz} * {nz})"
        near_edge = f"({ac} >= 0 AND {cb} >= 0 AND abs({side}) <= sinr_in * {norm})"
        near_vertex = "(ax * px_in + ay * py_in + az * pz_in >= cosr_in)"
        reach = f"bool_or({near_edge} OR {near_vertex})"
        text = f"(SELECT {reach} FROM {edges} AS e)" if kind == "reaches_edge" else \
            f"(SELECT {inside} OR {reach} FROM {edges} AS e)"
    return sqlglot.parse_one(text, read=dialect)


def _polygon_column_sql(kind: str, dialect: str, polygon: exp.Expr, point: _Geo,
                        radius: float | None = None) -> exp.Expr:
    tree = _polygon_column_template(kind, dialect).copy()
    vec = _vec_sql(point)
    values: dict[str, exp.Expr] = {"poly_in": polygon, "px_in": vec[0], "py_in": vec[1], "pz_in": vec[2]}
    if radius is not None:
        values["cosr_in"] = _num(math.cos(math.radians(radius)))
        values["sinr_in"] = _num(math.sin(math.radians(radius)))
    for placeholder in list(tree.find_all(exp.Column)):
        if placeholder.name in values and not placeholder.table:
            placeholder.replace(_p(values[placeholder.name].copy()))
    return _coalesce_false(tree)


def _coalesce_false(node: exp.Expr) -> exp.Expr:
    # an empty or NULL polygon contains nothing
    return _fn("coalesce", node, exp.Boolean(this=False))


def _dot3(v: Sequence[float], names: tuple[str, str, str]) -> str:
    return f"({v[0]!r} * {names[0]} + {v[1]!r} * {names[1]} + {v[2]!r} * {names[2]})"


def _polygon_column_vs_polygon_sql(kind: str, dialect: str, polygon: exp.Expr,
                                   vertices: list[tuple[float, float]]) -> exp.Expr:
    """A convex polygon column against a constant polygon (counter-clockwise, possibly concave).

    ``intersects``: a column vertex inside the constant polygon, a constant vertex inside the
    column polygon, or two edges crossing. ``within``: every column vertex inside the constant
    polygon (exact for a convex constant polygon). ``holds``: every constant vertex inside the
    column polygon (the column polygon contains the constant one).
    """
    import sqlglot

    half = "array_length(poly_in, 1) / 2" if dialect == "postgres" else "len(poly_in) // 2"
    vertex = ("cos(radians(poly_in[2 * {k} + 2])) * cos(radians(poly_in[2 * {k} + 1])) AS {a}x, "
              "cos(radians(poly_in[2 * {k} + 2])) * sin(radians(poly_in[2 * {k} + 1])) AS {a}y, "
              "sin(radians(poly_in[2 * {k} + 2])) AS {a}z")
    edges = (f"(SELECT {vertex.format(k='i', a='a')}, {vertex.format(k='j', a='b')} FROM "
             f"(SELECT i, (i + 1) % ({half}) AS j FROM generate_series(0, {half} - 1) AS g(i)) AS k)")
    n = ("(ay * bz - az * by)", "(az * bx - ax * bz)", "(ax * by - ay * bx)")
    a_vec, b_vec = ("ax", "ay", "az"), ("bx", "by", "bz")
    vecs = [sphere.unit(lon, lat) for lon, lat in vertices]
    pieces = []
    for piece in sphere.convex_pieces(vertices):
        pv = [sphere.unit(lon, lat) for lon, lat in piece]
        terms = [f"{_dot3(sphere.cross(pv[k], pv[(k + 1) % len(pv)]), a_vec)} >= 0" for k in range(len(pv))]
        pieces.append("(" + " AND ".join(terms) + ")")
    a_inside = "(" + " OR ".join(pieces) + ")"

    def v_inside(v: sphere.Vec) -> str:
        side = f"({n[0]} * {v[0]!r} + {n[1]} * {v[1]!r} + {n[2]} * {v[2]!r})"
        hemi = f"(sum(ax) * {v[0]!r} + sum(ay) * {v[1]!r} + sum(az) * {v[2]!r} > 0)"
        return f"((bool_and({side} >= 0) OR bool_and({side} <= 0)) AND {hemi})"

    if kind == "within":
        text = f"(SELECT bool_and({a_inside}) FROM {edges} AS e)"
    elif kind == "holds":
        text = f"(SELECT {' AND '.join(v_inside(v) for v in vecs)} FROM {edges} AS e)"
    else:
        crossings = []
        for k in range(len(vecs)):
            c, d = vecs[k], vecs[(k + 1) % len(vecs)]
            m = sphere.cross(c, d)
            cn = f"({c[0]!r} * {n[0]} + {c[1]!r} * {n[1]} + {c[2]!r} * {n[2]})"
            dn = f"({d[0]!r} * {n[0]} + {d[1]!r} * {n[1]} + {d[2]!r} * {n[2]})"
            same = f"((ax + bx) * {c[0] + d[0]!r} + (ay + by) * {c[1] + d[1]!r} + (az + bz) * {c[2] + d[2]!r} > 0)"
            crossings.append(f"({cn} * {dn} < 0 AND {_dot3(m, a_vec)} * {_dot3(m, b_vec)} < 0 AND {same})")
        any_v = " OR ".join(v_inside(v) for v in vecs)
        text = f"(SELECT bool_or({a_inside}) OR bool_or({' OR '.join(crossings)}) OR {any_v} FROM {edges} AS e)"
    tree = sqlglot.parse_one(text, read=dialect)
    for placeholder in list(tree.find_all(exp.Column)):
        if placeholder.name == "poly_in" and not placeholder.table:
            placeholder.replace(_p(polygon.copy()))
    return _coalesce_false(tree)
