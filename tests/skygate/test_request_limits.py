"""Request limits through the assembled application, for every endpoint that reads parameters.

Each service answers in its own error form: TAP /sync, SIA and DataLink a DALI error VOTable,
SODA sync ``text/plain`` ``UsageError: ...``, every UWS job list and job resource ``text/plain``.
No release is loaded: the limits apply before any parameter reaches a service.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from astropy.io.votable import parse

from skygate.settings import Settings
from tests.tap.conftest import BASE, TestClient
from uws.system import INLINE_MAX_BYTES

BODY_MAX = 4_000_000

# (path, error form)
ENDPOINTS = [
    ("/tap/sync", "votable"),
    ("/tap/async", "uws"),
    ("/sia/query", "votable"),
    ("/soda/sync", "soda"),
    ("/soda/links", "votable"),
    ("/soda/async", "uws"),
    ("/soda/bulk", "uws"),
    ("/anomaly/async", "uws"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from skygate.app import create_app

    settings = Settings(data_dir=tmp_path_factory.mktemp("limits"), base_url=BASE, body_max_bytes=BODY_MAX)
    with TestClient(create_app(settings), base_url=BASE) as test_client:
        yield test_client


def assert_error(response, form: str, status: int, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text[:300]
    assert "Traceback" not in response.text
    if form == "votable":
        assert response.headers["content-type"].startswith("application/x-votable+xml")
        infos = [i for i in parse(io.BytesIO(response.content)).resources[0].infos if i.name == "QUERY_STATUS"]
        assert infos and infos[-1].value == "ERROR"
        assert fragment in str(infos[-1].content)
    else:
        assert response.headers["content-type"].startswith("text/plain")
        if form == "soda":
            assert response.text.startswith("UsageError: ")
        assert fragment in response.text


@pytest.mark.parametrize(("path", "form"), ENDPOINTS)
def test_a_body_over_the_limit_is_413(client: TestClient, path: str, form: str) -> None:
    big = b"x" * (BODY_MAX + 1)
    announced = client.post(path, files={"t": ("t.xml", big, "text/xml")})
    assert_error(announced, form, 413, "larger than 4000000 bytes")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(5):
            yield b"QUERY=" + b"y" * 900_000 + b"&"

    streamed = client.post(path, content=chunks(), headers={"content-type": "application/x-www-form-urlencoded"})
    assert_error(streamed, form, 413, "larger than 4000000 bytes")


@pytest.mark.parametrize(("path", "form"), ENDPOINTS)
@pytest.mark.parametrize(
    ("content_type", "body", "fragment"),
    [("multipart/form-data", b"--x\r\n", "no boundary"),
     ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nb",
      "closing boundary"),
     ("multipart/form-data; boundary=xyz", b"--xyz\r\nno headers at all\r\n\r\n--xyz--\r\n", "malformed")],
)
def test_malformed_multipart_is_400(client: TestClient, path: str, form: str, content_type: str, body: bytes,
                                    fragment: str) -> None:
    response = client.post(path, content=body, headers={"content-type": content_type})
    assert_error(response, form, 400, fragment)


@pytest.mark.parametrize(("path", "form"), ENDPOINTS)
def test_too_many_fields_and_a_long_field_are_413(client: TestClient, path: str, form: str) -> None:
    many = client.post(path, data={f"P{i}": "1" for i in range(1001)})
    assert_error(many, form, 413, "more than 1000 parameters")
    long = client.post(path, files={"QUERY": (None, "z" * 1_500_000)})  # a form field, not a file
    assert_error(long, form, 413, "is longer than 1048576 bytes")
    long_urlencoded = client.post(path, data={"POS": "1" * 1_500_000})
    assert_error(long_urlencoded, form, 413, "POS is longer")


@pytest.mark.parametrize(("path", "form"), ENDPOINTS)
@pytest.mark.parametrize("value", ["%00", "a%01b", "%1B%5B31m", "%FF%FE"])
def test_control_characters_and_bad_utf8_are_400(client: TestClient, path: str, form: str, value: str) -> None:
    response = client.post(f"{path}?TARGET={value}")
    assert_error(response, form, 400, "TARGET")
    in_body = client.post(path, content=f"ID={value}".encode(),
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert_error(in_body, form, 400, "ID")


def test_sia_target_nul_is_a_400(client: TestClient) -> None:
    assert_error(client.get("/sia/query?TARGET=%00"), "votable", 400, "control character")


def test_multi_line_adql_is_still_accepted(client: TestClient) -> None:
    response = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": "SELECT 1\r\n\tFROM x"},
                           follow_redirects=False)
    assert response.status_code == 303


def _job(client: TestClient, **data: str) -> str:
    response = client.post("/tap/async", data={"LANG": "ADQL", "QUERY": "SELECT 1", **data}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"]).removeprefix(BASE)


def test_uws_job_resources_read_within_the_limits(client: TestClient) -> None:
    job = _job(client)
    for resource in ("/parameters", "/phase", "/executionduration", "/destruction", ""):
        response = client.post(f"{job}{resource}", data={f"P{i}": "1" for i in range(1001)})
        assert_error(response, "uws", 413, "more than 1000 parameters")
        response = client.post(f"{job}{resource}", content=b"x", headers={"content-type": "multipart/form-data"})
        assert_error(response, "uws", 400, "no boundary")


def test_a_job_stores_at_most_the_body_limit_of_files(client: TestClient, tmp_path: Path) -> None:
    job = _job(client)
    part = b"<VOTABLE/>" + b" " * 2_999_990
    assert client.post(f"{job}/parameters", files={"t1": ("t1.xml", part, "text/xml")},
                       follow_redirects=False).status_code == 303
    refused = client.post(f"{job}/parameters", files={"t2": ("t2.xml", part, "text/xml")})
    assert_error(refused, "uws", 413, "uploaded files hold more than 4000000 bytes")
    names = client.get(f"{job}/parameters").text
    assert 'id="t1"' in names and 'id="t2"' not in names
    job_id = job.rsplit("/", 1)[1]
    data_dir = client.app.state.settings.data_dir  # type: ignore[attr-defined]
    assert len(list((data_dir / "results" / job_id / "params").iterdir())) == 1  # t2's file removed


def test_a_job_stores_at_most_two_mib_of_text(client: TestClient) -> None:
    third = INLINE_MAX_BYTES // 3 + 10
    response = client.post("/tap/async", data={"A": "a" * third, "B": "b" * third, "C": "c" * third})
    assert_error(response, "uws", 413, f"more than {INLINE_MAX_BYTES} bytes of text")
