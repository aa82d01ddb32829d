"""The shell's state and its query pipeline: one input in, text out.

``Shell.handle(text)`` takes what the user entered (an ADQL statement ending in ``;``, optionally
``> file`` or ``< check`` / ``< explain``, or a command) and prints the outcome through ``out``.
A query runs sync with a bounded wait, then as a UWS job with a progress line; Ctrl-C aborts the
job on the service. No terminal handling here beyond paging (the REPL is ``skygate/shell/repl.py``).
Tests: tests/skygate/shell/test_entry.py, tests/skygate/shell/test_terminal.py.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TextIO

from skygate.shell.client import (
    FINAL_PHASES,
    Job,
    QueryError,
    QueryResponse,
    ServiceError,
    TapClient,
    wait_for,
)
from skygate.shell.display import describe_error, read_result, render_table
from skygate.shell.files import FileFormat, convert_votable, count_rows, file_format, stream_to
from skygate.shell.metadata import (
    Capabilities,
    ServiceMetadata,
    Upload,
    fetch_capabilities,
    load_metadata,
)

__all__ = ["Input", "Shell", "ShellConfig", "parse_input"]

_TAIL = re.compile(r";\s*(?:>\s*(?P<file>\S+)|<\s*(?P<action>check|explain))?\s*\Z", re.IGNORECASE | re.DOTALL)
_UPLOAD_REF = re.compile(r"\bTAP_UPLOAD\s*\.\s*\"?(\w+)", re.IGNORECASE)


class Cancelled(ServiceError):
    """The user stopped a query (Ctrl-C); said as it is, not as an error."""


@dataclass(frozen=True, slots=True)
class ShellConfig:
    """Settings of one shell session (``config KEY VALUE`` changes the tunable ones)."""

    tap_url: str = "http://127.0.0.1:8000/tap"
    token: str | None = None
    history_file: Path = Path("~/.local/share/skygate-shell/history")
    cache_dir: Path = Path("~/.cache/skygate-shell")
    prefetch: int = 50
    sync_wait: float = 5.0
    timeout: float = 60.0
    poll: float = 1.0
    pager: bool = True

    TUNABLE = ("prefetch", "sync_wait", "timeout", "poll", "pager")


@dataclass(frozen=True, slots=True)
class Input:
    """One parsed entry: ``sql`` (without ``;``) with an output ``file`` or an ``action``, or a command."""

    sql: str | None = None
    file: Path | None = None
    action: str = "run"
    command: str | None = None
    args: str = ""


def parse_input(text: str, commands: Mapping[str, object]) -> Input | None:
    """What the entry asks for; None for an ADQL entry still missing its ``;`` (or an empty one)."""
    stripped = text.strip()
    if not stripped:
        return None
    first = stripped.split(None, 1)
    if first[0].lower() in commands:
        return Input(command=first[0].lower(), args=first[1].strip().rstrip(";").strip() if len(first) > 1 else "")
    match = _TAIL.search(stripped)
    if match is None:
        return None
    sql = stripped[: match.start()].rstrip()
    target = Path(match.group("file")).expanduser() if match.group("file") else None
    return Input(sql=sql, file=target, action=(match.group("action") or "run").lower())


def is_complete(text: str, commands: Mapping[str, object]) -> bool:
    """Whether Enter should submit the entry (a command, or ADQL ending in ``;``)."""
    stripped = text.strip()
    return not stripped or parse_input(text, commands) is not None


class Shell:
    """A session with one TAP service."""

    def __init__(self, config: ShellConfig, *, out: TextIO | None = None,
                 client: TapClient | None = None) -> None:
        self.config = config
        self.out = out or sys.stdout
        self.client = client or TapClient(config.tap_url, token=config.token, timeout=config.timeout)
        self.metadata: ServiceMetadata | None = None
        self._capabilities: Capabilities | None = None
        self.uploads: dict[str, Upload] = {}
        # Why the service stored no table of load_table's (its words), once it has refused one.
        self.user_tables_refusal: str | None = None
        self.interactive = self.out.isatty() if hasattr(self.out, "isatty") else False
        from skygate.shell.commands import COMMANDS

        self.commands = COMMANDS
        self.history: Callable[[], list[str]] = list

    # ------------------------------------------------------------------ output

    def say(self, *lines: str) -> None:
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    def page(self, lines: list[str]) -> None:
        """Print ``lines``, a screenful at a time when talking to a terminal."""
        height = shutil.get_terminal_size((100, 40)).lines - 2
        if not (self.interactive and self.config.pager) or len(lines) <= height:
            self.say(*lines)
            return
        for start in range(0, len(lines), height):
            self.say(*lines[start: start + height])
            if start + height >= len(lines):
                break
            try:
                answer = input("-- more: Enter for the next page, q to stop -- ")
            except (EOFError, KeyboardInterrupt):
                answer = "q"
            if answer.strip().lower().startswith("q"):
                self.say(f"({len(lines) - start - height} more lines not shown)")
                break

    # ------------------------------------------------------------------ service state

    @property
    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            self._capabilities = fetch_capabilities(self.client)
            self.client.use_security_methods(self._capabilities.security_methods)
        return self._capabilities

    def connect(self) -> None:
        """Read the capabilities and the tables (cached); problems are reported, not raised."""
        try:
            _ = self.capabilities
            self.load_tables(refresh=False)
        except ServiceError as exc:
            self.say(f"error: {exc}")

    def load_tables(self, *, refresh: bool) -> None:
        self.metadata = load_metadata(self.client, self.config.cache_dir.expanduser(), refresh=refresh)
        where = "cached" if self.metadata.source == "cache" else "read from the service"
        self.say(f"{len(self.metadata.tables)} tables {where} ({self.client.tap_url})")

    def set_config(self, key: str, value: str) -> None:
        if key not in ShellConfig.TUNABLE:
            raise ServiceError(f"config: unknown key {key!r}; tunable: {', '.join(ShellConfig.TUNABLE)}")
        current = getattr(self.config, key)
        try:
            parsed: object
            if isinstance(current, bool):
                if value.lower() not in ("on", "off", "true", "false", "yes", "no", "1", "0"):
                    raise ValueError(value)
                parsed = value.lower() in ("on", "true", "yes", "1")
            else:
                parsed = type(current)(value)
                if parsed <= 0:  # type: ignore[operator]
                    raise ValueError(value)
        except ValueError as exc:
            raise ServiceError(f"config: {key} needs a positive {type(current).__name__}, not {value!r}") from exc
        self.config = replace(self.config, **{key: parsed})  # type: ignore[arg-type]
        self.client.timeout = self.config.timeout

    # ------------------------------------------------------------------ entries

    def handle(self, text: str) -> bool:
        """Run one entry; False when the user asked to leave."""
        entry = parse_input(text, self.commands)
        if entry is None:
            if text.strip():
                self.say("error: end the statement with ';' (then optionally '> file' or '< check')")
            return True
        try:
            if entry.command is not None:
                return self.commands[entry.command].run(self, entry.args)
            assert entry.sql is not None
            if not entry.sql:
                self.say("error: there is no query before the ';'")
            elif entry.action == "check":
                self.check(entry.sql)
            elif entry.action == "explain":
                self.explain(entry.sql)
            else:
                self.query(entry.sql, entry.file)
        except QueryError as exc:
            self.say(*describe_error(exc, exc.query or entry.sql))
        except Cancelled as exc:
            self.say(str(exc))
        except ServiceError as exc:
            self.say(f"error: {exc}")
        except KeyboardInterrupt:
            self.say("interrupted (a sync query is dropped, which a streaming service takes as a cancel)")
        except Exception as exc:  # noqa: BLE001 (the shell stays up; one line, never a traceback)
            self.say(f"error: unexpected {type(exc).__name__}: {str(exc)[:200]}")
        return True

    # ------------------------------------------------------------------ queries

    def query(self, sql: str, target: Path | None) -> None:
        """Run ``sql``: the first ``prefetch`` rows on screen, or the whole result into ``target``."""
        started = time.monotonic()
        uploads = self.uploads_for(sql)
        if target is None:
            response = self.execute(sql, maxrec=self.config.prefetch, responseformat=None, uploads=uploads)
            self.show(response, started)
            return
        fmt = file_format(target)
        native = fmt.responseformat is not None and (fmt.name == "votable" or self.capabilities.offers(
            fmt.responseformat, fmt.mime or ""))
        maxrec = self.capabilities.maxrec_hard
        response = self.execute(sql, maxrec=maxrec, responseformat=fmt.responseformat if native else None,
                                uploads=uploads)
        self.save(response, target, fmt, native=native, maxrec=maxrec, started=started)

    def execute(self, sql: str, *, maxrec: int | None, responseformat: str | None,
                uploads: Mapping[str, bytes]) -> QueryResponse:
        """Sync within ``sync_wait`` seconds, else a UWS job followed to its end (Ctrl-C aborts it)."""
        response = self.client.sync(sql, wait=self.config.sync_wait, maxrec=maxrec,
                                    responseformat=responseformat, uploads=uploads)
        if response is not None:
            return response
        self.say(f"(no answer within {self.config.sync_wait:g} s: running it as an async job)")
        url = self.client.submit(sql, maxrec=maxrec, responseformat=responseformat, uploads=uploads)
        job = self.client.job(url)
        try:
            job = wait_for(self.client, job, poll=self.config.poll, on_progress=self._progress)
        except KeyboardInterrupt:
            self._end_progress()
            self.say(f"aborting job {job.job_id} on the service...")
            job = self.client.abort(job)
            raise Cancelled(f"query aborted: job {job.job_id} is {job.phase} on the service") from None
        self._end_progress()
        return self.job_result(job, sql)

    def job_result(self, job: Job, sql: str | None) -> QueryResponse:
        if job.phase == "COMPLETED":
            return self.client.result(job)
        if job.phase == "ERROR":
            raise QueryError(self.client.job_error(job), sql or job.query)
        raise ServiceError(f"job {job.job_id} is {job.phase}" + (" (aborted)" if job.phase == "ABORTED" else ""))

    def show(self, response: QueryResponse, started: float) -> None:
        try:
            data = b"".join(response.chunks())
        finally:
            response.close()
        result = read_result(data)
        width = shutil.get_terminal_size((100, 40)).columns
        lines = render_table(result.table, width=width, limit=self.config.prefetch)
        rows = len(result.table)
        note = f"{rows} row{'s' if rows != 1 else ''}"
        if rows > self.config.prefetch:  # a service that does not honour MAXREC
            note += f", the first {self.config.prefetch} shown"
        if result.overflow:
            note += (f"; more rows exist (only the first {rows} fetched: `prefetch N` to see more, "
                     "`; > file.fits` for the whole result)")
        if response.job is not None:
            note += f"; async job {response.job.job_id}"
        self.page([*lines, f"({note}; {time.monotonic() - started:.1f} s)"])

    def save(self, response: QueryResponse, target: Path, fmt: FileFormat, *, native: bool,
             maxrec: int | None, started: float) -> None:
        kind = response.media_type.split(";")[0].strip().lower()
        if native and fmt.name != "votable" and "votable" in kind:
            # a VOTable where another format was asked for is the service's error document
            data = b"".join(response.chunks())
            response.close()
            read_result(data)
            raise ServiceError("the service answered with a VOTable instead of the asked format")
        try:
            if native:
                size = stream_to(response.chunks(), target)
                rows = count_rows(target, fmt)
            else:
                with tempfile.TemporaryDirectory() as scratch:
                    votable = Path(scratch) / "result.vot"
                    size = stream_to(response.chunks(), votable)
                    rows = convert_votable(votable, target, fmt)
                size = target.stat().st_size
        finally:
            response.close()
        counted = f"{rows} rows" if rows is not None else f"{size} bytes"
        self.say(f"wrote {counted} to {target} ({fmt.name}, {time.monotonic() - started:.1f} s)")
        if rows is not None and maxrec is not None and rows >= maxrec:
            self.say(f"warning: the service stops at {maxrec} rows (its hard limit), so the file may be cut")

    def check(self, sql: str) -> None:
        """Validate without running (MAXREC=0): the service's error, or the columns it would return."""
        response = self.client.sync(sql, wait=self.config.timeout, maxrec=0, uploads=self.uploads_for(sql))
        if response is None:
            raise ServiceError(f"the service did not answer the check within {self.config.timeout:g} s")
        with response.response:
            result = read_result(response.response.content)
        self.say("the query is valid; it returns these columns:")
        for name in result.table.colnames:
            column = result.table[name]
            unit = f"[{column.unit}]" if column.unit is not None else ""
            ucd = (column.meta.get("ucd") if column.meta else None) or ""
            self.say(f"  {name:<24} {column.dtype!s:<10} {unit:<10} {ucd}".rstrip())

    def explain(self, sql: str) -> None:
        """What the service tells about how it would run ``sql``: TAP defines no query plan."""
        caps = self.capabilities
        self.say("this service offers no query plan: TAP has no operation for one and its capabilities "
                 "declare no extension for it.", "what it does say:")
        if caps.found:
            used = sorted({w.upper() for w in re.findall(r"\b(\w+)\s*\(", sql)})
            optional = [f for f in used if f in {"POINT", "CIRCLE", "BOX", "POLYGON", "CONTAINS", "INTERSECTS",
                                                 "DISTANCE", "AREA", "CENTROID", "COORD1", "COORD2",
                                                 "IVO_HEALPIX_INDEX", "LOWER", "UPPER", "IN_UNIT"}]
            for function in optional:
                declared = "declared" if function in caps.functions else "NOT declared"
                self.say(f"  {function}: {declared} in the service's ADQL features")
            limit = f"{caps.maxrec_default} rows by default, {caps.maxrec_hard} at most"
            self.say(f"  output limit: {limit}")
            if caps.execution_default:
                self.say(f"  async execution time allowed: {caps.execution_default} s")
        else:
            self.say("  nothing: the service publishes no TAP capabilities")
        self.check(sql)

    # ------------------------------------------------------------------ uploads

    def uploads_for(self, sql: str) -> dict[str, bytes]:
        """The session tables the query names as TAP_UPLOAD.name."""
        chosen: dict[str, bytes] = {}
        for name in _UPLOAD_REF.findall(sql):
            upload = self.uploads.get(name.lower())
            if upload is None:
                raise ServiceError(f"there is no session table {name!r}: load_table FILE {name} first")
            chosen[upload.name] = upload.votable
        return chosen

    # ------------------------------------------------------------------ progress

    def _progress(self, job: Job, elapsed: float) -> None:
        if job.phase in FINAL_PHASES or not self.interactive:
            return  # a script's output (skygate shell -c) gets no carriage-return animation
        self.out.write(f"\r  job {job.job_id}: {job.phase}, {elapsed:.0f} s (Ctrl-C aborts it)   ")
        self.out.flush()

    def _end_progress(self) -> None:
        if not self.interactive:
            return
        self.out.write("\r" + " " * 78 + "\r")
        self.out.flush()
