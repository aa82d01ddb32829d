"""Drive ``python -m skygate.shell`` through a pseudo-terminal (pexpect), as a user at a keyboard.

prompt_toolkit redraws with escape sequences; ``Terminal.wait_for`` matches against the screen text
with them removed, from where the previous match ended.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[=>]|\r")


class Terminal:
    """One shell session in a pty; ``text`` is everything shown so far, escapes stripped."""

    def __init__(self, tap_url: str, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TERM": "xterm",
                   "PROMPT_TOOLKIT_NO_CPR": "1", "NO_COLOR": "1", "LANG": "C.UTF-8",
                   "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"), **(env or {})}
        self.child = pexpect.spawn(sys.executable, ["-m", "skygate.shell", tap_url, *args], env=environ,
                                   encoding="utf-8", timeout=60, dimensions=(50, 160))
        self.text = ""
        self.seen = 0

    def _pump(self, timeout: float) -> None:
        try:
            chunk = self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            return
        except pexpect.EOF:
            if self.child.isalive():
                raise
            time.sleep(timeout)
            return
        self.text = _ESCAPES.sub("", self.text + chunk)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """Wait until ``pattern`` (a regex) appears after the last match; the match."""
        compiled = re.compile(pattern, re.DOTALL)
        deadline = time.monotonic() + timeout
        while True:
            match = compiled.search(self.text, self.seen)
            if match:
                self.seen = match.end()
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} did not appear; the screen ends with:\n{self.text[-3000:]}")
            self._pump(0.2)

    def prompt(self, timeout: float = 60) -> str:
        """Wait for the next ``ADQL>`` prompt; what was shown since the last match."""
        start = self.seen
        match = self.wait_for(r"ADQL>", timeout)
        return self.text[start: match.start()]

    def type(self, text: str) -> None:
        """Type ``text``; each newline is an Enter key."""
        for line in text.split("\n")[:-1]:
            self.child.send(line)
            self.child.send("\r")
        self.child.send(text.split("\n")[-1])

    def enter(self, text: str, until: str, timeout: float = 60) -> str:
        """Type an entry and Enter, wait for ``until`` in the output and then the next prompt; the text
        shown from the Enter to that prompt (prompt_toolkit redraws the prompt while typing, so the
        output marker, not the prompt, tells that the entry ran)."""
        start = self.seen
        self.type(text + "\n")
        self.wait_for(until, timeout)
        end = self.wait_for(r"ADQL>", timeout).start()
        return self.text[start:end]

    def close(self) -> None:
        if self.child.isalive():
            self.child.sendcontrol("d")
            try:
                self.child.expect(pexpect.EOF, timeout=10)
            except pexpect.TIMEOUT:
                self.child.terminate(force=True)
        self.child.close()
