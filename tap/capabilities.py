"""The TAP VOSI capabilities document: one ``tr:TableAccess`` capability plus the VOSI endpoints.

``table_access`` states the TAPRegExt content as values (languages and features from
``adql.features``, what the translator really supports; output formats from ``dali.writers.FORMATS``;
limits from the settings); ``tap_capabilities`` renders it with lxml into the capability body that
``dali.vosi`` places after the interfaces. No HTTP here.
Tests: tests/tap/test_documents.py, tests/tap/test_capabilities.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lxml import etree

from adql.features import Feature, features
from dali.vosi import Capability, Interface, capabilities_document, support_capabilities
from dali.writers import FORMATS
from tap.service import STANDARD_ID, TapConfig

__all__ = [
    "UPLOAD_METHODS",
    "DataModel",
    "DeclaredFormat",
    "FeatureList",
    "Language",
    "Limit",
    "Limits",
    "TableAccess",
    "Version",
    "declared_features",
    "render_table_access",
    "table_access",
    "tap_capabilities",
]

TAPREGEXT = "ivo://ivoa.net/std/TAPRegExt#"
UPLOAD_METHODS = tuple(f"{TAPREGEXT}upload-{m}" for m in ("inline", "http", "https"))
_OBSCORE_1_1 = ("ivo://ivoa.net/std/ObsCore#core-1.1", "ObsCore-1.1")
_ADQL_DESCRIPTION = "ADQL 2.1 (2.0 queries are accepted too); geometry is exact on the sphere"
_SECONDS_PER_DAY = 86400

# ADQL 2.1 defines features-adql-conditional (COALESCE), but STILTS 3.4.7 taplint does not know the key
# yet and reports E-CAP-KEYX; COALESCE is still accepted by the translator, only not declared.
_UNDECLARED = frozenset({TAPREGEXT + "features-adql-conditional"})


@dataclass(frozen=True, slots=True)
class Version:
    """A ``<version>`` of a query language: its number and its standard's ivo-id."""

    number: str
    ivo_id: str | None = None


@dataclass(frozen=True, slots=True)
class FeatureList:
    """A ``<languageFeatures>``: the features of one ``type`` (an ivo-id), each a form and a description."""

    type: str
    features: tuple[Feature, ...]


@dataclass(frozen=True, slots=True)
class Language:
    """A ``<language>`` the service accepts."""

    name: str
    versions: tuple[Version, ...]
    description: str | None = None
    feature_lists: tuple[FeatureList, ...] = ()


@dataclass(frozen=True, slots=True)
class DeclaredFormat:
    """An ``<outputFormat>``: a MIME type, the short names it is also known by and its ivo-id."""

    mime: str
    aliases: tuple[str, ...] = ()
    ivo_id: str | None = None


@dataclass(frozen=True, slots=True)
class DataModel:
    """A ``<dataModel>`` the service's tables follow."""

    ivo_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit value; ``unit`` is ``row`` or ``byte`` for data limits, None for times (seconds)."""

    value: int
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """A TAPRegExt limit pair (``tr:TimeLimits`` or ``tr:DataLimits``): the default and the hard limit."""

    default: Limit | None = None
    hard: Limit | None = None


@dataclass(frozen=True, slots=True)
class TableAccess:
    """The TAPRegExt content of a ``tr:TableAccess`` capability, in the schema's element order."""

    data_models: tuple[DataModel, ...]
    languages: tuple[Language, ...]
    output_formats: tuple[DeclaredFormat, ...]
    upload_methods: tuple[str, ...]
    retention_period: Limits | None = None
    execution_duration: Limits | None = None
    output_limit: Limits | None = None
    upload_limit: Limits | None = None


def declared_features() -> tuple[Feature, ...]:
    """The ADQL features written into the capabilities."""
    return tuple(f for f in features() if f.type not in _UNDECLARED)


def table_access(config: TapConfig, *, has_obscore: bool) -> TableAccess:
    """What the TAP service at ``config.tap_url`` declares in TAPRegExt terms."""
    versions = (Version("2.0", "ivo://ivoa.net/std/ADQL#v2.0"), Version("2.1", "ivo://ivoa.net/std/ADQL#v2.1"))
    adql = Language("ADQL", versions, _ADQL_DESCRIPTION, _feature_lists(declared_features()))
    # Only the short name is declared: the other aliases are MIME spellings DALI resolves anyway.
    formats = tuple(DeclaredFormat(spec.mime, spec.aliases[:1], spec.ivo_id) for spec in FORMATS)
    retention = Limit(int(config.destruction_days * _SECONDS_PER_DAY))
    # TAPRegExt executionDuration (tr:TimeLimits): the hard limit is the longest a job may ask for; UWS grants
    # at most this (uws.system.JobSystem.execution_duration), and 0 ("unlimited") is replaced by it. No hard
    # element when the server sets no maximum.
    duration_hard = Limit(config.execution_duration_max) if config.execution_duration_max > 0 else None
    return TableAccess(
        data_models=(DataModel(*_OBSCORE_1_1),) if has_obscore else (),
        languages=(adql,),
        output_formats=formats,
        upload_methods=UPLOAD_METHODS,
        retention_period=Limits(retention, retention),
        execution_duration=Limits(Limit(config.execution_duration), duration_hard),
        output_limit=Limits(Limit(config.maxrec_default, "row"), Limit(config.maxrec_hard, "row")),
        upload_limit=Limits(hard=Limit(config.upload_max_bytes, "byte")),
    )


def tap_capabilities(config: TapConfig, *, has_obscore: bool) -> bytes:
    """The capabilities document of the TAP service at ``config.tap_url``."""
    # TAPRegExt limits carry one unit each, so the row limit on uploads is stated in words.
    description = (f"ADQL queries over the release. Uploaded tables: at most {config.upload_max_rows} rows and "
                   f"{config.upload_max_bytes} bytes each (VOTable, inline or http/https).")
    body = render_table_access(table_access(config, has_obscore=has_obscore))
    tap = Capability(STANDARD_ID, (Interface(config.tap_url, use="base", role="std", version="1.1"),),
                     xsi_type="tr:TableAccess", body=body, description=description)
    return capabilities_document((tap, *support_capabilities(config.tap_url, tables=True, examples=True)))


def render_table_access(access: TableAccess) -> str:
    """The TAPRegExt elements of ``access`` as XML text for ``Capability.body`` (unqualified names:
    TAPRegExt's elements are in no namespace)."""
    elements: list[etree._Element] = []
    for model in access.data_models:
        elements.append(_element("dataModel", model.name, {"ivo-id": model.ivo_id}))
    elements.extend(_language(language) for language in access.languages)
    elements.extend(_output_format(spec) for spec in access.output_formats)
    elements.extend(_element("uploadMethod", attrs={"ivo-id": method}) for method in access.upload_methods)
    for tag, limits in (("retentionPeriod", access.retention_period), ("executionDuration", access.execution_duration),
                        ("outputLimit", access.output_limit), ("uploadLimit", access.upload_limit)):
        if limits is not None:
            elements.append(_limits(tag, limits))
    return "".join(f"  {etree.tostring(e, encoding='unicode')}\n" for e in elements)


def _feature_lists(feats: Iterable[Feature]) -> tuple[FeatureList, ...]:
    grouped: dict[str, list[Feature]] = {}
    for feature in feats:
        grouped.setdefault(feature.type, []).append(feature)
    return tuple(FeatureList(ftype, tuple(items)) for ftype, items in grouped.items())


def _element(tag: str, text: str | None = None, attrs: dict[str, str] | None = None,
             parent: etree._Element | None = None) -> etree._Element:
    element = etree.Element(tag, attrs or {}) if parent is None else etree.SubElement(parent, tag, attrs or {})
    element.text = text
    return element


def _language(language: Language) -> etree._Element:
    element = _element("language")
    _element("name", language.name, parent=element)
    for version in language.versions:
        _element("version", version.number, {"ivo-id": version.ivo_id} if version.ivo_id else None, element)
    if language.description:
        _element("description", language.description, parent=element)
    for feature_list in language.feature_lists:
        block = _element("languageFeatures", attrs={"type": feature_list.type}, parent=element)
        for feature in feature_list.features:
            entry = _element("feature", parent=block)
            _element("form", feature.form, parent=entry)
            if feature.description:
                _element("description", feature.description, parent=entry)
    etree.indent(element, space=" ", level=2)
    return element


def _output_format(spec: DeclaredFormat) -> etree._Element:
    element = _element("outputFormat", attrs={"ivo-id": spec.ivo_id} if spec.ivo_id else None)
    _element("mime", spec.mime, parent=element)
    for alias in spec.aliases:
        _element("alias", alias, parent=element)
    return element


def _limits(tag: str, limits: Limits) -> etree._Element:
    element = _element(tag)
    for name, limit in (("default", limits.default), ("hard", limits.hard)):
        if limit is not None:
            _element(name, str(limit.value), {"unit": limit.unit} if limit.unit else None, element)
    return element
