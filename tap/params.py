"""TAP 1.1 request parameters (§2.7) as a value: LANG, QUERY, RESPONSEFORMAT/FORMAT, MAXREC, RUNID, UPLOAD,
and DESTINATION (the caller's table an async query's rows are also stored in, CADC's convention).

The HTTP edge (``routes.py``) and the async job kind (``jobs.py``) collect raw parameters into a
``dali.params.DaliParams``; ``parse_tap`` reads the ones TAP defines and ignores the rest (TAP
§2.7: spurious parameters MUST be ignored; REQUEST=doQuery is still sent by pyvo).
Tests: tests/tap/test_params.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from dali.errors import UsageError
from dali.params import DaliParams, UploadRef
from dali.writers import Format, resolve_format

__all__ = ["LANGUAGES", "TapQuery", "parse_tap"]

# taplint sends ADQL-2.0; TAP 1.1 clients send ADQL; ADQL-2.1 is what we implement.
LANGUAGES = ("ADQL", "ADQL-2.0", "ADQL-2.1")


@dataclass(frozen=True, slots=True)
class TapQuery:
    """One TAP query request, validated."""

    query: str
    lang: str
    format: Format
    maxrec: int
    maxrec_requested: bool
    runid: str | None
    uploads: tuple[UploadRef, ...]
    destination: str | None = None


def parse_tap(params: DaliParams, *, maxrec_default: int, maxrec_hard: int, require_query: bool = True) -> TapQuery:
    """Read a TAP query request.

    Parameters
    ----------
    params
        The collected request parameters.
    maxrec_default, maxrec_hard
        MAXREC when none is given, and the ceiling a given MAXREC is clamped to.
    require_query
        False when checking a job that may still be filled in later (async parameters).

    Raises
    ------
    UsageError
        Unknown LANG, missing QUERY, bad MAXREC/RUNID/UPLOAD, unsupported RESPONSEFORMAT.
    """
    lang = (params.get("LANG") or "ADQL").strip()
    if lang.upper() not in LANGUAGES:
        raise UsageError(f"unknown query language {lang[:40]!r}", param="LANG",
                         hint="this service speaks " + ", ".join(LANGUAGES))
    query = params.get("QUERY") or ""
    if require_query and not query.strip():
        raise UsageError("the QUERY parameter is required", param="QUERY", hint="send an ADQL query")
    maxrec, requested = params.maxrec(maxrec_default, maxrec_hard)
    return TapQuery(
        query=query,
        lang=lang.upper(),
        format=resolve_format(params.responseformat()),
        maxrec=maxrec,
        maxrec_requested=requested,
        runid=params.runid(),
        uploads=params.uploads(),
        destination=(params.get("DESTINATION") or "").strip() or None,
    )
