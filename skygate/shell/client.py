"""Talk TAP to one service over HTTP: sync with a bounded wait, UWS jobs, VOSI documents.

A client of any TAP 1.1 service (Skygate, DaCHS, CADC, ESA...): it speaks only the standards, with
requests (the HTTP library pyvo uses) and pyvo's VOSI/UWS parsers. It imports nothing of the server
packages. Every failure leaves as a ``ServiceError`` whose text is one line for the user.
Tests: tests/skygate/shell/test_units.py.
"""

from __future__ import annotations

import base64
import io
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests

__all__ = ["Job", "NoUserTables", "QueryResponse", "ServiceError", "TapClient", "auth_header", "error_position"]

_VOTABLE_MESSAGE = re.compile(rb'<INFO[^>]*name="QUERY_STATUS"[^>]*value="ERROR"[^>]*>(.*?)</INFO>', re.DOTALL)
_POSITIONS = (
    re.compile(r"line\s*:?\s*(\d+)\s*,\s*col(?:umn)?\s*:?\s*(\d+)", re.IGNORECASE),
    re.compile(r"\bat line (\d+)\D{1,12}(\d+)", re.IGNORECASE),
)
_CHAR = re.compile(r"at char(?:acter)?\s+(\d+)", re.IGNORECASE)
FINAL_PHASES = frozenset({"COMPLETED", "ERROR", "ABORTED"})
# What a service without CADC-style user tables answers a PUT or DELETE of /tables/{name}.
_NO_USER_TABLES = frozenset({404, 405, 501})


class ServiceError(Exception):
    """A failure to report in one line: the service's own words, or what went wrong on the way."""


class NoUserTables(ServiceError):
    """The service keeps no tables for its users, or none for this caller; the text says why."""


@dataclass(frozen=True, slots=True)
class Job:
    """The state of a UWS job as the service describes it."""

    job_id: str
    url: str
    phase: str
    created: str | None = None
    started: str | None = None
    ended: str | None = None
    run_id: str | None = None
    query: str | None = None
    error: str | None = None
    results: tuple[str, ...] = ()


@dataclass(slots=True)
class QueryResponse:
    """An open HTTP response carrying a result document; ``job`` is set when it came from a UWS job."""

    response: requests.Response
    job: Job | None = None
    media_type: str = field(default="")

    def chunks(self) -> Iterator[bytes]:
        yield from self.response.iter_content(chunk_size=1 << 16)

    def close(self) -> None:
        self.response.close()


def auth_header(token: str | None, security_methods: tuple[str, ...] = ()) -> dict[str, str]:
    """The Authorization header for ``token``: Basic when the service declares only HTTP Basic and the
    token is ``user:password``, Bearer otherwise (the VOSI securityMethod ids, SSO 2.0 §3)."""
    if not token:
        return {}
    basic_only = any(m.endswith("#BasicAA") for m in security_methods) and not any(
        m.endswith(("#token", "#OAuth", "#bearer-token")) for m in security_methods)
    if basic_only and ":" in token:
        return {"Authorization": "Basic " + base64.b64encode(token.encode()).decode()}
    return {"Authorization": f"Bearer {token}"}


def error_position(message: str, query: str) -> tuple[int, int] | None:
    """The (line, column), both from 1, that an error message points at in ``query``, if it says."""
    for pattern in _POSITIONS:
        match = pattern.search(message)
        if match:
            return int(match.group(1)), int(match.group(2))
    match = _CHAR.search(message)
    if match:
        offset = int(match.group(1))
        before = query[:offset]
        return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1
    return None


class TapClient:
    """One TAP service at ``tap_url``; ``timeout`` bounds every wait for the network."""

    def __init__(self, tap_url: str, *, token: str | None = None, timeout: float = 60.0,
                 session: requests.Session | None = None) -> None:
        self.tap_url = tap_url.rstrip("/")
        self.timeout = timeout
        self.token = token
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = "skygate-shell (pyvo-compatible TAP client)"
        self.session.headers.update(auth_header(token))

    def use_security_methods(self, methods: tuple[str, ...]) -> None:
        """Choose the Authorization scheme the service's capabilities ask for."""
        self.session.headers.pop("Authorization", None)
        self.session.headers.update(auth_header(self.token, methods))

    # ------------------------------------------------------------------ documents

    def get(self, path: str, *, params: Mapping[str, str] | None = None, missing_ok: bool = False,
            stream: bool = False) -> requests.Response | None:
        """GET ``path`` below the TAP URL (or an absolute URL); None for a 404 when ``missing_ok``."""
        url = path if path.startswith(("http://", "https://")) else f"{self.tap_url}/{path.lstrip('/')}"
        response = self._call("GET", url, params=params, stream=stream)
        if response.status_code == 404 and missing_ok:
            response.close()
            return None
        self._raise_for_status(response, url)
        return response

    def parse(self, parser: Callable[[IO[bytes]], Any], content: bytes, what: str) -> Any:
        """Run a pyvo parser quietly; its complaints become one ServiceError."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return parser(io.BytesIO(content))
            except Exception as exc:
                raise ServiceError(f"the service's {what} document could not be read ({type(exc).__name__})") \
                    from exc

    # ------------------------------------------------------------------ user tables

    def put_table(self, name: str, body: bytes, media_type: str) -> bytes:
        """Store ``body`` as the caller's table ``name`` (``PUT /tables/{name}``, CADC's user tables);
        the service's VOSI table document of it.

        Raises
        ------
        NoUserTables
            The service keeps no user tables (HTTP 404, 405, 501) or none for this caller (403).
        ServiceError
            Any other refusal (name taken, over the quota, unreadable table), in the service's words.
        """
        url = f"{self.tap_url}/tables/{name}"
        response = self._call("PUT", url, data=body, headers={"Content-Type": media_type}, allow_redirects=False)
        self._refuse_without_user_tables(response, "PUT")
        self._raise_for_status(response, url)
        document = response.content
        response.close()
        return document

    def delete_table(self, name: str) -> bool:
        """Drop the caller's table ``name`` (``DELETE /tables/{name}``); False when they have none so called.

        Raises
        ------
        NoUserTables
            The service keeps no user tables (HTTP 405, 501) or refuses this caller (403).
        """
        url = f"{self.tap_url}/tables/{name}"
        response = self._call("DELETE", url, allow_redirects=False)
        if response.status_code == 404:
            response.close()
            return False
        self._refuse_without_user_tables(response, "DELETE")
        self._raise_for_status(response, url)
        response.close()
        return True

    def _refuse_without_user_tables(self, response: requests.Response, method: str) -> None:
        status = response.status_code
        if status in _NO_USER_TABLES:
            response.close()
            raise NoUserTables(f"the service keeps no user tables ({method} /tables answered HTTP {status})")
        if status == 403:
            message = _votable_error(response.content[:200_000]) or "HTTP 403"
            response.close()
            raise NoUserTables(f"the service refused it: {message}")

    # ------------------------------------------------------------------ queries

    def sync(self, query: str, *, wait: float, maxrec: int | None, responseformat: str | None = None,
             uploads: Mapping[str, bytes] | None = None) -> QueryResponse | None:
        """POST the query to /sync; the open response, or None when no answer began within ``wait`` s
        (the request is then dropped, which a streaming service takes as a cancellation)."""
        data, files = _query_params(query, maxrec, responseformat, uploads)
        url = f"{self.tap_url}/sync"
        try:
            response = self.session.post(url, data=data, files=files or None, stream=True,
                                         timeout=(min(self.timeout, 30.0), wait))
        except requests.ReadTimeout:
            return None
        except requests.RequestException as exc:
            raise ServiceError(_network(exc, url)) from exc
        self._raise_for_status(response, url, query=query)
        # Longer gaps between bytes of an answer that has begun are the network's timeout's business.
        return QueryResponse(response, None, response.headers.get("Content-Type", ""))

    def submit(self, query: str, *, maxrec: int | None, responseformat: str | None = None,
               uploads: Mapping[str, bytes] | None = None) -> str:
        """Create and start a UWS job (TAP §3.3, UWS §2.2.3); its URL."""
        data, files = _query_params(query, maxrec, responseformat, uploads)
        data["PHASE"] = "RUN"
        url = f"{self.tap_url}/async"
        response = self._call("POST", url, data=data, files=files or None, allow_redirects=False)
        self._raise_for_status(response, url, query=query)
        location = response.headers.get("Location")
        response.close()
        if not location:
            raise ServiceError("the service created a job but did not say where it is (no Location header)")
        return urljoin(url + "/", location)

    def job(self, url_or_id: str, *, wait: float = 0.0) -> Job:
        """The job's description; with ``wait`` > 0 a UWS 1.1 blocking request (§2.2.3.1) while active."""
        url = url_or_id if "://" in url_or_id else f"{self.tap_url}/async/{url_or_id}"
        params = {"WAIT": str(int(max(wait, 1)))} if wait > 0 else None
        response = self._call("GET", url, params=params, timeout_extra=wait)
        self._raise_for_status(response, url)
        return _job(self.parse(_uws_job, response.content, "UWS job"), url)

    def jobs(self) -> list[Job] | None:
        """The job list the service shows to this caller (None: the service has no /async)."""
        response = self.get("async", missing_ok=True)
        if response is None:
            return None
        listed = self.parse(_uws_list, response.content, "UWS job list")
        base = f"{self.tap_url}/async"
        return [Job(j.jobid, f"{base}/{j.jobid}", str(j.phase), created=_text(j.creationtime),
                    run_id=_text(j.runid)) for j in listed]

    def abort(self, job: Job) -> Job:
        """Ask the service to abort the job (UWS §2.2.3.2); the job afterwards."""
        response = self._call("POST", f"{job.url}/phase", data={"PHASE": "ABORT"}, allow_redirects=False)
        self._raise_for_status(response, job.url)
        response.close()
        return self.job(job.url)

    def delete(self, job: Job) -> None:
        response = self._call("DELETE", job.url, allow_redirects=False)
        self._raise_for_status(response, job.url)
        response.close()

    def job_error(self, job: Job) -> str:
        """The job's error message: the error summary, else the error document's QUERY_STATUS text."""
        response = self.get(f"{job.url}/error", missing_ok=True)
        if response is not None:
            message = _votable_error(response.content)
            if message:
                return message
        return job.error or "the job failed and the service gave no reason"

    def result(self, job: Job) -> QueryResponse:
        """The open response of the job's first result."""
        url = job.results[0] if job.results else f"{job.url}/results/result"
        response = self._call("GET", url, stream=True)
        self._raise_for_status(response, url)
        return QueryResponse(response, job, response.headers.get("Content-Type", ""))

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, url: str, *, timeout_extra: float = 0.0, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, url, timeout=self.timeout + timeout_extra, **kwargs)
        except requests.RequestException as exc:
            raise ServiceError(_network(exc, url)) from exc

    def _raise_for_status(self, response: requests.Response, url: str, *, query: str | None = None) -> None:
        if response.status_code < 400:
            return
        body = response.content[:200_000]
        response.close()
        message = _votable_error(body)
        if message:
            raise QueryError(message, query)
        kind = response.headers.get("Content-Type", "")
        if kind.startswith("text/plain") and body.strip():
            # SODA (§5) and UWS answer errors as plain text: the service's own sentence
            text = " ".join(body[:500].decode("utf-8", "replace").split())
            raise ServiceError(f"the service says: {text}")
        if response.status_code in (401, 403):
            raise ServiceError(f"the service refused access (HTTP {response.status_code}); "
                               "give a token with --token or the TAP_TOKEN variable")
        raise ServiceError(f"{url} answered HTTP {response.status_code} {response.reason or ''}".rstrip())


class QueryError(ServiceError):
    """The service rejected or failed a query; ``query`` is the text it was about."""

    def __init__(self, message: str, query: str | None) -> None:
        super().__init__(message)
        self.query = query


def _query_params(query: str, maxrec: int | None, responseformat: str | None,
                  uploads: Mapping[str, bytes] | None) -> tuple[dict[str, str], dict[str, Any]]:
    data = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query}
    if maxrec is not None:
        data["MAXREC"] = str(maxrec)
    if responseformat:
        data["RESPONSEFORMAT"] = responseformat
    files: dict[str, Any] = {}
    if uploads:
        data["UPLOAD"] = ";".join(f"{name},param:{name}" for name in uploads)
        files = {name: (f"{name}.vot", body, "application/x-votable+xml") for name, body in uploads.items()}
    return data, files


def _votable_error(body: bytes) -> str | None:
    match = _VOTABLE_MESSAGE.search(body)
    if not match:
        return None
    from html import unescape

    return " ".join(unescape(match.group(1).decode("utf-8", "replace")).split()) or None


def _network(exc: requests.RequestException, url: str) -> str:
    host = urlsplit(url).netloc
    if isinstance(exc, requests.Timeout):
        return f"{host} did not answer in time; the network or the service is slow (try again, or `config timeout`)"
    if isinstance(exc, requests.ConnectionError):
        return f"cannot reach {host}: the service is down or the address is wrong"
    return f"talking to {host} failed ({type(exc).__name__})"


def _uws_job(source: IO[bytes]) -> Any:
    from pyvo.io.uws import parse_job

    return parse_job(source)


def _uws_list(source: IO[bytes]) -> Any:
    from pyvo.io.uws import parse_job_list

    return parse_job_list(source)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value.isoformat() if hasattr(value, "isoformat") else value)


def _job(parsed: Any, url: str) -> Job:
    params = {p.id_.upper(): p.content for p in (parsed.parameters or []) if getattr(p, "id_", None)}
    error = None
    if parsed.errorsummary is not None and parsed.errorsummary.message is not None:
        error = " ".join(str(parsed.errorsummary.message.content or "").split()) or None
    results = tuple(r.href for r in (parsed.results or []) if getattr(r, "href", None))
    return Job(str(parsed.jobid), url.split("?")[0], str(parsed.phase), created=_text(parsed.creationtime),
               started=_text(parsed.starttime), ended=_text(parsed.endtime), run_id=_text(parsed.runid),
               query=params.get("QUERY"), error=error, results=results)


def wait_for(client: TapClient, job: Job, *, poll: float, on_progress: Callable[[Job, float], None]) -> Job:
    """Follow the job to a final phase, calling ``on_progress`` at each look (KeyboardInterrupt passes)."""
    started = time.monotonic()
    while job.phase not in FINAL_PHASES:
        on_progress(job, time.monotonic() - started)
        asked = time.monotonic()
        # A UWS 1.1 blocking request returns at a phase change; services that ignore WAIT answer at
        # once, so the pause keeps the polling rate at one look per ``poll`` seconds either way.
        job = client.job(job.url, wait=poll if job.phase == "EXECUTING" else 0.0)
        if job.phase not in FINAL_PHASES:
            time.sleep(max(0.0, poll - (time.monotonic() - asked)))
    on_progress(job, time.monotonic() - started)
    return job
