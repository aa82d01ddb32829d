"""Bulk cutout input that once failed inside the job: valid input works, invalid input is refused
when the job is created (phase ERROR at once, the parameter named), through the whole application."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from lxml import etree

from dali.errors import UsageError
from dali.params import DaliParams, collect
from skygate.settings import Settings
from soda.params import parse_bulk_options, parse_positions
from tests.soda.tiles import write_tile
from tests.tap.conftest import BASE, TestClient


def _params(values: dict[str, list[str]]) -> DaliParams:
    """A request's parameters from a name -> values table row."""
    return collect((name, value) for name, found in values.items() for value in found)


NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from skygate.app import create_app

    data_dir = tmp_path_factory.mktemp("bulk-edges")
    for band in ("g", "r", "i"):
        write_tile(data_dir / "release", "DES2134-0041", band, npix=400, star=(323.36, -0.82))
    with TestClient(create_app(Settings(data_dir=data_dir, base_url=BASE)), base_url=BASE) as test_client:
        yield test_client


def _run(client: TestClient, positions: str, **options: str) -> etree._Element:
    response = client.post("/soda/bulk", data={"PHASE": "RUN", **options},
                           files={"positions": ("p.csv", positions.encode(), "text/csv")}, follow_redirects=False)
    assert response.status_code == 303, response.text
    job = str(response.headers["location"]).removeprefix(BASE)
    deadline = time.monotonic() + 60
    while True:
        doc = etree.fromstring(client.get(job, params={"WAIT": "5"}).content)
        if doc.findtext("uws:phase", namespaces=NS) not in ("QUEUED", "EXECUTING") or time.monotonic() > deadline:
            return doc


def test_the_same_position_twice_gives_two_sets_of_outputs(client: TestClient) -> None:
    doc = _run(client, "RA,DEC\n323.36,-0.82\n323.36,-0.82\n", COLORS_FITS="g", MAKE_RGB_LUPTON="true",
               RGB_STRETCH="0.5", RGB_ASINH="0")
    assert doc.findtext("uws:phase", namespaces=NS) == "COMPLETED", etree.tostring(doc)
    ids = [r.get("id") for r in doc.iterfind("uws:results/uws:result", NS)]
    fits = [i for i in ids if i.endswith("_g.fits")]
    assert len(fits) == 2 and any("DESJ213326.4000-004912.0000_2" in i for i in fits)
    assert sum(i.endswith("_lupton.png") for i in ids) == 2


@pytest.mark.parametrize(
    ("positions", "options", "named"),
    [("RA,DEC\nnan,-0.82\n", {}, "RA"),
     ("RA,DEC\ninf,-0.82\n", {}, "RA"),
     ("RA,DEC\n323.36,nan\n", {}, "DEC"),
     ("COADD_OBJECT_ID\n99999999999999999999999\n", {}, "COADD_OBJECT_ID"),
     ("RA,DEC\n323.36,-0.82\n", {"RGB_STRETCH": "0"}, "RGB_STRETCH"),
     ("RA,DEC\n323.36,-0.82\n", {"RGB_ASINH": "-1"}, "RGB_ASINH"),
     ("RA,DEC\n323.36,-0.82\n", {"RGB_MINIMUM": "nan"}, "RGB_MINIMUM"),
     ("RA,DEC,RGB_STRETCH\n323.36,-0.82,0\n", {}, "RGB_STRETCH")],
)
def test_invalid_input_is_refused_when_the_job_is_created(client: TestClient, positions: str,
                                                          options: dict[str, str], named: str) -> None:
    started = time.monotonic()
    doc = _run(client, positions, **options)
    assert time.monotonic() - started < 5
    assert doc.findtext("uws:phase", namespaces=NS) == "ERROR"
    assert doc.find("uws:startTime", NS).get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    message = doc.findtext("uws:errorSummary/uws:message", namespaces=NS)
    assert named in message and "internal" not in message.lower()


@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf"])
def test_rgb_stretch_must_be_positive_and_finite(value: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_bulk_options(_params({"RGB_STRETCH": [value]}))
    assert caught.value.param == "RGB_STRETCH"


def test_object_ids_fit_the_catalogue_column() -> None:
    assert parse_positions(b"COADD_OBJECT_ID\n9223372036854775807\n")[0].coadd_object_id == 2**63 - 1
    with pytest.raises(UsageError, match="COADD_OBJECT_ID"):
        parse_positions(b"COADD_OBJECT_ID\n-1\n")
