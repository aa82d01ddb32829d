"""Readable XML: the stylesheet PI on UWS, VOSI and error documents, the same XML for machine clients."""

from __future__ import annotations

import pytest
import requests
from lxml import etree

from portal.readable import STYLESHEET_PATH, add_stylesheet
from tests.dali.xmlschema import xsd_errors
from tests.live_fixtures import LiveServer

DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'
HREF = "http://x/static/xsl/skygate.xsl"
PI = f'<?xml-stylesheet type="text/xsl" href="{HREF}"?>\n'.encode()


@pytest.mark.parametrize("root", [b"uws:job", b"uws:jobs", b"vosi:capabilities", b"vosi:availability",
                                  b"vosi:tableset", b"vosi:table"])
def test_documents_get_the_stylesheet_after_the_declaration(root: bytes) -> None:
    body = DECL + b"<" + root + b' xmlns:uws="u" xmlns:vosi="v"/>\n'
    assert add_stylesheet(body, HREF, status=200) == DECL + PI + body[len(DECL):]


@pytest.mark.parametrize(("body", "status"), [
    (DECL + b'<VOTABLE version="1.4"><RESOURCE/></VOTABLE>', 200),  # results: may be large and streamed
    (b"<uws:job/>", 200),  # no XML declaration: left as written
    (DECL + b"<html/>", 200),
    (DECL + b"<xsl:stylesheet/>", 200),
])
def test_other_documents_are_left_alone(body: bytes, status: int) -> None:
    assert add_stylesheet(body, HREF, status=status) is None


def test_votable_errors_get_the_stylesheet() -> None:
    body = DECL + b'<VOTABLE version="1.4"><RESOURCE type="results"/></VOTABLE>'
    assert add_stylesheet(body, HREF, status=400) == DECL + PI + body[len(DECL):]


@pytest.mark.live
@pytest.mark.parametrize("path", ["/tap/capabilities", "/tap/availability", "/tap/tables",
                                  "/tap/tables/des_dr1.main", "/sia/capabilities", "/soda/capabilities",
                                  "/anomaly/capabilities", "/anomaly/availability", "/tap/async"])
def test_live_documents_carry_the_pi_and_stay_valid(live_server: LiveServer, path: str) -> None:
    response = requests.get(live_server.url + path, timeout=30)
    assert response.status_code == 200
    href = live_server.url + STYLESHEET_PATH
    assert response.content.split(b"\n")[1] == f'<?xml-stylesheet type="text/xsl" href="{href}"?>'.encode()
    assert int(response.headers["content-length"]) == len(response.content)
    if not path.endswith("async"):  # no UWS schema among the copied XSDs
        assert xsd_errors(response.content) == []
    etree.fromstring(response.content)


@pytest.mark.live
def test_live_query_results_are_untouched_and_errors_readable(live_server: LiveServer) -> None:
    ok = requests.post(f"{live_server.url}/tap/sync", timeout=30,
                       data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 ra FROM des_dr1.main"})
    assert b"xml-stylesheet" not in ok.content
    bad = requests.post(f"{live_server.url}/tap/sync", timeout=30, data={"LANG": "ADQL", "QUERY": "SELECT"})
    assert bad.status_code == 400
    assert b"<?xml-stylesheet" in bad.content
    assert xsd_errors(bad.content) == []


@pytest.mark.live
def test_the_stylesheet_is_served_and_is_xslt(live_server: LiveServer) -> None:
    response = requests.get(live_server.url + STYLESHEET_PATH, timeout=30)
    assert response.status_code == 200
    etree.XSLT(etree.fromstring(response.content))  # compiles


@pytest.mark.live
@pytest.mark.parametrize(("path", "heading"), [("/tap/capabilities", "Capabilities"), ("/tap/tables", "Tables"),
                                               ("/tap/availability", "Availability: available")])
def test_the_stylesheet_renders_each_document(live_server: LiveServer, path: str, heading: str) -> None:
    xslt = etree.XSLT(etree.fromstring(requests.get(live_server.url + STYLESHEET_PATH, timeout=30).content))
    html = str(xslt(etree.fromstring(requests.get(live_server.url + path, timeout=30).content)))
    assert f"<h1>{heading}</h1>" in html
    if path == "/tap/tables":
        assert "<code>des_dr1.main</code>" in html and "pos.eq.ra" in html


@pytest.mark.live
def test_the_stylesheet_renders_a_job_and_the_job_list(live_server: LiveServer) -> None:
    xslt = etree.XSLT(etree.fromstring(requests.get(live_server.url + STYLESHEET_PATH, timeout=30).content))
    created = requests.post(f"{live_server.url}/tap/async", timeout=30, allow_redirects=False,
                            data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 ra FROM des_dr1.main", "RUNID": "xsl-job"})
    job_url = created.headers["location"]
    try:
        job = str(xslt(etree.fromstring(requests.get(job_url, timeout=30).content)))
        assert f"<h1>Job {job_url.rsplit('/', 1)[1]} — PENDING</h1>" in job
        assert "SELECT TOP 1 ra FROM des_dr1.main" in job
        jobs = str(xslt(etree.fromstring(requests.get(f"{live_server.url}/tap/async", timeout=30).content)))
        assert f'<a href="{job_url}">' in jobs and "xsl-job" in jobs
    finally:
        requests.delete(job_url, timeout=30)
