"""Parse ADQL 2.1 text into a sqlglot tree and check that it stays inside the ADQL grammar.

sqlglot's parser accepts far more than ADQL (DDL, vendor functions, Oracle row limits), so the
tree is walked once after parsing: only ADQL node kinds, ADQL functions (plus declared UDFs) and
ADQL types pass. Every failure, including sqlglot's own, becomes an ``ADQLError`` in our words
with a line and column. Syntax only: no table metadata here (see names.py).
Tests: tests/adql/test_parse.py, tests/adql/test_conformance.py, tests/adql/test_fuzz.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlglot import exp, parser, tokens
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType  # type: ignore[attr-defined]

from adql.errors import ADQLError
from adql.features import FUNCTIONS, GEOMETRY_FUNCTIONS, RESERVED_WORDS, UDF_PREFIXES, UDFS

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


# The whitelist: every node kind ADQL has, with the arguments an ADQL text can set on it. sqlglot
# marks its extensions on ADQL's own node kinds (``* EXCLUDE (...)`` is a Star with ``except_``,
# ``UNION BY NAME`` a Union with ``by_name``), so a node kind alone is not enough: any other
# argument that is set is refused as well.
_BINARY = frozenset({"this", "expression"})
_SET_OPERATION = frozenset({"with_", "this", "expression", "distinct", "order", "limit", "offset"})
_ALLOWED_ARGS: dict[type[exp.Expr], frozenset[str]] = {
    exp.Select: frozenset({"with_", "expressions", "distinct", "from_", "joins", "where", "group", "having",
                           "order", "limit", "offset"}),
    exp.Union: _SET_OPERATION, exp.Intersect: _SET_OPERATION, exp.Except: _SET_OPERATION,
    exp.Subquery: frozenset({"this", "alias", "order", "limit", "offset"}),
    exp.From: frozenset({"this"}),
    exp.Join: frozenset({"this", "on", "side", "kind", "using", "method"}),
    exp.Table: frozenset({"this", "alias", "db", "catalog", "joins"}),
    exp.TableAlias: frozenset({"this", "columns"}),
    exp.Identifier: frozenset({"this", "quoted"}),
    exp.Column: frozenset({"this", "table", "db", "catalog"}),
    exp.Star: frozenset(),
    exp.Alias: frozenset({"this", "alias"}),
    exp.Literal: frozenset({"this", "is_string"}),
    exp.Null: frozenset(),
    exp.Boolean: frozenset({"this"}),
    exp.Paren: frozenset({"this"}), exp.Neg: frozenset({"this"}), exp.Not: frozenset({"this"}),
    exp.BitwiseNot: frozenset({"this"}),
    exp.Add: _BINARY, exp.Sub: _BINARY, exp.Mul: _BINARY, exp.Div: _BINARY | {"typed", "safe"},
    exp.DPipe: _BINARY | {"safe"},
    exp.BitwiseAnd: _BINARY, exp.BitwiseOr: _BINARY, exp.BitwiseXor: _BINARY,
    exp.EQ: _BINARY, exp.NEQ: _BINARY, exp.GT: _BINARY, exp.GTE: _BINARY, exp.LT: _BINARY, exp.LTE: _BINARY,
    exp.And: _BINARY, exp.Or: _BINARY,
    exp.Like: _BINARY | {"negate"}, exp.ILike: _BINARY | {"negate"},
    exp.In: frozenset({"this", "expressions", "query"}),
    exp.Exists: frozenset({"this"}),
    exp.Between: frozenset({"this", "low", "high"}),
    exp.Is: _BINARY | {"negate"},
    exp.Case: frozenset({"this", "ifs", "default"}),
    exp.If: frozenset({"this", "true"}),
    exp.Cast: frozenset({"this", "to"}),
    exp.DataType: frozenset({"this", "expressions", "kind", "nested"}),
    exp.DataTypeParam: frozenset({"this"}),
    exp.Anonymous: frozenset({"this", "expressions"}),
    exp.Distinct: frozenset({"expressions"}),
    exp.Where: frozenset({"this"}), exp.Having: frozenset({"this"}),
    exp.Group: frozenset({"expressions"}),
    exp.Order: frozenset({"expressions"}),
    exp.Ordered: frozenset({"this", "desc", "nulls_first"}),  # NULLS FIRST/LAST: refused by token
    exp.Limit: frozenset({"expression"}), exp.Offset: frozenset({"expression"}),
    exp.With: frozenset({"expressions"}),
    exp.CTE: frozenset({"this", "alias"}),
    exp.HexString: frozenset({"this", "is_integer"}),
    exp.Tuple: frozenset({"expressions"}),
}
_ALLOWED_NODES: tuple[type[exp.Expr], ...] = tuple(_ALLOWED_ARGS)

# Words sqlglot reads although ADQL has none of them, refused by token with their position.
_FOREIGN_TOKENS = {
    TokenType.LIMIT: ("LIMIT is not ADQL", "write SELECT TOP n ..."),
    TokenType.FETCH: ("FETCH FIRST n ROWS ONLY is not ADQL", "write SELECT TOP n ..."),
}
_FOREIGN_WORDS = {
    "NULLS": ("NULLS FIRST / NULLS LAST is not ADQL", "ADQL sorts NULL values as the service does"),
}
# Tokens that may not follow a comma: a list ends with an item, not a comma.
_AFTER_LIST = {
    TokenType.FROM, TokenType.WHERE, TokenType.GROUP_BY, TokenType.HAVING, TokenType.ORDER_BY,
    TokenType.R_PAREN, TokenType.UNION, TokenType.EXCEPT, TokenType.INTERSECT, TokenType.OFFSET,
    TokenType.ON, TokenType.USING, TokenType.JOIN, TokenType.COMMA,
}
_STARTS = {TokenType.SELECT, TokenType.WITH, TokenType.L_PAREN}

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
_GEOMETRY_VALUES = {"POINT", "CIRCLE", "BOX", "POLYGON", "REGION", "CENTROID"}

# sqlglot's names for extensions set on ADQL's own nodes, in the words a user typed.
_EXTENSIONS = {
    "except_": "* EXCLUDE (...)", "replace": "* REPLACE (...)", "rename": "* RENAME (...)", "ilike": "* ILIKE",
    "by_name": "BY NAME", "symmetric": "BETWEEN SYMMETRIC", "all": "GROUP BY ALL", "recursive": "WITH RECURSIVE",
    "grouping_sets": "GROUPING SETS", "rollup": "ROLLUP", "cube": "CUBE", "totals": "WITH TOTALS",
    "qualify": "QUALIFY", "windows": "WINDOW", "kind": "this kind of", "materialized": "MATERIALIZED",
}

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
    dialect = ADQLDialect()
    try:
        stream = dialect.tokenize(text)
    except TokenError:
        line, column = _unterminated(text)
        raise ADQLError("unterminated string or delimited identifier", line=line, column=column,
                        hint="close the quote") from None
    _check_tokens(text, stream)
    try:
        trees = dialect.parser().parse(stream, text)  # the tokens already read, not a second pass
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
    tree = _join_continued_strings(statements[0])
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
            hint="for a random subset read des_dr1.main_sample (a 1% sample), "
                 "e.g. SELECT TOP 5 * FROM des_dr1.main_sample",
        )
    if "FETCH" in upper and re.search(r"\bFETCH\s+(FIRST|NEXT)\b", bare, re.IGNORECASE):
        raise ADQLError("FETCH FIRST n ROWS ONLY is not ADQL", hint="write SELECT TOP n ... instead")


def _check_tokens(text: str, tokens_: list[Token]) -> None:
    """What only the token stream shows: the first word, row limits, list commas, IN lists."""
    if not tokens_:
        return
    if tokens_[0].token_type not in _STARTS:
        line, column = _position(text, tokens_[0].start)
        raise ADQLError(f"only SELECT queries are allowed, not {tokens_[0].text[:20].upper()}",
                        line=line, column=column,
                        hint="an ADQL query starts with SELECT (or WITH): SELECT ... FROM ...")
    for index, token in enumerate(tokens_):
        kind = token.token_type
        following = tokens_[index + 1] if index + 1 < len(tokens_) else None
        foreign = _FOREIGN_TOKENS.get(kind)
        if kind == TokenType.VAR and following is not None and following.text.upper() in {"FIRST", "LAST"}:
            foreign = _FOREIGN_WORDS.get(token.text.upper())
        if foreign is not None:
            line, column = _position(text, token.start)
            raise ADQLError(foreign[0], line=line, column=column, hint=foreign[1])
        if kind == TokenType.COMMA and (following is None or following.token_type in _AFTER_LIST):
            line, column = _position(text, token.start)
            raise ADQLError("a list cannot end with a comma", line=line, column=column, hint="remove the comma")
        if kind == TokenType.IN:
            line, column = _position(text, token.start)
            if following is None or following.token_type != TokenType.L_PAREN:
                raise ADQLError("IN needs a list of values in parentheses or a subquery", line=line,
                                column=column, hint="x IN (1, 2) or x IN (SELECT ...)")
            after = tokens_[index + 2] if index + 2 < len(tokens_) else None
            if after is None or after.token_type == TokenType.R_PAREN:
                raise ADQLError("IN () needs at least one value", line=line, column=column)


def _join_continued_strings(tree: exp.Expr) -> exp.Expr:
    """ADQL 2.1 (BNF <character string literal>): 'abc' 'def', separated only by spaces, new
    lines or comments, is the one literal 'abcdef'; sqlglot reads it as a CONCAT of literals."""
    for node in list(tree.find_all(exp.Concat)):
        parts = node.expressions
        if parts and all(isinstance(p, exp.Literal) and p.is_string for p in parts):
            joined = exp.Literal.string("".join(p.this for p in parts))
            joined.meta.update(parts[0].meta)
            if node is tree:
                return joined
            node.replace(joined)
    return tree


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
        allowed = _ALLOWED_ARGS.get(type(node))
        if allowed is None:
            raise self._foreign(node)
        for key, value in node.args.items():
            if key not in allowed and value not in (None, False, [], ""):
                raise self._extension(key, node)
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
        elif isinstance(node, exp.Subquery):
            self._check_derived_table(node)
        elif isinstance(node, exp.DPipe):
            self._check_concatenation(node)
        elif isinstance(node, exp.Is) and not isinstance(node.expression, exp.Null):
            # ADQL 2.1 BNF <null predicate> ::= <value expression> IS [ NOT ] NULL: nothing else follows IS
            raise fail("IS only tests NULL: x IS NULL or x IS NOT NULL", node)

    def _extension(self, key: str, node: exp.Expr) -> ADQLError:
        """An extension set on an ADQL node, located at its word when the node carries no position."""
        message = f"{_EXTENSIONS.get(key, key.upper().rstrip('_'))} is not part of ADQL"
        error = fail(message, node)
        if error.line is None:
            words = _EXTENSIONS.get(key, key.rstrip("_")).replace("(...)", "").replace("*", "").split()
            bare = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", lambda m: " " * len(m.group()), self.text)
            found = re.search(r"\b" + r"\s+".join(map(re.escape, words[-1:])) + r"\b", bare, re.IGNORECASE)
            if found:
                line, column = _position(self.text, found.start())
                return ADQLError(message, line=line, column=column)
        return error

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

    @staticmethod
    def _check_derived_table(node: exp.Subquery) -> None:
        # ADQL 2.1 BNF <derived table> ::= <table subquery> [AS] <correlation name>: the name is required
        # (a parenthesised join, which sqlglot also reads as a Subquery, holds a Table, not a query)
        in_from = isinstance(node.parent, (exp.From, exp.Join))
        if in_from and not node.alias and isinstance(node.this, (exp.Select, exp.SetOperation)):
            raise fail("a subquery in FROM needs a name: (SELECT ...) AS name", node)

    @staticmethod
    def _check_concatenation(node: exp.DPipe) -> None:
        # ADQL 2.1 §2.3.4: || joins character values; a geometry constructor is never one
        for side in (node.this, node.expression):
            inner = side
            while isinstance(inner, exp.Paren):
                inner = inner.this
            if isinstance(inner, exp.Anonymous) and str(inner.this).upper() in _GEOMETRY_VALUES:
                raise fail("|| joins text, not geometry", node)

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
        if table is None and (name in self.udfs or name.startswith(UDF_PREFIXES)):
            # ADQL 2.1 §2.4: a user-defined function is any name with a declared prefix; whether this
            # service has it is decided when the query is translated
            self._check_udf_args(node)
            return
        if table is None:
            raise fail(f"unknown function {node.this}()", node,
                       hint="ADQL functions and the user-defined functions of /tap/capabilities only")
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

    @staticmethod
    def _check_udf_args(node: exp.Anonymous) -> None:
        for arg in node.expressions:
            if isinstance(arg, (exp.Star, exp.Distinct)):
                raise fail(f"{node.this}() takes values, not * or DISTINCT", node)

    def _check_geometry(self, name: str, node: exp.Anonymous) -> None:
        args = list(node.expressions)
        coordsys = (bool(args) and isinstance(args[0], (exp.Null,))) or (
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
        has_condition = bool(node.args.get("on") or node.args.get("using"))
        if kind in {"SEMI", "ANTI", "ASOF", "STRAIGHT_JOIN", "ARRAY", "POSITIONAL"} or method not in {"", "NATURAL"}:
            raise fail(f"{(method or kind)} JOIN is not ADQL", node)
        if method == "NATURAL" or kind == "CROSS":
            if has_condition:
                raise fail(f"{method or kind} JOIN takes no ON or USING", node)
            return
        # ADQL 2.1 BNF <qualified join>: the join specification is optional (t1 LEFT OUTER JOIN t2,
        # t1 JOIN t2; the translator joins on TRUE). The IVOA test set (lyonetia, 2_from.xml) holds one
        # exception: an explicit INNER JOIN says it has a condition, so it must have one.
        if kind == "INNER" and not has_condition:
            raise fail("INNER JOIN needs ON (condition) or USING (columns)", node,
                       hint="write ON ... or USING (...), or a plain JOIN / CROSS JOIN for every pair of rows")
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
