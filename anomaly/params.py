"""The parameters of an ``anomaly.score`` job, parsed once into a value.

Names are case-insensitive (UWS/DALI); every refusal is a ``UsageError`` that names the parameter.
What can only be checked against the selected columns (ID_COLUMN, EXTENSION_LEVEL < d, MODEL's
features) is checked in ``anomaly/service.py``. No I/O: this also runs in the API when a job is
asked to run, so bad values end the job in ERROR before it is queued.
Tests: tests/anomaly/test_params.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from dali.errors import UsageError
from dali.writers import Format, resolve_format

__all__ = ["DEFAULTS", "KNOWN", "SURVEY_SENTINELS", "ScoreParams", "parse_score"]

# Documented defaults (also echoed in summary.json).
DEFAULTS: dict[str, int] = {"NTREES": 200, "SAMPLE_SIZE": 256, "SEED": 1, "STANDARDIZE": 1, "TOP": 100}
_MAX_TREES = 10_000
_MAX_SAMPLE = 1_000_000
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# The values DES DR1 (and the demo release, ``release.demo.catalog``) write for "not measured": 99 for
# magnitudes without flux or without a good single-epoch detection, -99 for unmeasured spread models, and
# their three-digit forms. NULL_VALUES=survey (the default) treats them as missing, and with them the value
# a feature column's metadata declares as its null (``Column.null``: the release's ``null`` of that column).
SURVEY_SENTINELS: tuple[float, ...] = (99.0, -99.0, 999.0, -999.0)
# Parameter names a job takes (lower case), besides the UWS ones that may be stored with it.
KNOWN = frozenset({"query", "id_column", "ntrees", "sample_size", "extension_level", "seed", "standardize",
                   "top", "responseformat", "format", "model", "null_values",
                   "runid", "request", "version", "lang", "phase", "executionduration", "destruction"})
_YES = {"yes", "true", "1", "y", "on"}
_NO = {"no", "false", "0", "n", "off"}


@dataclass(frozen=True, slots=True)
class ScoreParams:
    """An anomaly-scoring request.

    Attributes
    ----------
    query : ADQL selecting one identifier column and numeric feature columns
    id_column : the identifier's name (None: the first selected column)
    ntrees, sample_size : forest size and points per tree
    extension_level : None means d - 1 (fully extended)
    seed : the forest is a function of the selection, the parameters and the seed
    standardize : scale features to zero mean and unit variance before fitting and scoring
    top : how many of the highest-scoring rows the ``top`` result lists
    responseformat : the format of ``result`` and ``top``
    model : id of an earlier completed anomaly job whose forest scores this selection
    null_values : feature values treated as missing, like NULL (rows holding one are skipped)
    declared_nulls : also treat the value a feature column's metadata declares as its null
        (``Column.null``, e.g. ``-9999``) as missing in that column (NULL_VALUES=survey)
    unknown : parameter names the job does not know (warned about, not refused)
    """

    query: str
    id_column: str | None = None
    ntrees: int = 200
    sample_size: int = 256
    extension_level: int | None = None
    seed: int = 1
    standardize: bool = True
    top: int = 100
    responseformat: Format = field(default_factory=lambda: resolve_format(None))
    model: str | None = None
    null_values: tuple[float, ...] = SURVEY_SENTINELS
    declared_nulls: bool = True
    unknown: tuple[str, ...] = ()

    def echo(self) -> dict[str, object]:
        """The parameters as applied, for summary.json and the result's INFO elements."""
        return {
            "QUERY": self.query, "ID_COLUMN": self.id_column, "NTREES": self.ntrees,
            "SAMPLE_SIZE": self.sample_size, "EXTENSION_LEVEL": self.extension_level, "SEED": self.seed,
            "STANDARDIZE": "yes" if self.standardize else "no", "TOP": self.top,
            "RESPONSEFORMAT": self.responseformat.media_type, "MODEL": self.model,
            "NULL_VALUES": ",".join(f"{v:g}" for v in self.null_values) or "none",
        }


def parse_score(params: Mapping[str, str]) -> ScoreParams:
    """Parse the job's parameters (a case-insensitive mapping such as ``uws.Parameters``).

    Raises
    ------
    UsageError
        For a missing QUERY or a value that is not what its parameter takes.
    """
    lowered = {k.lower(): v for k, v in params.items()}
    query = lowered.get("query", "").strip()
    if not query:
        raise UsageError("QUERY is required: an ADQL query selecting an identifier and numeric features",
                         param="QUERY", hint="e.g. SELECT coadd_object_id, mag_auto_g, mag_auto_r FROM des_dr1.main")
    model = _text(lowered.get("model"))
    if model is not None and not _JOB_ID.match(model):
        raise UsageError("MODEL must be the id of an earlier anomaly job", param="MODEL")
    return ScoreParams(
        query=query,
        id_column=_text(lowered.get("id_column")),
        ntrees=_integer(lowered, "NTREES", 1, _MAX_TREES) or DEFAULTS["NTREES"],
        sample_size=_integer(lowered, "SAMPLE_SIZE", 2, _MAX_SAMPLE) or DEFAULTS["SAMPLE_SIZE"],
        extension_level=_integer(lowered, "EXTENSION_LEVEL", 0, 10_000),
        seed=_default(_integer(lowered, "SEED", 0, 2**63 - 1), DEFAULTS["SEED"]),
        standardize=_boolean(lowered, "STANDARDIZE", bool(DEFAULTS["STANDARDIZE"])),
        top=_default(_integer(lowered, "TOP", 0, 10_000_000), DEFAULTS["TOP"]),
        responseformat=resolve_format(_text(lowered.get("responseformat")) or _text(lowered.get("format"))),
        model=model,
        null_values=_null_values(_text(lowered.get("null_values"))),
        declared_nulls=(_text(lowered.get("null_values")) or "survey").lower() == "survey",
        unknown=tuple(sorted({name.upper() for name in lowered if name not in KNOWN})),
    )


def _null_values(text: str | None) -> tuple[float, ...]:
    """NULL_VALUES: ``survey`` (default: the release's documented sentinels, and each feature column's
    declared null: ``ScoreParams.declared_nulls``), ``none``, or numbers."""
    if text is None or text.lower() == "survey":
        return SURVEY_SENTINELS
    if text.lower() == "none":
        return ()
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise UsageError(f"NULL_VALUES must be survey, none or numbers separated by commas, not {part[:40]!r}",
                             param="NULL_VALUES", hint="e.g. NULL_VALUES=99,-99") from None
        if not math.isnan(value):  # NaN is always missing already
            values.append(value)
    return tuple(values)


def _text(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


def _integer(params: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    """The value of ``name``, None when it was not given."""
    text = _text(params.get(name.lower()))
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {text[:40]!r}", param=name) from None
    if not low <= value <= high:
        raise UsageError(f"{name} must be between {low} and {high}, not {value}", param=name)
    return value


def _boolean(params: Mapping[str, str], name: str, default: bool) -> bool:
    text = _text(params.get(name.lower()))
    if text is None:
        return default
    if text.lower() in _YES:
        return True
    if text.lower() in _NO:
        return False
    raise UsageError(f"{name} must be yes or no, not {text[:40]!r}", param=name)
