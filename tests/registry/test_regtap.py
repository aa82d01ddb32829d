"""The RegTAP 1.1 ``rr`` rows built from the deployment's records, and the records' footprint reference."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from lxml import etree

from dali.values import TableMeta
from registry.curation import load_curation
from registry.ledger import Ledger, Record
from registry.regtap import regtap_rows, regtap_tables
from registry.rr_schema import RR_UTYPE, rr_tables
from registry.service import Publisher
from skygate.registry_sources import registry_sources
from skygate.settings import Settings
from tests.dali.xmlschema import xsd_errors
from tests.registry.conftest import ReleaseStub

AUTHORITY = "Data.Example.org"
BASE = "https://data.example.org/sky"


def _records(metadata: dict[str, TableMeta], footprints: dict[str, str] | None = None) -> list[Record]:
    settings = Settings(base_url=BASE, authority=AUTHORITY.lower())
    publisher = Publisher(settings.authority, settings.base_url, load_curation(settings.registry_metadata),
                          settings.scs_max_sr, settings.maxrec_hard, Ledger(None),
                          footprints=(lambda: footprints) if footprints else None)
    return publisher.records_now(registry_sources(settings, ReleaseStub(metadata)), metadata)


@pytest.fixture(scope="module")
def rows(sky_metadata: dict[str, TableMeta]) -> dict[str, list[dict[str, Any]]]:
    return {name: table.to_pylist() for name, table in regtap_rows(_records(sky_metadata)).items()}


def test_tables_have_the_standard_columns_and_types(sky_metadata: dict[str, TableMeta]) -> None:
    built = regtap_rows(_records(sky_metadata))
    names = {m.qualified: [c.name for c in m.columns] for m in rr_tables()}
    assert list(names) == [f"rr.{t}" for t in (
        "resource", "res_role", "res_subject", "capability", "res_schema", "res_table", "table_column", "interface",
        "intf_param", "relationship", "validation", "res_date", "res_detail", "alt_identifier")]
    assert names["rr.resource"] == [
        "ivoid", "res_type", "created", "short_name", "res_title", "updated", "content_level", "res_description",
        "reference_url", "creator_seq", "content_type", "source_format", "source_value", "res_version",
        "region_of_regard", "waveband", "rights", "rights_uri"]
    assert names["rr.interface"] == [
        "ivoid", "cap_index", "intf_index", "intf_type", "intf_role", "std_version", "query_type", "result_type",
        "wsdl_url", "url_use", "access_url", "mirror_url", "authenticated_only"]
    for meta in rr_tables():
        assert built[meta.qualified].column_names == names[meta.qualified]
        assert all(c.std for c in meta.columns)
        for column in meta.columns:
            kind = built[meta.qualified].schema.field(column.name).type
            assert kind == {"int": pa.int32(), "float": pa.float32()}.get(column.datatype, pa.string())
    resource = next(m for m in rr_tables() if m.name == "resource")
    created = resource.column("created")
    assert created is not None and (created.datatype, created.arraysize, created.xtype) == ("char", "19", "timestamp")
    regard = resource.column("region_of_regard")
    assert regard is not None and regard.unit == "deg"
    served = regtap_tables(_records(sky_metadata))
    assert served.schema_utypes == {"rr": RR_UTYPE}
    assert {t.physical for t in served.listed.values()} == {f"skygate_rr_{m.name}" for m in rr_tables()}


def test_one_resource_row_per_active_record_lower_cased(rows: dict[str, list[dict[str, Any]]]) -> None:
    resources = {r["ivoid"]: r for r in rows["rr.resource"]}
    assert set(resources) == {f"ivo://{AUTHORITY.lower()}{k}" for k in (
        "", "/registry", "/tap", "/sia", "/soda", "/anomaly", "/scs/sky.points", "/std/soda-bulk",
        "/std/anomaly-score")}
    tap = resources[f"ivo://{AUTHORITY.lower()}/tap"]
    assert tap["res_type"] == "vs:catalogservice"
    assert tap["res_title"] == "Skygate TAP service"
    assert len(tap["created"]) == 19 and "T" in tap["created"]
    assert tap["content_type"] == tap["content_type"].lower()
    assert tap["waveband"] is not None and tap["waveband"] == tap["waveband"].lower()
    for row in rows["rr.resource"]:
        for key, value in row.items():
            assert value is None or not isinstance(value, str) or (value == value.strip() and value), key


def test_capabilities_and_interfaces(rows: dict[str, list[dict[str, Any]]]) -> None:
    tap = f"ivo://{AUTHORITY.lower()}/tap"
    caps = [c for c in rows["rr.capability"] if c["ivoid"] == tap]
    standards = {c["standard_id"] for c in caps}
    assert "ivo://ivoa.net/std/tap" in standards  # lower-cased (RegTAP 1.1 §7.4)
    tap_cap = next(c for c in caps if c["standard_id"] == "ivo://ivoa.net/std/tap")
    assert tap_cap["cap_type"] == "tr:tableaccess"
    interfaces = [i for i in rows["rr.interface"] if i["ivoid"] == tap]
    assert len({i["intf_index"] for i in interfaces}) == len(interfaces)  # unique per resource
    main = next(i for i in interfaces if i["cap_index"] == tap_cap["cap_index"])
    assert (main["intf_type"], main["intf_role"], main["url_use"], main["access_url"], main["authenticated_only"]) == (
        "vs:paramhttp", "std", "base", f"{BASE}/tap", 0)
    details = {(d["detail_xpath"], d["detail_value"]) for d in rows["rr.res_detail"]
               if d["ivoid"] == tap and d["cap_index"] == tap_cap["cap_index"]}
    assert ("/capability/language/name", "ADQL") in details
    assert any(x == "/capability/outputFormat/mime" for x, _ in details)
    cone = f"ivo://{AUTHORITY.lower()}/scs/sky.points"
    cone_details = {d["detail_xpath"] for d in rows["rr.res_detail"] if d["ivoid"] == cone}
    assert {"/capability/maxSR", "/capability/maxRecords", "/capability/verbosity"} <= cone_details


def test_tables_columns_and_params(rows: dict[str, list[dict[str, Any]]]) -> None:
    tap = f"ivo://{AUTHORITY.lower()}/tap"
    tables = {t["table_name"]: t for t in rows["rr.res_table"] if t["ivoid"] == tap}
    assert {"sky.points", "rr.resource", "tap_schema.tables"} <= set(tables)
    schemas = {s["schema_index"]: s for s in rows["rr.res_schema"] if s["ivoid"] == tap}
    assert schemas[tables["sky.points"]["schema_index"]]["schema_name"] == "sky"
    columns = {c["name"]: c for c in rows["rr.table_column"]
               if c["ivoid"] == tap and c["table_index"] == tables["sky.points"]["table_index"]}
    assert columns["ra"]["ucd"] == "pos.eq.ra;meta.main"
    assert columns["ra"]["datatype"] == "double"
    assert columns["ra"]["type_system"] == "vs:votabletype"
    assert columns["mag"]["flag"] == "indexed"
    params = {p["name"] for p in rows["rr.intf_param"] if p["ivoid"] == f"ivo://{AUTHORITY.lower()}/anomaly"}
    assert {"query", "ntrees", "seed"} <= params  # lower-cased names


def test_roles_subjects_and_dates(rows: dict[str, list[dict[str, Any]]]) -> None:
    tap = f"ivo://{AUTHORITY.lower()}/tap"
    roles = {r["base_role"] for r in rows["rr.res_role"] if r["ivoid"] == tap}
    assert roles == {"publisher", "creator", "contact"}
    contact = next(r for r in rows["rr.res_role"] if r["ivoid"] == tap and r["base_role"] == "contact")
    assert contact["email"]
    assert any(s["ivoid"] == tap for s in rows["rr.res_subject"])
    assert {d["value_role"] for d in rows["rr.res_date"] if d["ivoid"] == tap} == {"created"}


def test_deleted_records_give_no_rows() -> None:
    from datetime import UTC, datetime

    gone = Record("ivo://x/y", "vr:Service", "t", datetime.now(UTC), datetime.now(UTC), "deleted", None)
    assert all(table.num_rows == 0 for table in regtap_rows([gone]).values())


def test_records_reference_their_footprint(sky_metadata: dict[str, TableMeta]) -> None:
    url = f"{BASE}/moc/sky.points"
    records = _records(sky_metadata, footprints={"sky.points": url})
    cone = next(r for r in records if r.ivoid.endswith("/scs/sky.points"))
    assert cone.xml is not None
    assert etree.fromstring(cone.xml).findtext("coverage/footprint") == url
    assert xsd_errors(cone.xml.encode()) == []
    rows = regtap_rows(records).get("rr.res_detail")
    assert rows is not None
    assert {"ivoid": cone.ivoid, "cap_index": None, "detail_xpath": "/coverage/footprint",
            "detail_value": url} in rows.to_pylist()
