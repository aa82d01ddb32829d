"""The TAPRegExt part of /tap/capabilities, built from values: every element the string-template version
wrote (checked element by element), in the schema's order, valid for every setting, and the UDFs the
translator knows declared exactly."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from adql.features import UDFS
from dali.writers import FORMATS
from tap.capabilities import (
    UPLOAD_METHODS,
    DataModel,
    Limit,
    Limits,
    TableAccess,
    declared_features,
    render_table_access,
    table_access,
    tap_capabilities,
)
from tap.service import TapConfig
from tests.configs import tap_config
from tests.dali.xmlschema import xsd_errors

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
TAPREGEXT = "ivo://ivoa.net/std/TAPRegExt#"
Node = tuple[str, tuple[tuple[str, str], ...], str, tuple[Any, ...]]


def _node(element: etree._Element) -> Node:
    text = (element.text or "").strip()
    return (element.tag, tuple(sorted(element.attrib.items())), text, tuple(_node(c) for c in element))


def _e(tag: str, text: str = "", *children: Node, **attrs: str) -> Node:
    return (tag, tuple(sorted((k.replace("_", "-"), v) for k, v in attrs.items())), text, children)


def _table_access(document: bytes) -> etree._Element:
    caps = [c for c in etree.fromstring(document).findall("capability") if c.get(XSI_TYPE) == "tr:TableAccess"]
    assert len(caps) == 1
    return caps[0]


def _expected_language() -> Node:
    blocks: dict[str, list[Node]] = {}
    for f in declared_features():
        parts = [_e("form", f.form), _e("description", f.description)] if f.description else [_e("form", f.form)]
        blocks.setdefault(f.type, []).append(_e("feature", "", *parts))
    return _e("language", "", _e("name", "ADQL"),
              _e("version", "2.0", ivo_id="ivo://ivoa.net/std/ADQL#v2.0"),
              _e("version", "2.1", ivo_id="ivo://ivoa.net/std/ADQL#v2.1"),
              _e("description", "ADQL 2.1 (2.0 queries are accepted too); geometry is exact on the sphere"),
              *(_e("languageFeatures", "", *items, type=t) for t, items in blocks.items()))


def _expected_formats() -> tuple[Node, ...]:
    out = []
    for spec in FORMATS:
        attrs = {"ivo_id": spec.ivo_id} if spec.ivo_id else {}
        out.append(_e("outputFormat", "", _e("mime", spec.mime), _e("alias", spec.aliases[0]), **attrs))
    return tuple(out)


CONFIGS = {
    "defaults": (tap_config(), True),
    "no-obscore-no-duration-maximum": (tap_config(execution_duration_max=0, destruction_days=0.5), False),
    "odd-url": (tap_config(base_url="http://example.org/a&b<c", maxrec_default=7, upload_max_bytes=12), True),
}


@pytest.mark.parametrize(("config", "has_obscore"), CONFIGS.values(), ids=CONFIGS.keys())
def test_table_access_has_every_element_the_template_wrote(config: TapConfig, has_obscore: bool) -> None:
    document = tap_capabilities(config, has_obscore=has_obscore)
    assert xsd_errors(document) == []
    retention = str(int(config.destruction_days * 86400))
    duration = [_e("default", str(config.execution_duration))]
    if config.execution_duration_max > 0:
        duration.append(_e("hard", str(config.execution_duration_max)))
    description = (f"ADQL queries over the release. Uploaded tables: at most {config.upload_max_rows} rows and "
                   f"{config.upload_max_bytes} bytes each (VOTable, inline or http/https).")
    obscore = [_e("dataModel", "ObsCore-1.1", ivo_id="ivo://ivoa.net/std/ObsCore#core-1.1")] if has_obscore else []
    expected = (
        _e("description", description),
        _e("interface", "", _e("accessURL", config.tap_url, use="base"),
           role="std", version="1.1", **{"{http://www.w3.org/2001/XMLSchema-instance}type": "vs:ParamHTTP"}),
        *obscore,
        _expected_language(),
        *_expected_formats(),
        *(_e("uploadMethod", ivo_id=f"{TAPREGEXT}upload-{m}") for m in ("inline", "http", "https")),
        _e("retentionPeriod", "", _e("default", retention), _e("hard", retention)),
        _e("executionDuration", "", *duration),
        _e("outputLimit", "", _e("default", str(config.maxrec_default), unit="row"),
           _e("hard", str(config.maxrec_hard), unit="row")),
        _e("uploadLimit", "", _e("hard", str(config.upload_max_bytes), unit="byte")),
    )
    assert _node(_table_access(document))[3] == expected


def test_descriptions_with_markup_characters_round_trip() -> None:
    cap = _table_access(tap_capabilities(tap_config(), has_obscore=False))
    texts = {(f.findtext("form"), f.findtext("description") or "") for f in cap.iter("feature")}
    assert texts == {(f.form, f.description) for f in declared_features()}
    assert any("'" in d and "->" in f for f, d in texts)  # RegTAP's forms and descriptions need escaping


def test_rendered_values_are_unqualified_tapregext_elements() -> None:
    access = TableAccess(data_models=(DataModel("ivo://example/dm", "DM"),), languages=(), output_formats=(),
                         upload_methods=UPLOAD_METHODS[:1], output_limit=Limits(hard=Limit(5, "row")))
    assert render_table_access(access) == (
        '  <dataModel ivo-id="ivo://example/dm">DM</dataModel>\n'
        f'  <uploadMethod ivo-id="{TAPREGEXT}upload-inline"/>\n'
        '  <outputLimit><hard unit="row">5</hard></outputLimit>\n'
    )


def test_declared_udfs_are_the_translators() -> None:
    access = table_access(tap_config(), has_obscore=False)
    lists = access.languages[0].feature_lists
    udfs = [f for lst in lists if lst.type == f"{TAPREGEXT}features-udf" for f in lst.features]
    assert sorted(f.form.split("(")[0].upper() for f in udfs) == sorted(UDFS)
    assert all(f.description for f in udfs)
    assert {"IVO_NOCASEMATCH", "IVO_HASWORD", "IVO_HASHLIST_HAS", "IVO_STRING_AGG", "SKYGATE_IN_FOOTPRINT"} <= set(UDFS)
