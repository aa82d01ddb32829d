"""RESPONSEFORMAT: the output formats we write and how a requested value resolves to one.

The closed list of formats (kind, canonical MIME type, aliases, TAPRegExt identifier) and the
DALI §2.7.2 resolution of a MIME type or short form; no encoding here (``dali.writers``).
Tests: tests/dali/test_writers.py, tests/tap/test_params.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dali.errors import UsageError

__all__ = ["FORMATS", "Format", "FormatSpec", "OutputFormat", "resolve_format"]


class OutputFormat(StrEnum):
    VOTABLE_TD = "votable/td"
    VOTABLE_B2 = "votable/b2"
    CSV = "csv"
    TSV = "tsv"
    FITS = "fits"
    PARQUET = "parquet"


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """One supported output format as declared in TAPRegExt capabilities."""

    kind: OutputFormat
    mime: str
    aliases: tuple[str, ...]
    ivo_id: str | None = None


FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec(OutputFormat.VOTABLE_TD, "application/x-votable+xml;serialization=tabledata",
               ("votable/td", "votable", "application/x-votable+xml", "text/xml", "votable/tabledata"),
               "ivo://ivoa.net/std/TAPRegExt#output-votable-td"),
    FormatSpec(OutputFormat.VOTABLE_B2, "application/x-votable+xml;serialization=binary2",
               ("votable/b2", "votable/binary2", "votableb2"),
               "ivo://ivoa.net/std/TAPRegExt#output-votable-binary2"),
    FormatSpec(OutputFormat.CSV, "text/csv;header=present", ("csv", "text/csv")),
    FormatSpec(OutputFormat.TSV, "text/tab-separated-values", ("tsv", "text/tab-separated-values", "text/tsv")),
    FormatSpec(OutputFormat.FITS, "application/fits", ("fits", "application/fits", "image/fits")),
    FormatSpec(OutputFormat.PARQUET, "application/vnd.apache.parquet",
               ("parquet", "application/x-parquet", "application/parquet")),
)


@dataclass(frozen=True, slots=True)
class Format:
    """A resolved RESPONSEFORMAT: the encoding and the Content-Type to answer with."""

    kind: OutputFormat
    media_type: str

    @property
    def is_votable(self) -> bool:
        return self.kind in (OutputFormat.VOTABLE_TD, OutputFormat.VOTABLE_B2)


def _normalise_mime(text: str) -> str:
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if not parts:
        return ""
    head, params = parts[0].lower(), sorted(p.replace(" ", "").lower() for p in parts[1:])
    return ";".join([head, *params])


def resolve_format(requested: str | None) -> Format:
    """The format for a RESPONSEFORMAT value (MIME type or short form); None means VOTable TABLEDATA.

    A full MIME type is echoed as the Content-Type (DALI §2.7.2); a short form answers with the
    canonical MIME type. Raises ``UsageError`` for formats we do not write.
    """
    if requested is None or not requested.strip():
        return Format(OutputFormat.VOTABLE_TD, "application/x-votable+xml")
    text = requested.strip()
    key = _normalise_mime(text)
    if key.startswith("application/x-votable+xml") and ";" in key:
        params = dict(p.split("=", 1) for p in key.split(";")[1:] if "=" in p)
        serialization = params.get("serialization", "tabledata")
        if serialization in ("tabledata", "td"):
            return Format(OutputFormat.VOTABLE_TD, text)
        if serialization == "binary2":
            return Format(OutputFormat.VOTABLE_B2, text)
        raise UsageError(f"VOTable serialization {serialization!r} is not supported",
                         param="RESPONSEFORMAT", hint="use tabledata or binary2")
    if key in ("text/csv;header=present", "text/csv;header=absent"):
        return Format(OutputFormat.CSV, "text/csv;header=present")
    for spec in FORMATS:
        if key == _normalise_mime(spec.mime) or key in spec.aliases:
            is_mime = "/" in key and key not in ("votable/td", "votable/b2", "votable/binary2",
                                                  "votable/tabledata")
            return Format(spec.kind, text if is_mime else spec.mime)
    names = ", ".join(spec.aliases[0] for spec in FORMATS)
    raise UsageError(f"response format {text[:60]!r} is not supported", param="RESPONSEFORMAT",
                     hint=f"use one of {names}")

