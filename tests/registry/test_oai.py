"""OAI-PMH 2.0: each verb and each error, resumption tokens, from/until, deleted records, all schema-valid.

The protocol is exercised on ``registry.oai.respond`` over a hand-made set of records (small pages,
known dates, a deleted record), then through the application, and harvested with ``sickle``, an
independent OAI-PMH client, from a live server.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from registry.ledger import Ledger, Record
from registry.oai import OaiConfig, respond
from registry.records import Resource
from skygate.settings import Settings
from tests.dali.xmlschema import xsd_errors
from tests.live_fixtures import LiveServer, serve

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

OAI = "{http://www.openarchives.org/OAI/2.0/}"
RI = "{http://www.ivoa.net/xml/RegistryInterface/v1.0}"
CONFIG = OaiConfig(base_url="http://x.org/registry/oai", repository_name="Test registry", admin_email="a@x.org",
                   registry_ivoid="ivo://x.org/registry", page_size=3)
CREATED = datetime(2025, 1, 1, tzinfo=UTC)
DAYS = [datetime(2026, 3, d, 10, 0, 0, tzinfo=UTC) for d in range(1, 9)]
KEYS = ["registry", "a", "b", "c", "d", "e", "f"]


def _resource(key: str) -> Resource:
    return Resource(f"ivo://x.org/{key}", "vr:Service", f"Service {key}",
                    f"<title>Service {key}</title><identifier>ivo://x.org/{key}</identifier>"
                    "<curation><publisher>P</publisher><contact><name>C</name></contact></curation>"
                    f"<content><subject>s</subject><description>About {key}</description>"
                    "<referenceURL>http://x.org/</referenceURL></content>")


@pytest.fixture(scope="module")
def records() -> list[Record]:
    """Seven records, each updated on its own day (1..7 March), then 'f' removed on 8 March."""
    ledger = Ledger(None)
    for i in range(len(KEYS)):
        ledger.stamp([_resource(k) for k in KEYS[:i + 1]], created=CREATED, now=DAYS[i])
    return ledger.stamp([_resource(k) for k in KEYS[:-1]], created=CREATED, now=DAYS[7])


def _ask(records: list[Record], query: str) -> etree._Element:
    body = respond(parse_qsl(query, keep_blank_values=True), records, CONFIG, now=DAYS[7])
    assert xsd_errors(body) == [], body.decode()[:2000]
    return etree.fromstring(body)


def _error(root: etree._Element) -> str | None:
    error = root.find(f"{OAI}error")
    return None if error is None else error.get("code")


def _identifiers(root: etree._Element) -> list[str]:
    return [h.findtext(f"{OAI}identifier") or "" for h in root.iter(f"{OAI}header")]


def test_identify(records: list[Record]) -> None:
    root = _ask(records, "verb=Identify")
    identify = root.find(f"{OAI}Identify")
    assert identify is not None
    assert identify.findtext(f"{OAI}baseURL") == "http://x.org/registry/oai"
    assert identify.findtext(f"{OAI}granularity") == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.findtext(f"{OAI}deletedRecord") == "persistent"
    assert identify.findtext(f"{OAI}earliestDatestamp") == "2026-03-01T10:00:00Z"
    described = identify.find(f"{OAI}description/{RI}Resource")
    assert described is not None and described.findtext("identifier") == "ivo://x.org/registry"


def test_list_metadata_formats_and_sets(records: list[Record]) -> None:
    root = _ask(records, "verb=ListMetadataFormats")
    assert [p.text for p in root.iter(f"{OAI}metadataPrefix")] == ["ivo_vor", "oai_dc"]
    root = _ask(records, "verb=ListMetadataFormats&identifier=IVO://X.ORG/A")
    assert _error(root) is None
    assert _error(_ask(records, "verb=ListMetadataFormats&identifier=ivo://x.org/zz")) == "idDoesNotExist"
    root = _ask(records, "verb=ListSets")
    assert [s.text for s in root.iter(f"{OAI}setSpec")] == ["ivo_managed"]


def test_get_record_in_both_formats(records: list[Record]) -> None:
    root = _ask(records, "verb=GetRecord&metadataPrefix=ivo_vor&identifier=ivo://x.org/a")
    resource = root.find(f"{OAI}GetRecord/{OAI}record/{OAI}metadata/{RI}Resource")
    assert resource is not None and resource.findtext("title") == "Service a"
    assert root.findtext(f"{OAI}GetRecord/{OAI}record/{OAI}header/{OAI}datestamp") == "2026-03-02T10:00:00Z"
    assert root.findtext(f"{OAI}GetRecord/{OAI}record/{OAI}header/{OAI}setSpec") == "ivo_managed"
    root = _ask(records, "verb=GetRecord&metadataPrefix=oai_dc&identifier=ivo://x.org/a")
    dc = {e.tag.split("}")[1]: e.text for e in root.iter("{http://purl.org/dc/elements/1.1/}*")}
    assert dc["title"] == "Service a" and dc["identifier"] == "ivo://x.org/a" and dc["description"] == "About a"


def test_deleted_record_has_a_header_only(records: list[Record]) -> None:
    root = _ask(records, "verb=GetRecord&metadataPrefix=ivo_vor&identifier=ivo://x.org/f")
    record = root.find(f"{OAI}GetRecord/{OAI}record")
    assert record is not None and record.find(f"{OAI}metadata") is None
    header = record.find(f"{OAI}header")
    assert header is not None and header.get("status") == "deleted"
    assert header.findtext(f"{OAI}datestamp") == "2026-03-08T10:00:00Z"


@pytest.mark.parametrize("verb", ["ListIdentifiers", "ListRecords"])
def test_lists_page_with_resumption_tokens(records: list[Record], verb: str) -> None:
    seen: list[str] = []
    query = f"verb={verb}&metadataPrefix=ivo_vor"
    cursors = []
    while True:
        root = _ask(records, query)
        seen += _identifiers(root)
        token = root.find(f".//{OAI}resumptionToken")
        if token is None or not token.text:
            break
        assert token.get("completeListSize") == "7"
        cursors.append(token.get("cursor"))
        # A token is all a later request needs: nothing is kept between requests.
        query = f"verb={verb}&resumptionToken={token.text}"
    assert cursors == ["0", "3"]
    assert seen == [f"ivo://x.org/{k}" for k in ("registry", "a", "b", "c", "d", "e", "f")]


@pytest.mark.parametrize(("query", "expected"), [
    ("from=2026-03-03", ["b", "c", "d", "e", "f"]),
    ("until=2026-03-02", ["registry", "a"]),
    ("from=2026-03-03T10:00:00Z&until=2026-03-04T10:00:00Z", ["b", "c"]),
    ("from=2026-03-03T10:00:01Z&until=2026-03-04T10:00:00Z", ["c"]),
    ("set=ivo_managed&from=2026-03-08", ["f"]),
])
def test_from_until_select_by_datestamp(records: list[Record], query: str, expected: list[str]) -> None:
    seen: list[str] = []
    query = f"verb=ListIdentifiers&metadataPrefix=oai_dc&{query}"
    while query:
        root = _ask(records, query)
        seen += _identifiers(root)
        token = root.findtext(f".//{OAI}resumptionToken")
        query = f"verb=ListIdentifiers&resumptionToken={token}" if token else ""
    assert seen == [f"ivo://x.org/{k}" for k in expected]


ERRORS = [
    ("", "badVerb"),
    ("verb=Explain", "badVerb"),
    ("verb=Identify&verb=Identify", "badVerb"),
    ("verb=Identify&metadataPrefix=ivo_vor", "badArgument"),
    ("verb=ListRecords", "badArgument"),
    ("verb=GetRecord&metadataPrefix=ivo_vor", "badArgument"),
    ("verb=ListRecords&metadataPrefix=ivo_vor&metadataPrefix=oai_dc", "badArgument"),
    ("verb=ListRecords&metadataPrefix=ivo_vor&from=yesterday", "badArgument"),
    ("verb=ListRecords&metadataPrefix=ivo_vor&from=2026-02-30", "badArgument"),
    ("verb=ListRecords&metadataPrefix=ivo_vor&until=2026-03-01T25:00:00Z", "badArgument"),
    ("verb=ListRecords&metadataPrefix=ivo_vor&from=2026-03-01T10:00:00", "badArgument"),
    ("verb=ListRecords&metadataPrefix=ivo_vor&from=2026-03-01&until=2026-03-05T00:00:00Z", "badArgument"),
    ("verb=ListRecords&metadataPrefix=ivo_vor&from=2026-03-05&until=2026-03-01", "badArgument"),
    ("verb=ListRecords&metadataPrefix=ivo_vor&resumptionToken=abc", "badArgument"),
    ("verb=ListRecords&resumptionToken=abc", "badResumptionToken"),
    ("verb=ListIdentifiers&resumptionToken=eyJhIjp7fX0.0000000000000000", "badResumptionToken"),
    ("verb=ListSets&resumptionToken=abc", "badResumptionToken"),
    ("verb=ListRecords&metadataPrefix=marc21", "cannotDisseminateFormat"),
    ("verb=GetRecord&metadataPrefix=marc21&identifier=ivo://x.org/a", "cannotDisseminateFormat"),
    ("verb=GetRecord&metadataPrefix=ivo_vor&identifier=ivo://x.org/nothing", "idDoesNotExist"),
    ("verb=ListRecords&metadataPrefix=ivo_vor&until=2020-01-01", "noRecordsMatch"),
    ("verb=ListIdentifiers&metadataPrefix=ivo_vor&set=other", "noRecordsMatch"),
]


@pytest.mark.parametrize(("query", "code"), ERRORS, ids=[f"{c}-{i}" for i, (_, c) in enumerate(ERRORS)])
def test_errors(records: list[Record], query: str, code: str) -> None:
    root = _ask(records, query)
    assert _error(root) == code
    request = root.find(f"{OAI}request")
    assert request is not None and request.text == "http://x.org/registry/oai"
    if code in ("badVerb", "badArgument"):
        assert request.attrib == {}, "§3.6: no attributes after badVerb or badArgument"


def test_a_tampered_token_is_refused(records: list[Record]) -> None:
    root = _ask(records, "verb=ListIdentifiers&metadataPrefix=ivo_vor")
    token = root.findtext(f".//{OAI}resumptionToken") or ""
    encoded, _, checksum = token.partition(".")
    forged = encoded[:-2] + ("AA" if encoded[-2:] != "AA" else "BB") + "." + checksum
    assert _error(_ask(records, f"verb=ListIdentifiers&resumptionToken={forged}")) == "badResumptionToken"


# ----------------------------------------------------------------------------- through the application

def test_endpoint_answers_get_and_post_with_valid_documents(sky_client: TestClient) -> None:
    for response in (sky_client.get("/registry/oai", params={"verb": "ListRecords", "metadataPrefix": "ivo_vor"}),
                     sky_client.post("/registry/oai", data={"verb": "ListRecords", "metadataPrefix": "oai_dc"}),
                     sky_client.get("/registry/oai", params={"verb": "Identify"}),
                     sky_client.get("/registry/oai")):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert xsd_errors(response.content) == []
    root = etree.fromstring(sky_client.get("/registry/oai", params={"verb": "ListIdentifiers",
                                                                     "metadataPrefix": "ivo_vor"}).content)
    assert "ivo://skygate.example/scs/sky.points" in _identifiers(root)


def test_registry_page_lists_every_resource(sky_client: TestClient) -> None:
    response = sky_client.get("/registry")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    root = etree.fromstring(sky_client.get("/registry/oai", params={"verb": "ListIdentifiers",
                                                                     "metadataPrefix": "ivo_vor"}).content)
    for identifier in _identifiers(root):
        assert identifier in response.text
    assert "http://testserver/scs/sky.points?" in response.text
    assert sky_client.get("/registry/").status_code == 200


@pytest.fixture(scope="module")
def live_registry(tmp_path_factory: pytest.TempPathFactory, sky_duckdb: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("live-registry")
    (data_dir / "catalog.duckdb").symlink_to(sky_duckdb)
    yield from serve(Settings(data_dir=data_dir, authority="test.skygate.org"))


@pytest.mark.live
def test_sickle_harvests_every_record(live_registry: LiveServer) -> None:
    from sickle import Sickle

    harvester = Sickle(f"{live_registry.url}/registry/oai", max_retries=1)
    identify = harvester.Identify()
    assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ"
    records = list(harvester.ListRecords(metadataPrefix="ivo_vor", set="ivo_managed"))
    identifiers = {r.header.identifier for r in records}
    assert {"ivo://test.skygate.org", "ivo://test.skygate.org/registry", "ivo://test.skygate.org/tap",
            "ivo://test.skygate.org/scs/sky.points"} <= identifiers
    for record in records:
        resource = record.xml.find(f".//{RI}Resource")
        assert resource is not None
        assert xsd_errors(etree.tostring(resource)) == [], record.header.identifier
    dublin_core = list(harvester.ListRecords(metadataPrefix="oai_dc"))
    assert {r.header.identifier for r in dublin_core} == identifiers
    assert all(r.metadata["title"] for r in dublin_core)


def test_records_served_carry_the_measured_footprint(sky_client: TestClient) -> None:
    response = sky_client.get("/registry/oai", params={"verb": "GetRecord", "metadataPrefix": "ivo_vor",
                                                       "identifier": "ivo://skygate.example/scs/sky.points"})
    assert xsd_errors(response.content) == []
    resource = etree.fromstring(response.content).find(f".//{RI}Resource")
    assert resource is not None
    spatial = resource.findtext("coverage/spatial") or ""
    assert spatial.endswith("6/") or " 6/" in spatial or spatial.startswith("6/")
    assert len(spatial.split()) > 10


def test_without_a_release_harvesters_are_asked_to_come_back(tmp_path: Path) -> None:
    from skygate.app import create_app

    with TestClient(create_app(Settings(data_dir=tmp_path, base_url="http://testserver"))) as client:
        for path in ("/registry/oai?verb=Identify", "/registry"):
            response = client.get(path)
            assert response.status_code == 503 and response.headers["retry-after"] == "60"
            assert "release" in response.text
    assert not (tmp_path / "registry-ledger.json").exists(), "nothing is marked deleted meanwhile"


NAMES = ["verb", "metadataPrefix", "identifier", "from", "until", "set", "resumptionToken", "other"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(NAMES),
                          st.one_of(st.sampled_from(["Identify", "ListRecords", "GetRecord", "ivo_vor", "oai_dc",
                                                     "ivo://x.org/a", "2026-03-03", "ivo_managed"]),
                                    st.text(max_size=30))), max_size=5))
def test_any_request_gets_a_valid_document(records: list[Record], pairs: list[tuple[str, str]]) -> None:
    body = respond(pairs, records, CONFIG, now=DAYS[7])
    assert xsd_errors(body) == []
