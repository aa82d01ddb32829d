"""The TAP VOSI capabilities document: one ``tr:TableAccess`` capability plus the VOSI endpoints.

Languages and features come from ``adql.features`` (what the translator really supports), output
formats from ``dali.writers.FORMATS``, limits from the settings. Pure string building.
Tests: tests/tap/test_documents.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from adql.features import Feature, features
from dali.vosi import Capability, Interface, capabilities_document, support_capabilities
from dali.writers import FORMATS
from tap.service import STANDARD_ID, TapConfig

__all__ = ["UPLOAD_METHODS", "declared_features", "tap_capabilities"]

TAPREGEXT = "ivo://ivoa.net/std/TAPRegExt#"
UPLOAD_METHODS = tuple(f"{TAPREGEXT}upload-{m}" for m in ("inline", "http", "https"))
_OBSCORE = ("ivo://ivoa.net/std/ObsCore#core-1.1", "ObsCore-1.1")


# ADQL 2.1 defines features-adql-conditional (COALESCE), but STILTS 3.4.7 taplint does not know the key
# yet and reports E-CAP-KEYX; COALESCE is still accepted by the translator, only not declared.
_UNDECLARED = frozenset({TAPREGEXT + "features-adql-conditional"})


def declared_features() -> tuple[Feature, ...]:
    """The ADQL features written into the capabilities."""
    return tuple(f for f in features() if f.type not in _UNDECLARED)


def _language(feats: Iterable[Feature]) -> str:
    grouped: dict[str, list[Feature]] = {}
    for feature in feats:
        grouped.setdefault(feature.type, []).append(feature)
    blocks = []
    for ftype, items in grouped.items():
        entries = "".join(
            f"<feature><form>{escape(f.form)}</form>"
            + (f"<description>{escape(f.description)}</description>" if f.description else "")
            + "</feature>"
            for f in items
        )
        blocks.append(f'   <languageFeatures type="{ftype}">{entries}</languageFeatures>\n')
    return (
        "  <language>\n   <name>ADQL</name>\n"
        '   <version ivo-id="ivo://ivoa.net/std/ADQL#v2.0">2.0</version>\n'
        '   <version ivo-id="ivo://ivoa.net/std/ADQL#v2.1">2.1</version>\n'
        "   <description>ADQL 2.1 (2.0 queries are accepted too); geometry is exact on the sphere"
        "</description>\n" + "".join(blocks) + "  </language>\n"
    )


def _output_formats() -> str:
    out = []
    for spec in FORMATS:
        ivo = f' ivo-id="{spec.ivo_id}"' if spec.ivo_id else ""
        aliases = "".join(f"<alias>{escape(a)}</alias>" for a in spec.aliases[:1])
        out.append(f"  <outputFormat{ivo}><mime>{escape(spec.mime)}</mime>{aliases}</outputFormat>\n")
    return "".join(out)


def tap_capabilities(config: TapConfig, *, has_obscore: bool) -> bytes:
    """The capabilities document of the TAP service at ``config.tap_url``."""
    base = config.tap_url
    body = ""
    if has_obscore:
        body += f'  <dataModel ivo-id="{_OBSCORE[0]}">{_OBSCORE[1]}</dataModel>\n'
    body += _language(declared_features())
    body += _output_formats()
    body += "".join(f'  <uploadMethod ivo-id="{m}"/>\n' for m in UPLOAD_METHODS)
    retention = int(config.destruction_days * 86400)
    # TAPRegExt executionDuration (tr:TimeLimits): the hard limit is the longest a job may ask for; UWS grants
    # at most this (uws.system.JobSystem.execution_duration), and 0 ("unlimited") is replaced by it. No hard
    # element when the server sets no maximum.
    duration_hard = (f"<hard>{config.execution_duration_max}</hard>" if config.execution_duration_max > 0 else "")
    body += (
        f"  <retentionPeriod><default>{retention}</default><hard>{retention}</hard></retentionPeriod>\n"
        f"  <executionDuration><default>{config.execution_duration}</default>{duration_hard}</executionDuration>\n"
        f'  <outputLimit><default unit="row">{config.maxrec_default}</default>'
        f'<hard unit="row">{config.maxrec_hard}</hard></outputLimit>\n'
        f'  <uploadLimit><hard unit="byte">{config.upload_max_bytes}</hard></uploadLimit>\n'
    )
    # TAPRegExt limits carry one unit each, so the row limit on uploads is stated in words.
    description = (f"ADQL queries over the release. Uploaded tables: at most {config.upload_max_rows} rows and "
                   f"{config.upload_max_bytes} bytes each (VOTable, inline or http/https).")
    tap = Capability(STANDARD_ID, (Interface(base, use="base", role="std", version="1.1"),),
                     xsi_type="tr:TableAccess", body=body, description=description)
    return capabilities_document((tap, *support_capabilities(base, tables=True, examples=True)))
