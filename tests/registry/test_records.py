"""VOResource records: every type schema-valid, built from what the services serve; curation and authority."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from dali.errors import UsageError
from dali.values import TableMeta
from registry.curation import Curation, check_authority, curation_from, load_curation
from registry.ledger import Ledger, Record
from registry.records import Resource
from registry.service import Publisher
from skygate.registry_sources import ANOMALY_PARAMETERS, BULK_PARAMETERS, registry_sources
from skygate.settings import Settings
from tests.dali.xmlschema import xsd_errors
from tests.registry.conftest import ReleaseStub

XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def _records(metadata: dict[str, TableMeta], **changes: object) -> list[Record]:
    settings = Settings(base_url="https://data.example.org/sky", authority="data.example.org").with_(**changes)
    publisher = Publisher(settings.authority, settings.base_url, load_curation(settings.registry_metadata),
                          settings.scs_max_sr, settings.maxrec_hard, Ledger(None))
    return publisher.records_now(registry_sources(settings, ReleaseStub(metadata)), metadata)


def _by_id(records: list[Record]) -> dict[str, etree._Element]:
    return {r.ivoid: etree.fromstring(r.xml) for r in records if r.xml}


def test_every_record_is_schema_valid_and_typed(sky_metadata: dict[str, TableMeta]) -> None:
    records = _records(sky_metadata)
    assert {r.ivoid: r.xsi_type for r in records} == {
        "ivo://data.example.org": "vg:Authority",
        "ivo://data.example.org/registry": "vg:Registry",
        "ivo://data.example.org/tap": "vs:CatalogService",
        "ivo://data.example.org/sia": "vs:CatalogService",
        "ivo://data.example.org/soda": "vr:Service",
        "ivo://data.example.org/anomaly": "vr:Service",
        "ivo://data.example.org/scs/sky.points": "vs:CatalogService",
        "ivo://data.example.org/std/soda-bulk": "vstd:Standard",
        "ivo://data.example.org/std/anomaly-score": "vstd:Standard",
    }
    for record in records:
        assert record.xml is not None
        assert xsd_errors(record.xml.encode()) == [], record.ivoid
        root = etree.fromstring(record.xml)
        assert root.get(XSI_TYPE) == record.xsi_type
        assert root.nsmap["xsi"] == "http://www.w3.org/2001/XMLSchema-instance"
        assert root.findtext("identifier") == record.ivoid
        assert "placeholder" not in root.findtext("content/description", "")


def test_capabilities_are_those_the_services_serve(sky_metadata: dict[str, TableMeta]) -> None:
    roots = _by_id(_records(sky_metadata))
    tap = roots["ivo://data.example.org/tap"]
    table_access = tap.find("capability[@standardID='ivo://ivoa.net/std/TAP']")
    assert table_access is not None and table_access.get(XSI_TYPE) == "tr:TableAccess"
    assert table_access.findtext("interface/accessURL") == "https://data.example.org/sky/tap"
    assert table_access.findtext("outputLimit/hard") == str(Settings().maxrec_hard)
    standards = {c.get("standardID") for root in roots.values() for c in root.findall("capability")}
    assert {"ivo://ivoa.net/std/SIA#query-2.0", "ivo://ivoa.net/std/SODA#sync-1.0",
            "ivo://ivoa.net/std/DataLink#links-1.1", "ivo://ivoa.net/std/ConeSearch",
            "ivo://ivoa.net/std/Registry", "ivo://ivoa.net/std/UWS#rest-1.1",
            "ivo://data.example.org/std/anomaly-score", "ivo://data.example.org/std/soda-bulk"} <= standards
    urls = [u.text or "" for root in roots.values() for u in root.iter("accessURL")]
    assert urls and all(u.startswith("https://data.example.org/sky/") for u in urls)


def test_tap_tableset_and_one_cone_per_positional_table(sky_metadata: dict[str, TableMeta]) -> None:
    roots = _by_id(_records(sky_metadata))
    tables = [t.findtext("name") for t in roots["ivo://data.example.org/tap"].iter("table")]
    assert "sky.points" in tables and "tap_schema.columns" in tables
    cone = roots["ivo://data.example.org/scs/sky.points"]
    assert [t.findtext("name") for t in cone.iter("table")] == ["sky.points"]
    columns = [c.findtext("name") for c in cone.iter("column")]
    assert columns == ["point_id", "ra", "dec", "mag", "note"], "internal index columns stay unpublished"
    capability = cone.find("capability[@standardID='ivo://ivoa.net/std/ConeSearch']")
    assert capability is not None and capability.findtext("maxSR") == "10.0"
    assert capability.findtext("interface/accessURL") == "https://data.example.org/sky/scs/sky.points?"


def test_job_capabilities_list_every_parameter(sky_metadata: dict[str, TableMeta]) -> None:
    roots = _by_id(_records(sky_metadata))
    for key, service, parameters in (("anomaly-score", "anomaly", ANOMALY_PARAMETERS),
                                     ("soda-bulk", "soda", BULK_PARAMETERS)):
        standard_id = f"ivo://data.example.org/std/{key}"
        cap = roots[f"ivo://data.example.org/{service}"].find(f"capability[@standardID='{standard_id}']")
        assert cap is not None
        assert [p.findtext("name") for p in cap.iter("param")] == [p.name for p in parameters]
        description = cap.findtext("description") or ""
        assert all(p.name in description for p in parameters)
        standard = roots[standard_id]
        assert all(p.name in (standard.findtext("content/description") or "") for p in parameters)


def test_placeholder_authority_says_so(sky_metadata: dict[str, TableMeta]) -> None:
    records = _records(sky_metadata, authority="skygate.example")
    for root in _by_id(records).values():
        assert "placeholder authority skygate.example" in (root.findtext("content/description") or "")


def test_records_without_a_release_have_no_tables() -> None:
    records = _records({})
    assert "ivo://data.example.org/tap" in {r.ivoid for r in records}
    assert not any(r.ivoid.startswith("ivo://data.example.org/scs/") for r in records)
    for record in records:
        assert record.xml is not None and xsd_errors(record.xml.encode()) == []


# ----------------------------------------------------------------------------- curation and authority

def test_curation_file_sets_the_block(tmp_path: Path, sky_metadata: dict[str, TableMeta]) -> None:
    path = tmp_path / "registry.toml"
    path.write_text('publisher = "Example Observatory"\ncontact_email = "help@example.org"\n'
                    'subjects = ["galaxies", "surveys"]\ncontent_level = ["Research", "University"]\n'
                    'reference_url = "https://example.org/dr1"\ncreated = 2025-06-01\n')
    records = _records(sky_metadata, registry_metadata=str(path))
    tap = _by_id(records)["ivo://data.example.org/tap"]
    assert tap.findtext("curation/publisher") == "Example Observatory"
    assert tap.findtext("curation/contact/email") == "help@example.org"
    assert [s.text for s in tap.findall("content/subject")] == ["galaxies", "surveys"]
    assert tap.findtext("content/referenceURL") == "https://example.org/dr1"
    assert tap.get("created") == "2025-06-01T00:00:00Z"
    assert xsd_errors(etree.tostring(tap)) == []


@pytest.mark.parametrize(("data", "message"), [
    ({"publisher_name": "x"}, "unknown registry metadata key"),
    ({"subjects": "galaxies"}, "subjects must be a list"),
    ({"subjects": []}, "subjects must be a list"),
    ({"content_level": ["Experts"]}, "not a VOResource content level"),
    ({"publisher": 3}, "publisher must be str"),
    ({"created": "yesterday"}, "created must be datetime"),
])
def test_bad_curation_is_refused(data: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        curation_from(data)
    assert info.value.param == "SKYGATE_REGISTRY_METADATA"


def test_unreadable_or_invalid_curation_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_curation(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("publisher = \n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_curation(bad)
    assert load_curation("") == Curation()


@pytest.mark.parametrize("authority", ["", "ab", "has space", "ivo://x.org", "-x.org", "x.org/path"])
def test_bad_authority_is_refused(authority: str) -> None:
    with pytest.raises(UsageError) as info:
        check_authority(authority)
    assert info.value.param == "SKYGATE_AUTHORITY"


def test_the_app_refuses_a_bad_authority(tmp_path: Path) -> None:
    from skygate.app import create_app

    with pytest.raises(UsageError, match="not an IVOA authority"):
        create_app(Settings(data_dir=tmp_path, authority="not valid"))


# ----------------------------------------------------------------------------- the ledger

def _resource(key: str, body: str = "<title>t</title>") -> Resource:
    return Resource(f"ivo://x.org/{key}", "vr:Service", key, body)


def test_ledger_keeps_dates_until_content_changes_and_remembers_deletions(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    created = datetime(2025, 1, 1, tzinfo=UTC)
    t1, t2, t3, t4 = (datetime(2026, 3, d, 12, 0, 0, tzinfo=UTC) for d in (1, 2, 3, 4))
    first = {r.ivoid: r for r in Ledger(path).stamp([_resource("a"), _resource("b")], created=created, now=t1)}
    assert first["ivo://x.org/a"].created == created and first["ivo://x.org/a"].updated == t1
    # A restart (a new Ledger on the same file): unchanged records keep their dates; a changed one moves.
    second = {r.ivoid: r for r in Ledger(path).stamp([_resource("a"), _resource("b", "<title>u</title>")],
                                                     created=created, now=t2)}
    assert second["ivo://x.org/a"].updated == t1 and second["ivo://x.org/b"].updated == t2
    third = {r.ivoid: r for r in Ledger(path).stamp([_resource("a")], created=created, now=t3)}
    gone = third["ivo://x.org/b"]
    assert gone.deleted and gone.updated == t3 and gone.xml is None
    assert not third["ivo://x.org/a"].deleted
    back = {r.ivoid: r for r in Ledger(path).stamp([_resource("a"), _resource("b")], created=created, now=t4)}
    assert back["ivo://x.org/b"].status == "active" and back["ivo://x.org/b"].updated == t4
    assert back["ivo://x.org/b"].created == created


def test_readonly_ledger_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    Ledger(path, readonly=True).stamp([_resource("a")], created=datetime(2025, 1, 1, tzinfo=UTC))
    assert not path.exists()


def test_capabilities_keep_their_types_whatever_prefixes_the_service_used() -> None:
    from registry.records import copied_capabilities

    document = (b'<cap:capabilities xmlns:cap="http://www.ivoa.net/xml/VOSICapabilities/v1.0" '
                b'xmlns:vod="http://www.ivoa.net/xml/VODataService/v1.1" '
                b'xmlns:taprx="http://www.ivoa.net/xml/TAPRegExt/v1.0" '
                b'xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:ext="urn:example">'
                b'<capability standardID="ivo://ivoa.net/std/TAP" i:type="taprx:TableAccess">'
                b'<interface i:type="vod:ParamHTTP" role="std"><accessURL use="base">http://x/tap</accessURL>'
                b'</interface><ext:note>kept</ext:note></capability></cap:capabilities>')
    [copied] = copied_capabilities(document)
    wrapped = (f'<r xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" '
               f'xmlns:tr="http://www.ivoa.net/xml/TAPRegExt/v1.0" '
               f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{copied}</r>')
    cap = etree.fromstring(wrapped)[0]
    assert cap.get(XSI_TYPE) == "tr:TableAccess"
    assert cap.find("interface").get(XSI_TYPE) == "vs:ParamHTTP"  # type: ignore[union-attr]
    assert cap.findtext("{urn:example}note") == "kept"


def test_an_unwritable_ledger_still_dates_the_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    ledger = Ledger(blocked / "ledger.json")  # its directory is a file: every write fails
    [record] = ledger.stamp([_resource("a")], created=datetime(2025, 1, 1, tzinfo=UTC))
    assert record.status == "active" and record.xml is not None
    assert "cannot write the registry ledger" in caplog.text


def test_a_corrupt_ledger_is_replaced(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    [record] = Ledger(path).stamp([_resource("a")], created=datetime(2025, 1, 1, tzinfo=UTC))
    assert record.status == "active" and "cannot read the registry ledger" in caplog.text
    [again] = Ledger(path).stamp([_resource("a")], created=datetime(2025, 1, 1, tzinfo=UTC))
    assert again.updated == record.updated, "the rewritten ledger is read back"
