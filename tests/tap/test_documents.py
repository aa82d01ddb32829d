"""/capabilities, /tables and /examples: schemas, agreement with TAP_SCHEMA, and every example runs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from astropy.io.votable import parse
from lxml import etree

from tap.capabilities import declared_features
from tap.examples import EXAMPLES
from tests.dali.xmlschema import xsd_errors
from tests.tap.conftest import BASE, TestClient
from tests.tap.test_routes import UPLOAD

NS = {"vosi": "http://www.ivoa.net/xml/VOSICapabilities/v1.0", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}


def _rows(client: TestClient, query: str) -> list[dict[str, object]]:
    response = client.post("/tap/sync", data={"LANG": "ADQL", "QUERY": query, "MAXREC": "100000"})
    assert response.status_code == 200, response.text
    table = parse(io.BytesIO(response.content)).get_first_table().to_table()
    return [dict(zip(table.colnames, row, strict=True)) for row in table]


def test_capabilities_declare_one_table_access_with_every_feature(client: TestClient) -> None:
    body = client.get("/tap/capabilities").content
    assert xsd_errors(body) == []
    root = etree.fromstring(body)
    caps = root.findall("capability")
    tap = [c for c in caps if c.get("standardID") == "ivo://ivoa.net/std/TAP"]
    assert len(tap) == 1 and tap[0].get(f"{{{NS['xsi']}}}type") == "tr:TableAccess"
    assert tap[0].findtext("interface/accessURL") == f"{BASE}/tap"
    forms = {(f.getparent().get("type"), f.findtext("form")) for f in tap[0].iter("feature")}
    assert forms == {(f.type, f.form) for f in declared_features()}
    assert {v.get("ivo-id") for v in tap[0].iter("version")} == {"ivo://ivoa.net/std/ADQL#v2.0",
                                                                 "ivo://ivoa.net/std/ADQL#v2.1"}
    assert {m.get("ivo-id") for m in tap[0].iter("uploadMethod")} == {
        f"ivo://ivoa.net/std/TAPRegExt#upload-{m}" for m in ("inline", "http", "https")}
    assert tap[0].findtext("outputLimit/hard") == "5000" and tap[0].findtext("outputLimit/default") == "1000"
    # the job run-time limit: the default and the most a job may ask for (SKYGATE_EXECUTION_DURATION_MAX)
    assert tap[0].findtext("executionDuration/default") == "3600"
    assert tap[0].findtext("executionDuration/hard") == "86400"
    assert {c.get("standardID") for c in caps} >= {"ivo://ivoa.net/std/VOSI#capabilities",
                                                   "ivo://ivoa.net/std/VOSI#availability",
                                                   "ivo://ivoa.net/std/VOSI#tables-1.1", "ivo://ivoa.net/std/DALI#examples"}
    assert tap[0].find("dataModel").get("ivo-id") == "ivo://ivoa.net/std/ObsCore#core-1.1"
    assert tap[0].findtext("uploadLimit/hard") == "100000000" and "1000000 rows" in tap[0].findtext("description")


@pytest.mark.parametrize("detail", ["", "?detail=min", "?detail=max"])
def test_tables_validate(client: TestClient, detail: str) -> None:
    body = client.get(f"/tap/tables{detail}").content
    assert xsd_errors(body) == []
    root = etree.fromstring(body)
    assert (len(root.findall(".//column")) == 0) is (detail == "?detail=min")
    nrows = {t.findtext("name"): t.findtext("nrows") for t in root.iter("table")}
    counted = _rows(client, "SELECT COUNT(*) AS n FROM des_dr1.main")[0]["n"]
    assert nrows["des_dr1.main"] == str(counted) and int(str(nrows["ivoa.obscore"])) > 0


def test_tables_agree_with_tap_schema(client: TestClient) -> None:
    root = etree.fromstring(client.get("/tap/tables").content)
    declared = {t.findtext("name"): {c.findtext("name"): (c.findtext("dataType"), c.findtext("unit") or "",
                                                            c.findtext("ucd") or "")
                                     for c in t.findall("column")}
                for t in root.iter("table")}
    tables = {str(r["table_name"]) for r in _rows(client, "SELECT table_name FROM TAP_SCHEMA.tables")}
    assert set(declared) == tables
    columns: dict[str, dict[str, tuple[str, str, str]]] = {}
    for r in _rows(client, "SELECT table_name, column_name, datatype, unit, ucd FROM TAP_SCHEMA.columns"):
        columns.setdefault(str(r["table_name"]), {})[str(r["column_name"])] = (
            str(r["datatype"]), str(r["unit"] or ""), str(r["ucd"] or ""))
    assert columns == declared
    for name in ("des_dr1.main", "tap_schema.columns", "ivoa.obscore"):
        one = etree.fromstring(client.get(f"/tap/tables/{name}").content)
        assert xsd_errors(etree.tostring(one)) == []
        assert one.findtext("name") == name and len(one.findall("column")) == len(declared[name])


def test_examples_document_is_dali_examples(client: TestClient) -> None:
    response = client.get("/tap/examples")
    assert response.headers["content-type"] == "application/xhtml+xml"
    root = etree.fromstring(response.content)
    assert len(root.xpath("//*[@vocab='http://www.ivoa.net/rdf/examples#']")) == 1
    found = root.xpath("//*[@typeof='example']")
    assert [e.get("id") for e in found] == [e.id for e in EXAMPLES]
    for element in found:
        assert element.get("resource") == "#" + element.get("id")
        assert len(element.xpath(".//*[@property='query']")) == 1
        assert element.xpath(".//*[@property='name']")[0].text


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_every_example_runs(client: TestClient, example) -> None:  # type: ignore[no-untyped-def]
    data = {"LANG": "ADQL", "QUERY": example.query, "MAXREC": "10"}
    files = None
    if example.upload is not None:
        name = example.upload[0]
        data["UPLOAD"] = f"{name},param:{name}"
        files = {name: ("u.xml", UPLOAD)}
    response = client.post("/tap/sync", data=data, files=files)
    assert response.status_code == 200, response.text
    doc = parse(io.BytesIO(response.content))
    statuses = [i.value for i in doc.resources[0].infos if i.name == "QUERY_STATUS"]
    assert statuses[0] == "OK" and "ERROR" not in statuses
    table = doc.get_first_table().to_table()
    if example.id not in ("xmatch",):
        assert len(table) > 0, example.id
    assert re.sub(r"\s+", " ", example.query) != ""


# ESA's TAP+ attribute, declared the way ESA's esaTapPlusAttributes.xsd does, for validating the astroquery dialect.
_ESA_XSD = """<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="http://esa.int/xml/EsaTapPlus">
<xs:attribute name="flags" type="xs:int"/><xs:attribute name="size_bytes" type="xs:long"/></xs:schema>"""


def _with_esa_schema_errors(document: bytes, tmp_path: Path) -> list[str]:
    from tests.dali.xmlschema import _FILES, XSD

    (tmp_path / "esatapplus.xsd").write_text(_ESA_XSD)
    files = {ns: (XSD / name).as_uri() for ns, name in _FILES.items()}
    files["http://esa.int/xml/EsaTapPlus"] = (tmp_path / "esatapplus.xsd").as_uri()
    imports = "".join(f'<xs:import namespace="{ns}" schemaLocation="{uri}"/>' for ns, uri in files.items())
    schema = etree.XMLSchema(etree.fromstring(
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'.encode(),
        base_url=XSD.as_uri() + "/"))
    return [] if schema.validate(etree.fromstring(document)) else [str(e) for e in schema.error_log]


ESA_FLAGS = "{http://esa.int/xml/EsaTapPlus}flags"


def test_astroquery_gets_esa_column_flags_and_everyone_else_plain_vosi(client: TestClient, tmp_path: Path) -> None:
    from astroquery.utils.tap.xmlparser.tableSaxParser import TableSaxParser

    plain = client.get("/tap/tables").content
    assert ESA_FLAGS not in {a for c in etree.fromstring(plain).iter("column") for a in c.attrib}
    assert b"esatapplus" not in plain
    esa = client.get("/tap/tables", headers={"User-Agent": "astroquery/0.4.11 Python/3.11.2 (Linux)"}).content
    columns = list(etree.fromstring(esa).iter("column"))
    assert columns and all(c.get(ESA_FLAGS) == "0" for c in columns)
    # valid VOSI/VODataService once ESA's attribute declaration is known (strict attribute wildcard)
    assert _with_esa_schema_errors(esa, tmp_path) == []
    tables = TableSaxParser().parseData(io.BytesIO(esa))
    main = next(t for t in tables if t.name == "des_dr1.main")
    assert {"coadd_object_id", "ra", "dec"} <= {c.name for c in main.columns}


def test_esa_tables_parameters_select_tables_and_names_only(client: TestClient) -> None:
    one = etree.fromstring(client.get("/tap/tables", params={"tables": "des_dr1.main,ivoa.obscore"}).content)
    assert [t.findtext("name") for t in one.iter("table")] == ["des_dr1.main", "ivoa.obscore"]
    assert all(c.get(ESA_FLAGS) == "0" for c in one.iter("column"))
    names = etree.fromstring(client.get("/tap/tables", params={"only_tables": "true"}).content)
    assert len(list(names.iter("table"))) > 3 and not list(names.iter("column"))
    missing = client.get("/tap/tables", params={"tables": "nowhere.nothing"})
    assert missing.status_code == 404 and b"QUERY_STATUS" in missing.content
