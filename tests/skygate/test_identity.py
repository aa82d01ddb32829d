"""Authentication in front of every service, and owner isolation on every job kind.

The application serves the ``ci`` release with ``SKYGATE_AUTH=tokens`` (and once with ``oidc``
against a local issuer). Two users and an anonymous caller meet every job endpoint of every job
kind with every verb: nothing crosses between them, and another owner's job looks exactly like a
job that does not exist.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from auth.accounts import open_accounts
from release.obscore import image_did
from skygate.app import create_app
from skygate.settings import Settings, SettingsError
from tests.accounts import bearer, make_tokens
from tests.auth.issuer import LocalIssuer
from tests.dali.xmlschema import xsd_errors
from tests.tap.conftest import BASE, TestClient, final_phase, release_settings

# One job of each kind, created PENDING (so nothing runs) by its owner.
JOB_KINDS = {
    "/tap/async": ({"LANG": "ADQL", "QUERY": "SELECT TOP 1 ra FROM des_dr1.main"}, None),
    "/soda/async": ({"ID": image_did("DES2134-0041", "r"), "CIRCLE": "323.36 -0.82 0.01"}, None),
    "/soda/bulk": ({"COLORS_FITS": "g"}, {"positions": ("p.csv", b"RA,DEC\n323.36,-0.82\n", "text/csv")}),
    "/anomaly/async": ({"QUERY": "SELECT TOP 100 coadd_object_id, mag_auto_g, mag_auto_r FROM des_dr1.main",
                        "NTREES": "10"}, None),
}
# Every job sub-resource a stranger might read or change; (method, suffix, form data).
PROBES = [
    ("GET", "", None), ("GET", "/phase", None), ("GET", "/executionduration", None),
    ("GET", "/destruction", None), ("GET", "/error", None), ("GET", "/quote", None), ("GET", "/owner", None),
    ("GET", "/parameters", None), ("GET", "/parameters/query", None), ("GET", "/results", None),
    ("GET", "/results/result", None), ("POST", "/phase", {"PHASE": "RUN"}), ("POST", "/phase", {"PHASE": "ABORT"}),
    ("POST", "/executionduration", {"EXECUTIONDURATION": "10"}),
    ("POST", "/destruction", {"DESTRUCTION": "2030-01-01T00:00:00Z"}),
    ("POST", "/parameters", {"RUNID": "mine-now"}), ("POST", "", {"ACTION": "DELETE"}), ("DELETE", "", None),
]


def _settings(tmp: Path, duckdb_path: Path, **changes: object) -> Settings:
    return release_settings(tmp, duckdb_path, **changes)


def _make_tokens(settings: Settings) -> dict[str, str]:
    return make_tokens(settings, ("alice", "bob"), admins=("root",))


@pytest.fixture(scope="module")
def tokens_app(tmp_path_factory: pytest.TempPathFactory,
               ci_duckdb_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = _settings(tmp_path_factory.mktemp("auth"), ci_duckdb_path, auth="tokens")
    tokens = _make_tokens(settings)
    with TestClient(create_app(settings), base_url=BASE) as client:
        yield client, tokens


def _basic(user: str, token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def test_whoami_for_each_kind_of_caller(tokens_app: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = tokens_app
    assert client.get("/whoami").json() == {"user": None, "authenticated": False, "admin": False, "via": None,
                                            "mode": "tokens", "anonymous": "read"}
    alice = client.get("/whoami", headers=bearer(tokens["alice"]))
    assert alice.json()["user"] == "alice" and alice.headers["x-vo-authenticated"] == "alice"
    assert client.get("/whoami", headers=_basic("root", tokens["root"])).json()["admin"] is True
    assert "x-vo-authenticated" not in client.get("/whoami").headers


@pytest.mark.parametrize("header", [
    "Bearer sgt_0123456789abcdef_" + "A" * 43, "Bearer nonsense", "Basic !!!", "Negotiate abc", "Bearer ",
])
def test_bad_credentials_get_401_with_challenges(tokens_app: tuple[TestClient, dict[str, str]], header: str) -> None:
    client, _ = tokens_app
    response = client.get("/tap/tables", headers={"Authorization": header})
    assert response.status_code == 401
    challenges = response.headers.get_list("www-authenticate")
    assert 'Bearer realm="Skygate"' in challenges and 'Basic realm="Skygate"' in challenges
    assert any(c.startswith("ivoa_bearer standard_id=\"ivo://ivoa.net/sso#tls-with-password\"") and
               f'access_url="{BASE}/auth/login"' in c for c in challenges)
    assert b"AuthenticationFault" in response.content


def test_basic_needs_the_tokens_own_user(tokens_app: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = tokens_app
    assert client.get("/whoami", headers=_basic("bob", tokens["alice"])).status_code == 401
    assert client.get("/whoami", headers=_basic("alice", tokens["alice"])).json()["user"] == "alice"


def test_login_url_answers_the_bearer_token(tokens_app: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = tokens_app
    response = client.post("/auth/login", data={"username": "alice", "password": tokens["alice"]})
    assert response.status_code == 200 and response.headers["x-vo-bearer"] == tokens["alice"]
    assert response.headers["cache-control"] == "no-store"
    assert client.get("/auth/login", headers=_basic("bob", tokens["bob"])).headers["x-vo-bearer"] == tokens["bob"]
    refused = client.post("/auth/login", data={"username": "bob", "password": tokens["alice"]})
    assert refused.status_code == 401 and tokens["alice"] not in refused.text


def test_capabilities_advertise_optional_authentication(tokens_app: tuple[TestClient, dict[str, str]]) -> None:
    client, tokens = tokens_app
    anonymous = client.get("/tap/capabilities")
    assert anonymous.status_code == 200 and 'Bearer realm="Skygate"' in anonymous.headers.get_list("www-authenticate")
    assert "www-authenticate" not in client.get("/tap/capabilities", headers=bearer(tokens["bob"])).headers


@pytest.mark.parametrize("service", ["/tap", "/sia", "/soda", "/anomaly"])
def test_capabilities_declare_security_methods(tokens_app: tuple[TestClient, dict[str, str]], service: str) -> None:
    client, _ = tokens_app
    response = client.get(f"{service}/capabilities")
    assert response.status_code == 200 and xsd_errors(response.content) == []
    root = etree.fromstring(response.content)
    for capability in root.iter("capability"):
        standard = [i for i in capability.iter("interface") if i.get("role") == "std"]
        if not standard:
            continue
        # VOResource 1.1: one securityMethod per interface, the interface repeated per method.
        methods = [[m.get("standardID") for m in i.iter("securityMethod")] for i in standard]
        assert methods == [[], ["ivo://ivoa.net/sso#BasicAA"]]
        assert len({i.findtext("accessURL") for i in standard}) == 1
    assert int(response.headers["content-length"]) == len(response.content)


def test_without_anonymous_access_only_the_secured_interface_is_declared(tmp_path: Path,
                                                                         ci_duckdb_path: Path) -> None:
    settings = _settings(tmp_path, ci_duckdb_path, auth="tokens", anonymous="none")
    with TestClient(create_app(settings), base_url=BASE) as client:
        root = etree.fromstring(client.get("/tap/capabilities").content)
    standard = [i for i in root.iter("interface") if i.get("role") == "std"]
    assert [[m.get("standardID") for m in i.iter("securityMethod")] for i in standard] == [
        ["ivo://ivoa.net/sso#BasicAA"]]


def test_without_authentication_capabilities_declare_none(tmp_path: Path, ci_duckdb_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, ci_duckdb_path)), base_url=BASE) as client:
        assert b"securityMethod" not in client.get("/tap/capabilities").content


def _create(client: TestClient, path: str, headers: dict[str, str]) -> str:
    data, files = JOB_KINDS[path]
    response = client.post(path, data=data, files=files, headers=headers, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response.headers["location"].removeprefix(BASE)


@pytest.mark.parametrize("path", sorted(JOB_KINDS))
def test_no_job_crosses_between_callers(tokens_app: tuple[TestClient, dict[str, str]], path: str) -> None:
    check_no_job_crosses(*tokens_app, path)


def check_no_job_crosses(client: TestClient, tokens: dict[str, str], path: str) -> None:
    """alice's job of ``path``: bob and anonymous get, for every probe, exactly the answer for a
    job that does not exist; nothing they send changes it; owner and administrator still see it."""
    alice, bob = bearer(tokens["alice"]), bearer(tokens["bob"])
    job = _create(client, path, alice)
    missing = f"{path}/0123456789abcdef0123456789abcdef"
    strangers = {"bob": bob, "anonymous": {}}
    for who, headers in strangers.items():
        listing = client.get(path, headers=headers)
        assert listing.status_code == 200 and job.rsplit("/", 1)[1] not in listing.text, who
        for method, suffix, data in PROBES:
            response = client.request(method, f"{job}{suffix}", data=data, headers=headers, follow_redirects=False)
            reference = client.request(method, f"{missing}{suffix}", data=data, headers=headers,
                                       follow_redirects=False)
            assert (response.status_code, response.text) == (404, reference.text), (who, method, suffix)
            assert reference.status_code == 404
    # Nothing a stranger sent changed the job; its owner and an administrator still see it.
    own = client.get(job, headers=alice)
    assert own.status_code == 200 and "PENDING" in own.text and "mine-now" not in own.text
    assert client.get(f"{job}/owner", headers=alice).text.strip() == "alice"
    assert client.get(f"{job}/owner", headers=bearer(tokens["root"])).text.strip() == "alice"
    assert job.rsplit("/", 1)[1] in client.get(path, headers=alice).text
    # The anonymous caller's own jobs stay the anonymous caller's.
    anonymous_job = _create(client, path, {})
    assert client.get(anonymous_job, headers=bob).status_code == 404
    assert client.get(anonymous_job).status_code == 200


def test_a_model_is_reused_only_by_its_owner(tokens_app: tuple[TestClient, dict[str, str]]) -> None:
    check_model_reuse(*tokens_app)


def check_model_reuse(client: TestClient, tokens: dict[str, str]) -> None:
    """An anomaly job's MODEL may name only the caller's own completed job."""
    alice, bob = bearer(tokens["alice"]), bearer(tokens["bob"])
    data = {**JOB_KINDS["/anomaly/async"][0], "PHASE": "RUN"}
    first = client.post("/anomaly/async", data=data, headers=alice, follow_redirects=False).headers["location"]
    assert final_phase(client, first, alice) == "COMPLETED"
    model_id = first.rsplit("/", 1)[1]
    for who, headers, phase in (("bob", bob, "ERROR"), ("anonymous", {}, "ERROR"), ("alice", alice, "COMPLETED")):
        job = client.post("/anomaly/async", data={**data, "MODEL": model_id}, headers=headers,
                          follow_redirects=False).headers["location"]
        assert final_phase(client, job, headers) == phase, who
        if phase == "ERROR":
            assert f"no anomaly job {model_id} of yours" in client.get(f"{job}/error", headers=headers).text


def test_revocation_takes_effect_at_once(tmp_path: Path, ci_duckdb_path: Path) -> None:
    settings = _settings(tmp_path, ci_duckdb_path, auth="tokens")
    tokens = _make_tokens(settings)
    with TestClient(create_app(settings), base_url=BASE) as client:
        assert client.get("/whoami", headers=bearer(tokens["bob"])).json()["user"] == "bob"

        async def revoke() -> None:
            accounts = open_accounts(settings.effective_jobs_url)
            await accounts.open()
            await accounts.revoke("bob")
            await accounts.close()

        asyncio.run(revoke())
        assert client.get("/whoami", headers=bearer(tokens["bob"])).status_code == 401


# Everything a service, job, table or data file answers: 401 to an anonymous caller of a closed site.
CLOSED = [
    ("GET", "/tap/sync?LANG=ADQL&QUERY=SELECT+1"), ("POST", "/tap/sync"), ("GET", "/tap/tables"),
    ("GET", "/tap/tables/des_dr1.main"), ("GET", "/tap/examples"), ("GET", "/tap/async"), ("POST", "/tap/async"),
    ("GET", "/tap/async/nosuchjob"), ("GET", "/tap/async/nosuchjob/results/result"), ("GET", "/sia/query"),
    ("GET", "/soda/sync?ID=x"), ("GET", "/soda/async"), ("GET", "/soda/bulk"), ("GET", "/soda/links?ID=x"),
    ("GET", "/soda/examples"), ("GET", "/anomaly/async"), ("POST", "/anomaly/async"),
    ("GET", "/scs/des_dr1.main?RA=0&DEC=0&SR=1"), ("GET", "/registry"), ("GET", "/registry/oai?verb=Identify"),
    ("GET", "/moc"), ("GET", "/moc/des_dr1.main"), ("GET", "/hips/list"), ("GET", "/hips/x/properties"),
    ("GET", "/sky"), ("GET", "/sky/aladin.js"), ("GET", "/whoami"), ("GET", "/quota"), ("PUT", "/tap/tables/me.t"),
]
# The portal's other pages: the login page, which comes back to them (never the page itself).
PORTAL_PAGES = ["/query", "/tables", "/examples", "/jobs", "/cutouts", "/footprint", "/sia", "/soda/", "/anomaly"]


def test_anonymous_none_refuses_all_but_availability_capabilities_and_the_login(tmp_path: Path,
                                                                                ci_duckdb_path: Path) -> None:
    settings = _settings(tmp_path, ci_duckdb_path, auth="tokens", anonymous="none")
    tokens = _make_tokens(settings)
    with TestClient(create_app(settings), base_url=BASE) as client:
        for method, path in CLOSED:
            assert client.request(method, path).status_code == 401, (method, path)
        for path in PORTAL_PAGES:
            moved = client.get(path + "?x=1", follow_redirects=False)
            assert moved.status_code == 303, path
            assert moved.headers["location"] == f"{BASE}/login?next=" + path.replace("/", "%2F") + "%3Fx%3D1"
            assert client.post(path).status_code == 401, path
        for path in ("/tap/availability", "/tap/capabilities", "/sia/capabilities", "/anomaly/availability",
                     "/login", "/static/portal.css", "/static/login.js", "/static/xsl/skygate.xsl", "/favicon.ico"):
            assert client.get(path).status_code == 200, path
        home = client.get("/")
        assert home.status_code == 200 and 'id="login-link"' in home.text and 'data-login="needed"' in home.text
        assert "<code>des_dr1.main</code>" not in home.text  # the tables are the site's data too
        query = client.get("/tap/sync", params={"LANG": "ADQL", "QUERY": "SELECT TOP 1 ra FROM des_dr1.main"},
                           headers=bearer(tokens["alice"]))
        assert query.status_code == 200


def test_the_login_cookie_reads_and_never_writes(tmp_path: Path, ci_duckdb_path: Path) -> None:
    settings = _settings(tmp_path, ci_duckdb_path, auth="tokens", anonymous="none")
    tokens = _make_tokens(settings)
    with TestClient(create_app(settings), base_url=BASE) as client:
        client.cookies.set("skygate_token", tokens["alice"])
        home = client.get("/")
        assert "<code>des_dr1.main</code>" in home.text and "data-login" not in home.text
        assert home.headers["x-vo-authenticated"] == "alice"
        assert client.get("/query", follow_redirects=False).status_code == 200
        assert client.get("/whoami").json()["user"] == "alice"
        assert client.get("/tap/async").status_code == 200
        query = {"LANG": "ADQL", "QUERY": "SELECT TOP 1 ra FROM des_dr1.main"}
        assert client.get("/tap/sync", params=query).status_code == 200
        # a change needs the header: a cookie alone is anonymous there
        assert client.post("/tap/sync", data=query).status_code == 401
        assert client.post("/tap/async", data=query).status_code == 401
        assert client.post("/tap/sync", data=query, headers=bearer(tokens["alice"])).status_code == 200
        # a revoked or mistyped cookie leaves the caller anonymous: the login page still opens
        client.cookies.set("skygate_token", tokens["alice"][:-1] + "x")
        assert client.get("/login").status_code == 200
        assert "<code>des_dr1.main</code>" not in client.get("/").text
        assert client.get("/tap/tables").status_code == 401


def test_failed_attempts_are_throttled_per_source(tmp_path: Path, ci_duckdb_path: Path) -> None:
    settings = _settings(tmp_path, ci_duckdb_path, auth="tokens")
    tokens = _make_tokens(settings)
    with TestClient(create_app(settings), base_url=BASE) as client:
        # the same refused credential again guesses nothing (and Java clients resend it): counted once
        assert {client.get("/whoami", headers=bearer("sgt_bad")).status_code for _ in range(25)} == {401}
        statuses = [client.get("/whoami", headers=bearer(f"sgt_bad{n}")).status_code for n in range(20)]
        assert statuses[:19] == [401] * 19 and statuses[19] == 429
        blocked = client.get("/whoami", headers=bearer(tokens["alice"]))
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0


def test_tokens_never_reach_the_log(tokens_app: tuple[TestClient, dict[str, str]],
                                    caplog: pytest.LogCaptureFixture) -> None:
    client, tokens = tokens_app
    caplog.set_level(logging.DEBUG)
    client.get("/tap/sync", params={"LANG": "ADQL", "QUERY": "SELECT nonsense FROM nowhere"},
               headers=bearer(tokens["alice"]))
    client.get("/whoami", headers=bearer(tokens["alice"][:-1] + "x"))
    client.get("/whoami", headers=_basic("alice", tokens["alice"]))
    secrets = [tokens["alice"], tokens["alice"][:-1] + "x"]
    assert not any(secret in record.getMessage() for record in caplog.records for secret in secrets)


def test_unknown_modes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SKYGATE_AUTH"):
        create_app(Settings(data_dir=tmp_path, auth="ldap"))
    with pytest.raises(SettingsError, match="SKYGATE_OIDC_ISSUER"):
        create_app(Settings(data_dir=tmp_path, auth="oidc"))


def test_oidc_mode_with_a_local_issuer(tmp_path: Path, ci_duckdb_path: Path) -> None:
    issuer = LocalIssuer(audience="skygate-test")
    try:
        settings = _settings(tmp_path, ci_duckdb_path, auth="oidc", oidc_issuer=issuer.url,
                             oidc_audience="skygate-test")
        with TestClient(create_app(settings), base_url=BASE) as client:
            token = issuer.token("carol")
            assert client.get("/whoami", headers=bearer(token)).json()["user"] == "carol"
            assert client.get("/whoami", headers=bearer(issuer.token("carol", aud="other"))).status_code == 401
            assert client.get("/whoami", headers=bearer(issuer.token("carol", lifetime=-300))).status_code == 401
            job = _create(client, "/tap/async", bearer(token))
            assert client.get(job, headers=bearer(issuer.token("dave"))).status_code == 404
            assert client.get(job, headers=bearer(token)).status_code == 200
            assert client.get("/whoami", headers=_basic("carol", token)).status_code == 401
    finally:
        issuer.close()


def test_mode_none_ignores_credentials(tmp_path: Path, ci_duckdb_path: Path) -> None:
    settings = _settings(tmp_path, ci_duckdb_path)
    with TestClient(create_app(settings), base_url=BASE) as client:
        response = client.get("/whoami", headers=bearer("anything"))
        assert response.status_code == 200 and response.json()["user"] is None
        assert "www-authenticate" not in client.get("/tap/capabilities").headers


def test_a_pages_script_is_refused_without_a_basic_challenge(tokens_app: tuple[TestClient, dict[str, str]]) -> None:
    """The portal's requests say ``X-Requested-With``: no Basic challenge, so no browser password dialog."""
    client, _ = tokens_app
    plain = client.get("/whoami", headers=bearer("sgt_nonsense")).headers.get_list("www-authenticate")
    scripted = client.get("/whoami", headers={**bearer("sgt_nonsense"), "X-Requested-With": "skygate-portal"})
    assert scripted.status_code == 401
    assert scripted.headers.get_list("www-authenticate") == [c for c in plain if not c.startswith("Basic ")]
    assert any(c.startswith("Basic ") for c in plain)
