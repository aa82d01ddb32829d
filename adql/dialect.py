"""Parse ADQL 2.1 text into a sqlglot tree and check that it stays inside the ADQL grammar.

sqlglot's parser accepts far more than ADQL (DDL, vendor functions, Oracle row limits), so the
tree is walked once after parsing: only ADQL node kinds, ADQL functions (plus declared UDFs) and
ADQL types pass. Every failure, including sqlglot's own, becomes an ``ADQLError`` in our words
with a line and column. Syntax only: no table metadata here (see translate.py).
Tests: tests/adql/test_parse.py, tests/adql/test_conformance.py, tests/adql/test_fuzz.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import TokenType  # type: ignore[attr-defined]

from adql.errors import ADQLError
from adql.features import FUNCTIONS, GEOMETRY_FUNCTIONS, RESERVED_WORDS, UDFS

__all__ = ["MAX_NESTING", "MAX_QUERY_LENGTH", "ADQLDialect", "parse"]

MAX_QUERY_LENGTH = 200_000
MAX_NESTING = 64

_REGULAR = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class ADQLDialect(Dialect):
    """ADQL as a sqlglot dialect: ADQL tokens, every function call kept as written."""

    NULL_ORDERING = "nulls_are_large"

    class Tokenizer(tokens.Tokenizer):
        IDENTIFIERS = ['"']  # noqa: RUF012
        QUOTES = ["'"]  # noqa: RUF012
        HEX_STRINGS = [("0x", ""), ("0X", "")]  # noqa: RUF012
        COMMENTS = ["--"]  # noqa: RUF012
        STRING_ESCAPES = ["'"]  # noqa: RUF012
        KEYWORDS = {
            k: v for k, v in tokens.Tokenizer.KEYWORDS.items()
            # FLOAT is not an ADQL type (REAL is); keep it an identifier so CAST(x AS FLOAT) fails.
            if k not in {"FLOAT", "/*", "*/", "{{", "}}", "{%", "%}", "{#", "#}"}
        } | {"TOP": TokenType.TOP}

    class Parser(parser.Parser):
        # Keep every call an exp.Anonymous: the ADQL function table decides, not sqlglot's.
        FUNCTIONS = {}  # noqa: RUF012  (sqlglot reads these class attributes)
        NO_PAREN_FUNCTIONS = {}  # noqa: RUF012
        FUNCTION_PARSERS = {"CAST": parser.Parser.FUNCTION_PARSERS["CAST"]}  # noqa: RUF012


_ALLOWED_NODES: tuple[type[exp.Expr], ...] = (
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.Subquery, exp.From, exp.Join,
    exp.Table, exp.TableAlias, exp.Identifier, exp.Column, exp.Star, exp.Alias, exp.Literal,
    exp.Null, exp.Boolean, exp.Paren, exp.Neg, exp.Add, exp.Sub, exp.Mul, exp.Div, exp.DPipe,
    exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor, exp.BitwiseNot, exp.EQ, exp.NEQ, exp.GT,
    exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not, exp.Like, exp.ILike, exp.In, exp.Exists,
    exp.Between, exp.Is, exp.Case, exp.If, exp.Cast, exp.DataType, exp.DataTypeParam,
    exp.Anonymous, exp.Distinct, exp.Where, exp.Group, exp.Having, exp.Order, exp.Ordered,
    exp.Limit, exp.Offset, exp.With, exp.CTE, exp.HexString, exp.Tuple,
)

_PREDICATES = (
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.And, exp.Or, exp.Not, exp.Like,
    exp.ILike, exp.In, exp.Exists, exp.Between, exp.Is, exp.Boolean,
)

_CAST_TYPES = {
    exp.DataType.Type.SMALLINT, exp.DataType.Type.INT, exp.DataType.Type.BIGINT,
    exp.DataType.Type.FLOAT, exp.DataType.Type.DOUBLE, exp.DataType.Type.CHAR,
    exp.DataType.Type.VARCHAR, exp.DataType.Type.TIMESTAMP,
}
_GEOMETRY_TYPES = {"POINT", "CIRCLE", "POLYGON"}

_ORACLE_HINTS = {
    "ROWNUM": "ROWNUM is Oracle, not ADQL: limit rows with SELECT TOP n (e.g. SELECT TOP 1000 ...)",
    "SYSDATE": "SYSDATE is Oracle, not ADQL",
    "DUAL": "DUAL is Oracle, not ADQL: every ADQL query reads a published table",
}


def parse(text: str, *, udfs: Iterable[str] = ()) -> exp.Expr:
    """Parse ADQL text and check its grammar.

    Parameters
    ----------
    text
        The ADQL query.
    udfs
        Names of extra user-defined functions to accept (``ivo_healpix_index`` always is).

    Returns
    -------
    sqlglot.exp.Expr
        The tree (a Select or a set operation), with ADQL function calls as ``exp.Anonymous``.

    Raises
    ------
    ADQLError
        For anything that is not a single ADQL SELECT statement.
    """
    _precheck(text)
    try:
        trees = ADQLDialect().parse(text)
    except ParseError as err:
        raise _from_parse_error(err, text) from None
    except TokenError:
        line, column = _unterminated(text)
        raise ADQLError("unterminated string or delimited identifier", line=line, column=column,
                        hint="close the quote") from None
    except RecursionError:
        raise ADQLError("the query is nested too deeply") from None
    except Exception:  # noqa: BLE001  (sqlglot raises assorted errors on garbage; the user gets our sentence)
        raise ADQLError("the query could not be read as ADQL") from None
    statements = [t for t in trees if t is not None]
    if not statements:
        raise ADQLError("the query is empty", hint="write SELECT ... FROM ...")
    if len(statements) > 1:
        raise ADQLError("only one statement is allowed", hint="remove the ';' and what follows it")
    tree = statements[0]
    try:
        _Checker(text, {name.upper() for name in udfs}).check_statement(tree)
    except RecursionError:
        raise ADQLError("the query is nested too deeply") from None
    return tree


def _precheck(text: str) -> None:
    if not isinstance(text, str):
        raise ADQLError("the query must be text")
    if len(text) > MAX_QUERY_LENGTH:
        raise ADQLError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    bad = re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    if bad:
        line, column = _position(text, bad.start())
        raise ADQLError("the query contains a control character", line=line, column=column)
    depth = 0
    in_quote = ""
    for index, char in enumerate(text):
        if in_quote:
            if char == in_quote:
                in_quote = ""
        elif char in "'\"":
            in_quote = char
        elif char == "(":
            depth += 1
            if depth > MAX_NESTING:
                line, column = _position(text, index)
                raise ADQLError(f"the query nests parentheses deeper than {MAX_NESTING}",
                                line=line, column=column)
        elif char == ")":
            depth -= 1
    bare = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", lambda m: " " * len(m.group()), text)
    cast = bare.find("::")
    if cast >= 0:
        line, column = _position(text, cast)
        raise ADQLError("'::' is not ADQL", line=line, column=column, hint="write CAST(x AS type)")
    words = re.findall(r"[A-Za-z_]+", bare)
    upper = {w.upper() for w in words}
    sample = re.search(r"\bSAMPLE\s*\(", bare, re.IGNORECASE)
    if sample:
        line, column = _position(text, sample.start())
        raise ADQLError(
            "SAMPLE(p) is Oracle, not ADQL", line=line, column=column,
            hint="for a random subset read des_dr1.main_sample (a 1% sample), e.g. SELECT TOP 5 * FROM des_dr1.main_sample",
        )
    if "FETCH" in upper and re.search(r"\bFETCH\s+(FIRST|NEXT)\b", bare, re.IGNORECASE):
        raise ADQLError("FETCH FIRST n ROWS ONLY is not ADQL", hint="write SELECT TOP n ... instead")


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _unterminated(text: str) -> tuple[int, int]:
    in_quote, start = "", 0
    index = 0
    while index < len(text):
        char = text[index]
        if in_quote:
            if char == in_quote:
                if index + 1 < len(text) and text[index + 1] == in_quote:
                    index += 1
                else:
                    in_quote = ""
        elif char in "'\"":
            in_quote, start = char, index
        elif char == "-" and text.startswith("--", index):
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
        index += 1
    return _position(text, start)


def _from_parse_error(err: ParseError, text: str) -> ADQLError:
    info = err.errors[0] if err.errors else {}
    line, column = info.get("line"), info.get("col")
    near = (info.get("highlight") or "").strip()
    description = str(info.get("description") or "")
    if "Expecting )" in description:
        message = "a parenthesis is not closed"
    elif "Required keyword" in description or "Expected" in description:
        message = "the query is incomplete or has a misplaced word"
    else:
        message = "syntax error"
    if near:
        message += f" near '{near[:40]}'"
    if isinstance(column, int) and near:
        column = max(1, column - len(near) + 1)
    return ADQLError(message, line=line if isinstance(line, int) else None,
                     column=column if isinstance(column, int) else None)


def node_position(node: exp.Expr) -> tuple[int | None, int | None]:
    """Line and column of a node's first identifier (sqlglot keeps positions on identifiers)."""
    for sub in node.walk():
        meta = sub.meta if sub._meta else {}
        if "line" in meta:
            text = sub.name if isinstance(sub, (exp.Identifier, exp.Anonymous)) else ""
            return meta["line"], max(1, meta["col"] - len(text) + 1)
    return None, None


def fail(message: str, node: exp.Expr | None = None, hint: str | None = None) -> ADQLError:
    """An ADQLError located at ``node``."""
    line, column = node_position(node) if node is not None else (None, None)
    return ADQLError(message, line=line, column=column, hint=hint)


class _Checker:
    """Walks a parsed tree and rejects what ADQL does not have."""

    def __init__(self, text: str, udfs: set[str]) -> None:
        self.text = text
        self.udfs = udfs

    def check_statement(self, tree: exp.Expr) -> None:
        if not isinstance(tree, (exp.Select, exp.Union, exp.Intersect, exp.Except)):
            kind = tree.key.upper()
            raise fail(f"only SELECT queries are allowed, not {kind}", tree,
                       hint="ADQL reads tables; it cannot change them")
        for node in tree.walk():
            self.check_node(node, top=tree)

    def check_node(self, node: exp.Expr, top: exp.Expr) -> None:
        if not isinstance(node, _ALLOWED_NODES):
            raise self._foreign(node)
        if isinstance(node, exp.With) and node.parent is not top:
            raise fail("WITH is only allowed at the start of the whole query", node)
        if isinstance(node, exp.Select):
            self._check_select(node)
        elif isinstance(node, exp.Identifier):
            self._check_identifier(node)
        elif isinstance(node, exp.Anonymous):
            self._check_function(node)
        elif isinstance(node, exp.Cast):
            self._check_cast(node)
        elif isinstance(node, exp.Join):
            self._check_join(node)
        elif isinstance(node, (exp.Where, exp.Having)):
            self._check_predicate(node.this, node.key.upper())
        elif isinstance(node, exp.Offset):
            self._check_count(node.expression, "OFFSET")
        elif isinstance(node, exp.Limit):
            self._check_count(node.expression, "TOP")
        elif isinstance(node, exp.Case) and node.this is None:
            for branch in node.args.get("ifs") or ():
                self._check_predicate(branch.this, "CASE WHEN")
        elif isinstance(node, exp.Not):
            self._check_predicate(node.this, "NOT")
        elif isinstance(node, (exp.And, exp.Or)):
            self._check_predicate(node.this, node.key.upper())
            self._check_predicate(node.expression, node.key.upper())
        elif isinstance(node, exp.Distinct) and node.args.get("on"):
            raise fail("DISTINCT ON is not ADQL", node)
        elif isinstance(node, exp.Table):
            self._check_table(node)

    def _foreign(self, node: exp.Expr) -> ADQLError:
        name = node.key.upper()
        if isinstance(node, exp.Fetch):
            return fail("FETCH FIRST n ROWS ONLY is not ADQL", node, hint="write SELECT TOP n ... instead")
        if isinstance(node, exp.TableSample):
            return fail("SAMPLE is not ADQL", node, hint="read des_dr1.main_sample for a 1% random subset")
        if isinstance(node, exp.Func):
            return fail(f"the function {node.sql_name()} is not part of ADQL", node)
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            return fail("parameters (':name', '?') are not ADQL; write the value into the query", node)
        return fail(f"'{name}' is not part of ADQL", node)

    def _check_select(self, node: exp.Select) -> None:
        if not node.expressions:
            raise fail("SELECT needs at least one column", node)
        if not node.args.get("from_"):
            raise fail("SELECT needs a FROM clause", node, hint="ADQL has no SELECT without FROM")
        for key in ("qualify", "windows", "prewhere", "kind", "into", "locks", "sample", "connect",
                    "match", "laterals", "pivots", "settings", "format", "cluster", "distribute",
                    "sort", "options", "operation_modifiers"):
            if node.args.get(key):
                raise fail(f"{key.upper()} is not part of ADQL", node)

    def _check_table(self, node: exp.Table) -> None:
        for key in ("pivots", "laterals", "sample", "hints", "version", "when", "changes", "partition"):
            if node.args.get(key):
                raise fail(f"{key.upper()} is not part of ADQL", node)
        if node.name.upper() in _ORACLE_HINTS and not node.this.quoted:
            raise fail(_ORACLE_HINTS[node.name.upper()], node)

    def _check_identifier(self, node: exp.Identifier) -> None:
        if node.quoted:
            if not node.name:
                raise fail("a delimited identifier cannot be empty", node)
            return
        name = node.name
        upper = name.upper()
        parent = node.parent
        if isinstance(parent, exp.Anonymous) and parent.this == name:
            return
        if upper in _ORACLE_HINTS:
            raise fail(_ORACLE_HINTS[upper], node)
        if not _REGULAR.match(name):
            raise fail(f"'{name}' is not a valid identifier", node,
                       hint='an identifier starts with a letter; quote other names: "' + name + '"')
        if upper in RESERVED_WORDS:
            raise fail(f"'{name}' is an ADQL reserved word", node, hint=f'quote it: "{name}"')

    def _check_function(self, node: exp.Anonymous) -> None:
        name = str(node.this).upper()
        args = node.expressions
        table = FUNCTIONS.get(name) or GEOMETRY_FUNCTIONS.get(name) or UDFS.get(name)
        if table is None and name in self.udfs:
            return
        if table is None:
            raise fail(f"unknown function {node.this}()", node,
                       hint="ADQL functions and the declared ivo_healpix_index() only")
        low, high = table
        if len(args) < low or (high is not None and len(args) > high):
            raise fail(f"{name}() does not take {len(args)} argument{'s' if len(args) != 1 else ''}", node)
        for arg in args:
            if isinstance(arg, exp.Star) and name != "COUNT":
                raise fail(f"{name}(*) is not allowed", node)
            if isinstance(arg, exp.Distinct) and name not in {"COUNT", "MIN", "MAX", "SUM", "AVG"}:
                raise fail(f"DISTINCT is not allowed inside {name}()", node)
        if name in GEOMETRY_FUNCTIONS:
            self._check_geometry(name, node)

    def _check_geometry(self, name: str, node: exp.Anonymous) -> None:
        args = list(node.expressions)
        coordsys = bool(args) and isinstance(args[0], (exp.Null,)) or (
            bool(args) and isinstance(args[0], exp.Literal) and args[0].is_string
        )
        if name in {"POINT", "CIRCLE", "BOX", "POLYGON"} and args and _is_string_expr(args[0]) and not coordsys:
            raise fail(f"the coordinate system of {name} must be a string literal", node)
        rest = args[1:] if coordsys else args
        if name == "REGION":
            if not (isinstance(args[0], exp.Literal) and args[0].is_string):
                raise fail("REGION takes a string literal", node)
            return
        shapes = {"POINT": {2, 1}, "CIRCLE": {3, 2}, "BOX": {4, 3}}
        if name in shapes and (len(rest) not in shapes[name] or (coordsys and len(rest) != max(shapes[name]))):
            raise fail(f"{name}() does not take {len(args)} arguments", node)
        if name == "POINT" and len(rest) == 1:
            raise fail("POINT() takes two coordinates", node)
        # POLYGON: three or more POINT values, or six or more coordinates (pairs).
        if name == "POLYGON" and (len(rest) < 3 or (len(rest) > 3 and len(rest) % 2) or len(rest) == 4):
                raise fail(f"POLYGON() needs at least three vertices, got {len(rest)} values", node)
        if name == "DISTANCE" and len(args) == 3:
            raise fail("DISTANCE() takes two points or four coordinates", node)

    def _check_cast(self, node: exp.Cast) -> None:
        target = node.to
        if target.this in _CAST_TYPES:
            return
        if target.this == exp.DataType.Type.USERDEFINED and str(target.args.get("kind", "")).upper() in _GEOMETRY_TYPES:
            return
        spelled = target.sql()
        raise fail(f"CAST to {spelled} is not allowed", node,
                   hint="ADQL types: SMALLINT, INTEGER, BIGINT, REAL, DOUBLE PRECISION, CHAR(n), VARCHAR(n), "
                        "TIMESTAMP, POINT, CIRCLE, POLYGON")

    def _check_join(self, node: exp.Join) -> None:
        kind = (node.args.get("kind") or "").upper()
        method = (node.args.get("method") or "").upper()
        side = (node.args.get("side") or "").upper()
        has_condition = bool(node.args.get("on") or node.args.get("using"))
        if kind in {"SEMI", "ANTI", "ASOF", "STRAIGHT_JOIN", "ARRAY", "POSITIONAL"} or method not in {"", "NATURAL"}:
            raise fail(f"{(method or kind)} JOIN is not ADQL", node)
        if method == "NATURAL" or kind == "CROSS":
            if has_condition:
                raise fail(f"{method or kind} JOIN takes no ON or USING", node)
            return
        if (kind or side) and not has_condition:
            raise fail("this JOIN needs ON (condition) or USING (columns)", node)
        if node.args.get("on"):
            self._check_predicate(node.args["on"], "ON")

    def _check_predicate(self, node: exp.Expr, where: str) -> None:
        inner = node
        while isinstance(inner, exp.Paren):
            inner = inner.this
        if not isinstance(inner, _PREDICATES):
            raise fail(f"{where} needs a condition (a comparison such as x = 1), not a value", node,
                       hint="geometry predicates are written 1 = CONTAINS(...)")

    def _check_count(self, node: exp.Expr | None, clause: str) -> None:
        if not (isinstance(node, exp.Literal) and not node.is_string and node.this.isdigit()):
            raise fail(f"{clause} needs a whole number of rows (0 or more)", node)


def _is_string_expr(node: exp.Expr) -> bool:
    return isinstance(node, exp.Literal) and node.is_string
