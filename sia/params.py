"""SIA 2.0 query parameters as typed values (SIA 2.0 §2.1; DALI §3 intervals).

Every parameter is multi-valued: values of one parameter are OR'ed, different parameters AND'ed;
MAXREC and RESPONSEFORMAT are single-valued (DALI 1.1 §4.2). Input is ``dali.params.DaliParams``;
nothing here sees HTTP.
Tests: tests/sia/test_service.py (parameter cases).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from dali.errors import TooLargeError, UsageError
from dali.params import DaliParams
from dali.regions import Region, RegionError, parse_pos

__all__ = ["KNOWN_PARAMS", "MAX_POS_REGIONS", "Interval", "SiaQuery", "parse_interval", "parse_query"]

# POS values of one query (OR'ed): each is tested against every candidate image in Python.
MAX_POS_REGIONS = 20

# ObsCore column compared for each numeric-interval parameter ("contained" ones test one value).
INTERVAL_OVERLAP = {"BAND": ("em_min", "em_max"), "TIME": ("t_min", "t_max")}
INTERVAL_VALUE = {"FOV": "s_fov", "SPATRES": "s_resolution", "EXPTIME": "t_exptime",
                  "TIMERES": "t_resolution", "SPECRP": "em_res_power"}
STRING_MATCH = {"COLLECTION": "obs_collection", "FACILITY": "facility_name", "INSTRUMENT": "instrument_name",
                "DPTYPE": "dataproduct_type", "TARGET": "target_name", "FORMAT": "access_format"}
KNOWN_PARAMS = frozenset({"POS", "BAND", "TIME", "POL", "ID", "CALIB", "MAXREC", "RESPONSEFORMAT", "REQUEST",
                          "RUNID", *INTERVAL_VALUE, *STRING_MATCH})
_DPTYPES = frozenset({"image", "cube"})


@dataclass(frozen=True, slots=True)
class Interval:
    """A closed interval; an infinite end is open."""

    lo: float
    hi: float


@dataclass(frozen=True, slots=True)
class SiaQuery:
    """One SIA 2.0 query: a tuple of alternatives per constraint (empty tuple = unconstrained)."""

    pos: tuple[Region, ...] = ()
    overlaps: Mapping[str, tuple[Interval, ...]] | None = None
    values: Mapping[str, tuple[Interval, ...]] | None = None
    strings: Mapping[str, tuple[str, ...]] | None = None
    pol: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    calib: tuple[int, ...] = ()
    maxrec: int | None = None
    responseformat: str | None = None


def parse_interval(text: str, param: str) -> Interval:
    """A DALI interval ``lo hi`` (``-Inf``/``+Inf`` open ends) or a single value ``v``."""
    parts = text.split()
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise UsageError(f"{param} must be one or two numbers", param=param,
                         hint="an interval is written 'lo hi', with -Inf or +Inf for an open end") from None
    if len(numbers) == 1:
        numbers = numbers * 2
    if len(numbers) != 2 or any(math.isnan(n) for n in numbers):
        raise UsageError(f"{param} must be one or two numbers", param=param,
                         hint="an interval is written 'lo hi', with -Inf or +Inf for an open end")
    lo, hi = numbers
    if lo > hi:
        raise UsageError(f"{param} interval is empty: {lo:g} is above {hi:g}", param=param)
    return Interval(lo, hi)


def _text(value: str, param: str) -> str:
    """A string constraint; control characters (NUL above all, which no database string holds) match
    no metadata value and are refused as the caller's mistake."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UsageError(f"{param} must not contain control characters", param=param)
    return value


def parse_query(params: DaliParams, *, maxrec_default: int, maxrec_hard: int) -> SiaQuery:
    """The typed query of the request's ``params``.

    Raises
    ------
    UsageError
        For any value that does not parse (named by ``param``).
    """
    pos: list[Region] = []
    texts = params.getall("POS")
    if len(texts) > MAX_POS_REGIONS:
        raise TooLargeError(f"POS was given {len(texts)} times; at most {MAX_POS_REGIONS} regions per query",
                            param="POS", hint="split the search into several queries")
    for text in texts:
        try:
            pos.append(parse_pos(text))
        except RegionError as exc:
            if exc.limit is not None:
                raise TooLargeError(str(exc), param="POS", hint=exc.limit) from None
            raise UsageError(str(exc), param="POS",
                             hint="POS is CIRCLE ra dec r, RANGE ra1 ra2 dec1 dec2 or POLYGON ra dec ...") from None
    overlaps = {name: tuple(parse_interval(v, name) for v in params.getall(name)) for name in INTERVAL_OVERLAP}
    values = {name: tuple(parse_interval(v, name) for v in params.getall(name)) for name in INTERVAL_VALUE}
    strings = {name: tuple(_text(v, name) for v in params.getall(name)) for name in STRING_MATCH}
    calib: list[int] = []
    for text in params.getall("CALIB"):
        try:
            calib.append(int(text.strip()))
        except ValueError:
            raise UsageError("CALIB must be an integer calibration level (0-4)", param="CALIB") from None
    maxrec_text = (params.get("MAXREC") or "").strip() or None
    maxrec = maxrec_default
    if maxrec_text is not None:
        try:
            maxrec = int(maxrec_text)
        except ValueError:
            raise UsageError("MAXREC must be a non-negative integer", param="MAXREC") from None
        if maxrec < 0:
            raise UsageError("MAXREC must be a non-negative integer", param="MAXREC")
    return SiaQuery(
        pos=tuple(pos), overlaps=overlaps, values=values, strings=strings,
        pol=tuple(_text(v, "POL").strip() for v in params.getall("POL")),
        ids=tuple(_text(v, "ID").strip() for v in params.getall("ID")),
        calib=tuple(calib), maxrec=min(maxrec, maxrec_hard),
        responseformat=(params.get("RESPONSEFORMAT") or "").strip() or None,
    )
