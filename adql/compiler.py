"""The statements of an ADQL query: SELECT, set operations, WITH, FROM, the SELECT list, ORDER BY.

``Compiler`` walks a parsed statement and builds a new sqlglot tree for one dialect, clause by
clause; each value expression goes through ``Compiler.value``, which dispatches on the node type
by the table in adql/expressions.py. Names come from adql/names.py. Holds the state of one
translation (aliases, the polygon LATERAL rows added beside tables); no I/O.
Tests: tests/adql/test_translate.py, tests/adql/test_cases.py, tests/adql/test_limits.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sqlglot import exp

from adql.builders import cast, num, qcol, quoted
from adql.dialect import fail
from adql.errors import ADQLError
from adql.expressions import EXPRESSIONS
from adql.limits import MAX_OUTPUT_COLUMNS, output_limit_error
from adql.names import (
    NUMERIC,
    Names,
    Scope,
    Source,
    Ty,
    column,
    column_in,
    describe,
    find_source,
    ident_name,
    kind_of,
    output_column,
    resolve_in,
)
from adql.targets import TARGETS
from dali.values import Column, TableMeta

__all__ = ["Compiler"]


class Compiler:
    """One translation: the names seen so far and the SQL tree being built for one dialect."""

    def __init__(self, metadata: Mapping[str, TableMeta], uploads: Mapping[str, TableMeta], dialect: str,
                 sources: Mapping[str, str]) -> None:
        self.names = Names(metadata, uploads, sources)
        self.dialect = dialect
        self.target = TARGETS[dialect]
        self.preps: dict[tuple[int, str], str] = {}  # (id(Source), polygon SQL) -> LATERAL alias
        self.current: Scope | None = None  # the scope of the SELECT being translated

    # -- statements ------------------------------------------------------------------------

    def statement(self, tree: exp.Expr, maxrec: int | None) -> tuple[exp.Expr, list[Column]]:
        node, columns = self.query(tree, None, outer=True)
        if maxrec is not None:
            cap = maxrec + 1
            limit = node.args.get("limit")
            current = int(limit.expression.this) if isinstance(limit, exp.Limit) else None
            if current is None or current > cap:
                node.set("limit", exp.Limit(expression=num(cap)))
        return node, columns

    def query(self, node: exp.Expr, parent: Scope | None, outer: bool = False
              ) -> tuple[exp.Expr, list[Column]]:
        with_ = node.args.get("with_")
        pushed = False
        ctes_sql: list[exp.Expr] = []
        if with_:
            self.names.ctes.append({})
            pushed = True
            for cte in with_.expressions:
                name = ident_name(cte.args["alias"].this)
                body, cols = self.query(cte.this, None)
                self.names.ctes[-1][name.lower()] = cols
                ctes_sql.append(exp.CTE(this=body, alias=exp.TableAlias(this=quoted(name.lower()))))
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
                self.names.ctes.pop()
        if ctes_sql:
            result.set("with_", exp.With(expressions=ctes_sql))
        return result, cols

    def set_operation(self, node: exp.SetOperation, parent: Scope | None) -> tuple[exp.Expr, list[Column]]:
        left, lcols = self.query(node.this, parent)
        right, rcols = self.query(node.expression, parent)
        if len(lcols) != len(rcols):
            raise fail(f"{node.key.upper()} needs the same number of columns on both sides "
                       f"({len(lcols)} and {len(rcols)})", node)
        for a, b in zip(lcols, rcols, strict=True):
            ka, kb = kind_of(a), kind_of(b)
            if {ka, kb} - {"any"} and ((ka in NUMERIC) != (kb in NUMERIC)) and "null" not in (ka, kb):
                raise fail(f"{node.key.upper()} combines {describe(ka)} with {describe(kb)} "
                           f"in column {a.name}", node)
        cls = type(node)
        result = cls(this=left, expression=right, distinct=node.args.get("distinct", True))
        scope = Scope(parent)
        scope.aliases = {c.name.lower(): (c.name, Ty(kind_of(c), c)) for c in lcols}
        if node.args.get("order"):
            result.set("order", self.order(node.args["order"], scope, lcols, set_op=True))
        for key in ("limit", "offset"):
            if node.args.get(key):
                result.set(key, node.args[key].copy())
        return result, lcols

    def select(self, node: exp.Select, parent: Scope | None) -> tuple[exp.Expr, list[Column]]:
        outer, self.current = self.current, Scope(parent)
        try:
            return self._select(node, self.current)
        finally:
            self.current = outer

    def _select(self, node: exp.Select, scope: Scope) -> tuple[exp.Expr, list[Column]]:
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
            out.set("limit", exp.Limit(expression=num(int(node.args["limit"].expression.this))))
        if node.args.get("offset"):
            out.set("offset", exp.Offset(expression=num(int(node.args["offset"].expression.this))))
        return out, columns

    # -- FROM ------------------------------------------------------------------------------

    def source(self, node: exp.Expr, scope: Scope) -> exp.Expr:
        if isinstance(node, exp.Table):
            if node.args.get("joins"):
                # a parenthesised join: its sources join the enclosing scope
                first = self.source(exp.Table(**{k: v for k, v in node.args.items() if k != "joins"}), scope)
                out_joins = [self.join(j, scope) for j in node.args["joins"]]
                sel = exp.Table(this=first.this, db=first.args.get("db"), alias=first.args.get("alias"))
                sel.set("joins", out_joins)
                return sel
            return self.names.table(node, scope)
        if isinstance(node, exp.Subquery):
            inner = node.this
            if isinstance(inner, exp.Table) and inner.args.get("joins") and not node.alias:
                return exp.Paren(this=self.source(inner, scope))
            alias_node = node.args.get("alias")
            if alias_node is None:
                raise fail("a subquery in FROM needs a name: (SELECT ...) AS name", node)
            name = ident_name(alias_node.this)
            body, cols = self.query(inner, None)
            src = Source(refs={name if alias_node.this.quoted else name.lower()}, sql_alias=self.names.new_alias(name),
                         columns=cols, label=name)
            self.names.add_source(scope, src, node)
            return exp.Subquery(this=body, alias=exp.TableAlias(this=quoted(src.sql_alias)))
        raise fail("this kind of FROM item is not supported", node)

    def join(self, node: exp.Join, scope: Scope) -> exp.Expr:
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
                name = ident_name(ident)
                resolve_in(before, name, ident)
                resolve_in(new_sources, name, ident)
                scope.merged[name.lower()] = before + new_sources
                names.append(quoted(name.lower()))
            out.set("using", names)
        elif node.args.get("on"):
            out.set("on", self.predicate(node.args["on"], scope))
        elif (node.args.get("kind") or "").upper() != "CROSS":
            # ADQL allows a join without ON or USING (every pair of rows); SQL wants a condition
            out.set("on", exp.Boolean(this=True))
        return out

    # -- SELECT list -----------------------------------------------------------------------

    def projections(self, node: exp.Select, scope: Scope) -> tuple[list[exp.Expr], list[Column]]:
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
                alias = item.args["alias"].name
                expr = item.this
            sql, ty = self.value(expr, scope, output=True)
            name = unique(alias or self._default_name(expr))
            col = output_column(name, ty)
            sql = self._output_cast(sql, ty, expr)
            items.append((sql, col))
            scope.aliases[name.lower()] = (name, ty)
        projections: list[exp.Expr] = [exp.Alias(this=sql, alias=quoted(col.name)) for sql, col in items]
        for _, col in items:
            scope.aliases.setdefault(col.name.lower(), (col.name, Ty(kind_of(col), col)))
        return projections, [col for _, col in items]

    def star(self, item: exp.Expr, scope: Scope) -> list[tuple[exp.Expr, Column]]:
        if isinstance(item, exp.Column):
            qualifier = ".".join(ident_name(p) for p in item.parts[:-1])
            src = find_source(scope, qualifier, item)
            return [(qcol(src.sql_alias, c.name), c) for c in src.columns]
        out: list[tuple[exp.Expr, Column]] = []
        seen: set[str] = set()
        for name, sources in scope.merged.items():
            for src in sources:
                col = column_in(src, name)
                if col is not None:
                    out.append((qcol(None, col.name), col))
                    seen.add(name)
                    break
        for src in scope.sources:
            for c in src.columns:
                if c.name.lower() in seen:
                    continue
                out.append((qcol(src.sql_alias, c.name), c))
        return out

    def _default_name(self, expr: exp.Expr) -> str:
        if isinstance(expr, exp.Column):
            return ident_name(expr.this).lower() if not expr.this.quoted else expr.this.name
        if isinstance(expr, exp.Anonymous):
            return str(expr.this).lower()
        if isinstance(expr, exp.Cast):
            return self._default_name(expr.this) if isinstance(expr.this, exp.Column) else "cast"
        if isinstance(expr, exp.Paren):
            return self._default_name(expr.this)
        return "expr"

    def _output_cast(self, sql: exp.Expr, ty: Ty, expr: exp.Expr) -> exp.Expr:
        # Give computed numbers one type on both backends (PostgreSQL numeric, DuckDB hugeint...).
        if ty.column is not None and isinstance(expr, exp.Column):
            return sql
        if ty.kind == "int" and ty.column is None:
            return cast(sql, "BIGINT")
        if ty.kind == "float" and ty.column is None:
            return cast(sql, "DOUBLE")
        if ty.kind == "null":
            return cast(sql, "VARCHAR")
        return sql

    def order(self, node: exp.Order, scope: Scope, columns: list[Column], set_op: bool = False) -> exp.Order:
        items = []
        for ordered in node.expressions:
            key = ordered.this
            if isinstance(key, exp.Literal) and not key.is_string:
                position = int(float(key.this))
                if not 1 <= position <= len(columns) or not key.this.isdigit():
                    raise fail(f"ORDER BY {key.this}: there are {len(columns)} columns", key)
                sql: exp.Expr = quoted(columns[position - 1].name)
                sql = exp.Column(this=sql)
            elif isinstance(key, exp.Column) and not key.table and key.name.lower() in scope.aliases and (
                set_op or not self._resolves(scope, key)
            ):
                sql = exp.Column(this=quoted(scope.aliases[key.name.lower()][0]))
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

    def _resolves(self, scope: Scope, key: exp.Column) -> bool:
        try:
            column(key, scope)
        except ADQLError:
            return False
        return True

    # -- expressions -----------------------------------------------------------------------

    def predicate(self, node: exp.Expr, scope: Scope) -> exp.Expr:
        """The SQL of an ADQL condition."""
        sql, ty = self.value(node, scope)
        if ty.kind not in {"bool", "null", "any"}:
            raise fail("a condition is needed here, not a value", node)
        return sql

    def value(self, node: exp.Expr, scope: Scope, output: bool = False) -> tuple[exp.Expr, Ty]:
        """The SQL and the type of one ADQL value expression, by the table of node types."""
        handler = EXPRESSIONS.get(type(node))
        if handler is None:
            raise fail(f"'{node.key.upper()}' is not supported here", node)
        return handler(self, node, scope)
