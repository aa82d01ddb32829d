"""The shell's commands (easyaccess's habits, in TAP terms), each with its ``help`` text.

A command is a word at the start of an entry, run at Enter without a ``;``. Each returns False only
to end the session. Service documents are read through ``Shell`` (session.py); load_table, mytables
and drop_table live in usertables.py.
Tests: tests/skygate/shell/test_terminal.py.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from skygate.shell.client import ServiceError
from skygate.shell.metadata import ColumnInfo, fetch_examples
from skygate.shell.usertables import drop_table, list_tables, load_table

if TYPE_CHECKING:
    from skygate.shell.session import Shell

__all__ = ["COMMANDS", "Command"]

_REDIRECT = re.compile(r"\s*>\s*(\S+)\s*\Z")


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    summary: str
    details: str
    action: Callable[[Shell, str], bool | None]

    def run(self, shell: Shell, args: str) -> bool:
        return self.action(shell, args) is not False


# ---------------------------------------------------------------------------- session

def _help(shell: Shell, args: str) -> None:
    if args:
        command = COMMANDS.get(args.split()[0].lower())
        if command is None:
            raise ServiceError(f"help: no command {args.split()[0]!r}; `help` lists them")
        shell.say(f"usage: {command.usage}", "", command.summary, *([command.details] if command.details else []))
        return
    shell.say("ADQL: type a query ending in ';' (Enter inside a query starts a new line).",
              "  SELECT ... ;            run it, show the first `prefetch` rows",
              "  SELECT ... ; > out.fits write the whole result (.csv .tsv .fits .parquet .h5 .vot)",
              "  SELECT ... ; < check    validate without running; < explain: what the service tells",
              "Tab completes keywords, functions, tables and columns; Ctrl-R searches the history;",
              "Ctrl-C aborts a running query (its job on the service too). Commands:")
    for command in COMMANDS.values():
        shell.say(f"  {command.usage:<36} {command.summary}")
    shell.say("`help COMMAND` tells more.")


def _exit(shell: Shell, args: str) -> bool:
    return False


def _prefetch(shell: Shell, args: str) -> None:
    if args:
        shell.set_config("prefetch", args.split()[0])
    shell.say(f"queries show the first {shell.config.prefetch} rows")


def _config(shell: Shell, args: str) -> None:
    words = args.split()
    if len(words) == 2:
        shell.set_config(words[0], words[1])
    elif words:
        raise ServiceError("usage: config [KEY VALUE]")
    config = shell.config
    scheme = str(shell.client.session.headers.get("Authorization", "")).split(" ")[0]
    shell.say(f"service        {shell.client.tap_url}",
              f"authentication {f'a token, sent as {scheme}' if config.token else 'none'}",
              f"history file   {config.history_file.expanduser()}",
              f"metadata cache {config.cache_dir.expanduser()}",
              f"prefetch       {config.prefetch}   (rows shown per query)",
              f"sync_wait      {config.sync_wait:g}   (seconds a query may run sync before it becomes a job)",
              f"timeout        {config.timeout:g}   (seconds to wait for the network)",
              f"poll           {config.poll:g}   (seconds between looks at a running job)",
              f"pager          {'on' if config.pager else 'off'}")


def _history(shell: Shell, args: str) -> None:
    entries = shell.history()
    if args and not args.isdigit():
        entries = [e for e in entries if args.lower() in e.lower()]
    count = int(args) if args.isdigit() else 20
    start = max(0, len(entries) - count)
    for number, entry in enumerate(entries[start:], start=start + 1):
        text = entry.replace("\n", "\n      ")
        shell.say(f"{number:>4}  {text}")


def _loadsql(shell: Shell, args: str) -> None:
    if not args:
        raise ServiceError("usage: loadsql FILE")
    path = Path(args).expanduser()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ServiceError(f"cannot read {path}: {exc.strerror or exc}") from exc
    statements = _statements(text)
    if not statements:
        raise ServiceError(f"{path} holds no statement ending in ';'")
    for statement in statements:
        shell.say(statement)
        shell.handle(statement)


def _statements(text: str) -> list[str]:
    """Split a file into entries at each ';' outside quotes, keeping a following ``> file``/``< check``."""
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    parts: list[str] = []
    current: list[str] = []
    quote = False
    i = 0
    while i < len(text):
        char = text[i]
        current.append(char)
        if char == "'":
            quote = not quote
        elif char == ";" and not quote:
            tail = re.match(r"[ \t]*(?:>[ \t]*\S+|<[ \t]*(?:check|explain)\b)?", text[i + 1:], re.IGNORECASE)
            if tail:
                current.append(tail.group(0))
                i += len(tail.group(0))
            parts.append("".join(current).strip())
            current = []
        i += 1
    return [p for p in parts if p.rstrip(";").strip()]


def _refresh(shell: Shell, args: str) -> None:
    shell.load_tables(refresh=True)


# ---------------------------------------------------------------------------- tables

def _metadata(shell: Shell) -> dict[str, tuple[str, str | None, list[ColumnInfo]]]:
    """Every known table (service and session uploads): name -> (name, description, columns)."""
    if shell.metadata is None:
        shell.load_tables(refresh=False)
    assert shell.metadata is not None
    tables = {k: (t.name, t.description, t.columns) for k, t in shell.metadata.tables.items()}
    for upload in shell.uploads.values():
        tables[f"tap_upload.{upload.name.lower()}"] = (f"TAP_UPLOAD.{upload.name}",
                                                       f"session upload from {upload.source}", upload.columns)
    return tables


def _describe_table(shell: Shell, args: str) -> None:
    if not args:
        raise ServiceError("usage: describe_table TABLE")
    tables = _metadata(shell)
    key = args.split()[0].lower()
    found = tables.get(key) or next((t for k, t in tables.items() if k.rsplit(".", 1)[-1] == key), None)
    if found is None:
        raise ServiceError(f"no table {args.split()[0]!r}; find_tables PATTERN searches the names")
    name, description, columns = found
    lines = [f"{name}: {description or '(no description)'}", f"{len(columns)} columns:",
             f"  {'name':<26} {'type':<10} {'unit':<10} {'ucd':<28} description"]
    lines += [f"  {c.name:<26} {c.datatype or '':<10} {c.unit or '':<10} {c.ucd or '':<28} {c.description or ''}"
              for c in columns]
    shell.page(lines)


def _find_tables(shell: Shell, args: str) -> None:
    if not args:
        raise ServiceError("usage: find_tables PATTERN")
    assert shell.metadata is not None or _metadata(shell)
    assert shell.metadata is not None
    found = shell.metadata.match_tables(args.split()[0])
    shell.page([f"  {t.name:<32} {t.description or ''}" for t in found] + [f"({len(found)} tables)"])


def _find_tables_with_column(shell: Shell, args: str) -> None:
    if not args:
        raise ServiceError("usage: find_tables_with_column PATTERN")
    assert shell.metadata is not None or _metadata(shell)
    assert shell.metadata is not None
    found = shell.metadata.match_columns(args.split()[0])
    shell.page([f"  {t.name:<32} {c.name:<26} {c.unit or ''}" for t, c in found]
               + [f"({len({t.name for t, _ in found})} tables)"])


# ---------------------------------------------------------------------------- account

def _identity_document(shell: Shell, path: str) -> str | None:
    base = shell.client.tap_url
    for url in (f"{base}/{path}", f"{base.rsplit('/', 1)[0]}/{path}"):
        response = shell.client.get(url, missing_ok=True)
        if response is not None and response.status_code == 200:
            return response.text.strip()
    return None


def _whoami(shell: Shell, args: str) -> None:
    answer = _identity_document(shell, "whoami")
    if answer is not None:
        shell.say(_identity_sentence(answer))
        return
    token = "a token is sent, but " if shell.config.token else ""
    shell.say(f"{token}this service has no notion of identity yet: it answers no /whoami, so it cannot say "
              "who you are (queries run as an anonymous user)")


def _identity_sentence(answer: str) -> str:
    """Skygate's /whoami JSON ({"user", "admin", "via", "mode"}) in words; other answers as sent."""
    try:
        document = json.loads(answer)
    except ValueError:
        return answer[:2000]
    if not isinstance(document, dict) or "user" not in document:
        return answer[:2000]
    if document["user"]:
        admin = " (administrator)" if document.get("admin") else ""
        return f"you are {document['user']}{admin}, authenticated by {document.get('via') or 'the service'}"
    return f"you are anonymous to this service (its authentication mode: {document.get('mode', 'not stated')})"


def _myquota(shell: Shell, args: str) -> None:
    answer = _identity_document(shell, "quota")
    if answer is not None:
        shell.say(*_quota_lines(answer))
        return
    caps = shell.capabilities
    shell.say("this service states no quota of yours (it answers no /quota); its limits for everyone:")
    if not caps.found:
        shell.say("  none stated: the service publishes no TAP capabilities")
        return
    shell.say(f"  rows per result: {caps.maxrec_default} by default, {caps.maxrec_hard} at most",
              f"  upload size: {caps.upload_limit_bytes or 'not stated'} bytes",
              f"  async execution time: {caps.execution_default or 'not stated'} s")


def _quota_lines(answer: str) -> list[str]:
    """Skygate's /quota JSON in words (null: no limit); other answers as sent."""
    try:
        document = json.loads(answer)
        jobs, tables, uploads = document["jobs"], document["tables"], document["uploads"]
        per_minute = document["requests"]["per_minute"]
        results = document.get("results")
        kept = ([f"  results:  {_size(results['bytes'])} kept by your jobs "
                 f"{_of(results['max_bytes'] and _size(results['max_bytes']))}"] if results else [])
        return [
            f"quota of {document['user'] or 'anonymous'} (authentication: {document['mode']})",
            f"  jobs:     {jobs['active']} active {_of(jobs['max_active'])}; "
            + ("no limit on running ones" if jobs["max_running"] is None else f"at most {jobs['max_running']} running"),
            *kept,
            f"  tables:   {tables['count']} in {tables['schema'] or '(no schema of yours)'}, "
            f"{_size(tables['bytes'])} used {_of(tables['max_bytes'] and _size(tables['max_bytes']))}",
            f"  uploads:  at most {_size(uploads['max_bytes'])} and {uploads['max_rows']:,} rows per table",
            f"  requests: {'no limit' if per_minute is None else f'at most {per_minute} per minute'}",
        ]
    except (ValueError, KeyError, TypeError):
        return [answer[:2000]]


def _of(limit: object) -> str:
    return "(no limit)" if limit is None else f"of at most {limit}"


def _size(count: int) -> str:
    """Bytes in binary units: 1073741824 is 1 GiB."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.3g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- jobs

def _jobs(shell: Shell, args: str) -> None:
    jobs = shell.client.jobs()
    if jobs is None:
        shell.say("this service has no async job list (no /async)")
        return
    if not jobs:
        shell.say("no jobs on the service")
        return
    lines = [f"  {'job':<20} {'phase':<10} created"]
    lines += [f"  {j.job_id:<20} {j.phase:<10} {j.created or ''}" + (f"  {j.run_id}" if j.run_id else "")
              for j in jobs]
    shell.page([*lines, f"({len(jobs)} jobs; `job ID` shows one)"])


def _job(shell: Shell, args: str) -> None:
    target = None
    redirect = _REDIRECT.search(args)
    if redirect:
        target = Path(redirect.group(1)).expanduser()
        args = args[: redirect.start()]
    words = args.split()
    if not words or len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("show", "results", "delete")):
        raise ServiceError("usage: job ID [show|results|delete] [> file]")
    job = shell.client.job(words[0])
    action = words[1].lower() if len(words) == 2 else "show"
    if action == "delete":
        shell.client.delete(job)
        shell.say(f"job {job.job_id} deleted")
    elif action == "results":
        response = shell.job_result(job, job.query)
        started = time.monotonic()
        if target is None:
            shell.show(response, started)
        else:
            from skygate.shell.files import file_format

            fmt = file_format(target)
            native = fmt.name == "votable"
            shell.save(response, target, fmt, native=native, maxrec=None, started=started)
    else:
        shell.say(f"job {job.job_id}: {job.phase}", f"  created {job.created or '-'}  started {job.started or '-'}"
                  f"  ended {job.ended or '-'}")
        if job.query:
            shell.say("  query: " + job.query.replace("\n", "\n         "))
        if job.phase == "ERROR":
            shell.say(f"  error: {shell.client.job_error(job)}")


# ---------------------------------------------------------------------------- examples

def _examples(shell: Shell, args: str) -> None:
    examples = fetch_examples(shell.client)
    if examples is None:
        shell.say("this service publishes no DALI examples (no /examples)")
        return
    if not args:
        lines = []
        for number, example in enumerate(examples, start=1):
            lines.append(f"[{number}] {example.name}")
            lines += [f"      {line}" for line in example.query.splitlines()]
        shell.page([*lines, f"({len(examples)} examples; `examples N` runs one)"])
        return
    if not args.isdigit() or not 1 <= int(args) <= len(examples):
        raise ServiceError(f"examples: give a number from 1 to {len(examples)}")
    example = examples[int(args) - 1]
    shell.say(f"-- {example.name}", example.query + ";")
    shell.handle(example.query + ";")


def _cutout(shell: Shell, args: str) -> None:
    from skygate.shell.cutout import run_cutout

    run_cutout(shell, args)


def _cmd(name: str, usage: str, summary: str, action: Callable[[Shell, str], bool | None],
         details: str = "") -> tuple[str, Command]:
    return name, Command(name, usage, summary, details, action)


COMMANDS: dict[str, Command] = dict([
    _cmd("help", "help [COMMAND]", "this list, or what a command does", _help),
    _cmd("describe_table", "describe_table TABLE", "the columns of a table, with types, units and UCDs",
         _describe_table, "TABLE may be schema-qualified or, when unique, the bare table name."),
    _cmd("find_tables", "find_tables PATTERN", "tables whose name matches (% or * wildcards)", _find_tables,
         "A bare word matches anywhere in the qualified name: `find_tables main` finds des_dr1.main."),
    _cmd("find_tables_with_column", "find_tables_with_column PATTERN", "tables having a matching column",
         _find_tables_with_column, "Example: find_tables_with_column mag_auto%"),
    _cmd("load_table", "load_table FILE [NAME]", "store a local table on the service (or for this session)",
         load_table, "Reads .csv .tsv .fits .vot .parquet .h5; NAME defaults to the file's name. A service that "
         "keeps user tables stores it in your schema for good: query it as user_<you>.NAME in any later session. "
         "Elsewhere it stays in this session and is sent with each query naming TAP_UPLOAD.NAME (TAP's upload)."),
    _cmd("mytables", "mytables", "your tables on the service, then this session's", list_tables,
         "Tables on the service are those /tables lists in user_* schemas (only yours), with their row counts."),
    _cmd("drop_table", "drop_table NAME", "drop one of your tables (service or session)", drop_table,
         "NAME is user_<you>.NAME or NAME for a table on the service (else the session table NAME), "
         "TAP_UPLOAD.NAME for a session table only."),
    _cmd("whoami", "whoami", "who the service thinks you are", _whoami),
    _cmd("myquota", "myquota", "your quota, or the service's limits", _myquota,
         "From the service's /quota: your active jobs, your tables' storage, upload and request limits; a "
         "service answering no /quota gets its published limits for everyone shown instead."),
    _cmd("jobs", "jobs", "the async jobs the service lists", _jobs),
    _cmd("job", "job ID [show|results|delete] [> file]", "one async job: its state, its result, or delete it",
         _job),
    _cmd("examples", "examples [N]", "the service's example queries; `examples N` runs one", _examples),
    _cmd("cutout", "cutout RA DEC [SIZE] [BANDS] > file.fits", "image cutouts around a position (SODA)",
         _cutout, "RA, DEC in degrees; SIZE the side in arcminutes (1); BANDS letters such as gri (all). Images "
         "come from ivoa.obscore, each cut through the SODA service its DataLink document names; every cutout "
         "is one image extension of the file, named by its obs_id."),
    _cmd("loadsql", "loadsql FILE", "run the statements of a file (each ending in ';')", _loadsql,
         "Lines starting with -- are comments; a statement may end in '; > file' or '; < check'."),
    _cmd("history", "history [N|WORD]", "the last N entries (20), or those containing WORD", _history,
         "The history is kept across sessions; Ctrl-R searches it at the prompt."),
    _cmd("prefetch", "prefetch [N]", "how many rows a query shows", _prefetch),
    _cmd("config", "config [KEY VALUE]", "the session's settings, or change one", _config,
         "Tunable: prefetch, sync_wait, timeout, poll, pager (on/off)."),
    _cmd("refresh_metadata_cache", "refresh_metadata_cache", "read the service's tables again", _refresh,
         "The tables are cached per service URL; this reads /tables again and rewrites the cache."),
    _cmd("exit", "exit", "leave (also quit, or Ctrl-D)", _exit),
    _cmd("quit", "quit", "leave", _exit),
])
