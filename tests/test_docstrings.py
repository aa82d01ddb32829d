"""Module docstrings stay true: every path a ``Tests:`` line names exists (each module says where it
is tested; a moved or renamed test must not leave the pointer dangling)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dali", "adql", "release", "uws", "auth", "tap", "sia", "soda", "anomaly", "registry", "sky", "portal",
            "skygate")
# A "Tests:" line names files or folders under tests/ (or a glob of them), separated by commas or "and".
TESTS_LINE = re.compile(r"Tests:\s*(.+?)(?:\n\s*\n|\Z)", re.S)
TEST_PATH = re.compile(r"tests/[\w/.\-*]*[\w/*]")


def _named_paths() -> list[tuple[str, str]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            docstring = ast.get_docstring(ast.parse(path.read_text(), filename=str(path))) or ""
            for block in TESTS_LINE.findall(docstring):
                found.extend((str(path.relative_to(ROOT)), named.rstrip(".")) for named in TEST_PATH.findall(block))
    return found


def test_tests_lines_name_files_that_exist() -> None:
    named = _named_paths()
    assert len(named) > 50  # the check reads the docstrings at all
    missing = [f"{module}: {path}" for module, path in named if not any(ROOT.glob(path))]
    assert missing == []
