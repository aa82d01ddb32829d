"""Simple Cone Search 1.03 request parameters as a value: RA, DEC, SR, VERB, MAXREC, RESPONSEFORMAT.

SCS 1.03 §2 (the query): RA and DEC are ICRS decimal degrees and SR the radius in degrees, all
required; VERB 1..3 chooses how many columns come back (default 2); parameters the standard does
not name are ignored. ``MAXREC`` and ``RESPONSEFORMAT`` are the DALI parameters, accepted as the
other services accept them. Every refusal is a ``UsageError`` naming the parameter; the HTTP edge
turns it into the SCS error document.
Tests: tests/registry/test_params.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dali.errors import UsageError
from dali.params import DaliParams
from dali.writers import Format, resolve_format

__all__ = ["VERB_DEFAULT", "ConeQuery", "parse_cone"]

VERB_DEFAULT = 2


@dataclass(frozen=True, slots=True)
class ConeQuery:
    """One cone search, validated: ``ra`` in [0, 360), ``dec`` in [-90, 90], ``sr`` in [0, max_sr]."""

    ra: float
    dec: float
    sr: float
    verb: int
    maxrec: int
    format: Format


def parse_cone(params: DaliParams, *, max_sr: float, maxrec_default: int, maxrec_hard: int) -> ConeQuery:
    """Read a cone search request.

    Parameters
    ----------
    params
        The collected request parameters.
    max_sr
        The largest radius served, in degrees (published as ``maxSR`` in the capability).
    maxrec_default, maxrec_hard
        MAXREC when none is given, and the ceiling a given MAXREC is clamped to.

    Raises
    ------
    UsageError
        RA, DEC or SR missing or not a finite number; DEC outside ±90; SR negative or above
        ``max_sr``; VERB not 1, 2 or 3; a bad MAXREC; a RESPONSEFORMAT nobody writes.
    """
    ra = _degrees(params, "RA")
    dec = _degrees(params, "DEC")
    sr = _degrees(params, "SR")
    if not -90.0 <= dec <= 90.0:
        raise UsageError(f"DEC must lie between -90 and 90 degrees, not {dec:g}", param="DEC")
    if sr < 0:
        raise UsageError("SR must not be negative", param="SR", hint="SR=0 asks for the columns only")
    if sr > max_sr:
        raise UsageError(f"SR {sr:g} is larger than the largest radius served, {max_sr:g} degrees",
                         param="SR", hint="search a smaller cone, or use TAP for large areas")
    # Any finite RA names a direction; the cone is the same after wrapping it into [0, 360).
    ra = ra % 360.0
    if ra == 360.0:  # a tiny negative RA wraps to 360.0 in floating point
        ra = 0.0
    maxrec, _ = params.maxrec(maxrec_default, maxrec_hard)
    return ConeQuery(ra=ra, dec=dec, sr=sr, verb=_verb(params), maxrec=maxrec,
                     format=resolve_format(params.responseformat()))


def _degrees(params: DaliParams, name: str) -> float:
    raw = params.get(name)
    if raw is None or not raw.strip():
        raise UsageError(f"the {name} parameter is required", param=name, hint="decimal degrees, ICRS")
    try:
        value = float(raw.strip())
    except ValueError:
        raise UsageError(f"{name} must be a number of degrees, not {raw[:40]!r}", param=name) from None
    if not math.isfinite(value):
        raise UsageError(f"{name} must be a finite number of degrees", param=name)
    return value


def _verb(params: DaliParams) -> int:
    raw = params.get("VERB")
    if raw is None or not raw.strip():
        return VERB_DEFAULT
    try:
        verb = int(raw.strip())
    except ValueError:
        raise UsageError(f"VERB must be 1, 2 or 3, not {raw[:20]!r}", param="VERB") from None
    if verb not in (1, 2, 3):
        raise UsageError(f"VERB must be 1, 2 or 3, not {verb}", param="VERB",
                         hint="1: the principal columns, 2: also the indexed ones, 3: every column")
    return verb
