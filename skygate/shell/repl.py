"""The terminal side of the shell: prompt_toolkit input, history, highlighting, the entry point.

``run(args)`` is ``skygate shell [TAP_URL]`` and ``python -m skygate.shell``. Enter submits an entry
once it is a command or ends in ``;`` (with its optional ``> file`` / ``< check``), and otherwise
starts a new line, as in easyaccess. The history file and the metadata cache live under the XDG
directories unless ``--history`` / ``--cache-dir`` say otherwise.
Tests: tests/skygate/shell/test_terminal.py.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from skygate.shell.session import Shell, ShellConfig, is_complete

__all__ = ["add_arguments", "main", "run"]

DEFAULT_URL = "http://127.0.0.1:8000/tap"
TOKEN_VARIABLE = "TAP_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("tap_url", nargs="?", default=DEFAULT_URL, help=f"TAP service base URL ({DEFAULT_URL})")
    parser.add_argument("--token", default=None,
                        help=f"credential sent as Authorization (default: ${TOKEN_VARIABLE}); 'user:password' is "
                             "sent as HTTP Basic when the service declares only Basic")
    parser.add_argument("--history", type=Path, default=None, help="history file")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where the table metadata is cached")
    parser.add_argument("--sync-wait", type=float, default=5.0,
                        help="seconds a query may run sync before it continues as an async job")
    parser.add_argument("--prefetch", type=int, default=50, help="rows shown per query")
    parser.add_argument("-c", "--command", action="append", default=None, metavar="ENTRY",
                        help="run ENTRY (a query ending in ';' or a command) and leave; repeatable")


def config_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> ShellConfig:
    env = dict(os.environ if environ is None else environ)
    data = Path(env.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "skygate-shell"
    cache = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "skygate-shell"
    return ShellConfig(tap_url=args.tap_url, token=args.token or env.get(TOKEN_VARIABLE) or None,
                       history_file=args.history or data / "history", cache_dir=args.cache_dir or cache,
                       sync_wait=args.sync_wait, prefetch=args.prefetch)


def run(args: argparse.Namespace) -> int:
    """Run the shell for parsed ``args``; the exit status."""
    config = config_from(args)
    shell = Shell(config)
    history_path = config.history_file.expanduser()
    shell.history = lambda: _saved_history(history_path)
    if args.command:
        shell.connect()
        for entry in args.command:
            if not shell.handle(entry):
                break
        return 0
    return _interactive(shell)


def _interactive(shell: Shell) -> int:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.enums import DEFAULT_BUFFER
    from prompt_toolkit.filters import has_focus
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.key_binding.key_processor import KeyPressEvent
    from prompt_toolkit.lexers import PygmentsLexer
    from prompt_toolkit.shortcuts import CompleteStyle
    from pygments.lexers.sql import SqlLexer

    from skygate.shell.completion import AdqlCompleter

    history_path = shell.config.history_file.expanduser()
    history_path.parent.mkdir(parents=True, exist_ok=True)
    history = FileHistory(str(history_path))
    bindings = KeyBindings()

    # Only in the entry itself: in Ctrl-R's search field Enter must keep its meaning (accept the match).
    @bindings.add("enter", filter=has_focus(DEFAULT_BUFFER))
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if is_complete(buffer.text, shell.commands):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    completer = AdqlCompleter(lambda: shell.metadata,
                              lambda: {u.name: u.columns for u in shell.uploads.values()},
                              {name: command.summary for name, command in shell.commands.items()})
    session: PromptSession[str] = PromptSession(
        history=history, lexer=PygmentsLexer(SqlLexer), completer=completer, key_bindings=bindings,
        multiline=True, complete_style=CompleteStyle.READLINE_LIKE, complete_while_typing=False,
        prompt_continuation=lambda width, line, wrapped: "... ".rjust(width))
    shell.say(f"skygate shell: {shell.client.tap_url} (help lists the commands; Ctrl-D leaves)")
    shell.connect()
    while True:
        try:
            text = session.prompt("ADQL> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            break
        if not shell.handle(text):
            break
    shell.say("bye")
    return 0


def _saved_history(path: Path) -> list[str]:
    """The entries of the history file, oldest first (prompt_toolkit's FileHistory format)."""
    from prompt_toolkit.history import FileHistory

    if not path.is_file():
        return []
    return list(reversed(list(FileHistory(str(path)).load_history_strings())))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="skygate shell", description="an easyaccess-style shell for TAP services")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
