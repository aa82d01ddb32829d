"""The repository alone is the product: no file of it names a place or a document outside the checkout.

A fresh clone has nothing beside it, so a path into a sibling folder (the shared guidance folder of
our CI machines), into a developer's home or work folder, or into this very checkout by its absolute
name works on one machine and fails on every other. Test data lives under tests/ (tests/conformance/).
Likewise a comment or docstring that cites a document the repository does not hold (a Markdown file
of another folder, notes or briefs kept elsewhere) sends the reader nowhere: cite the public standard
("DALI 1.1 §4.2"), the README or a module, or give the reason in place.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not scanned: what git ignores (the venv, generated data, caches) and the VCS itself.
SKIP_DIRS = {".git", ".venv", "var", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache",
             ".ruff_cache", ".hypothesis", "node_modules"}
SHARED = "shared"  # spelled apart so this file does not match its own patterns
FORBIDDEN = [
    (re.compile(r"/\s*[\"']" + SHARED + r"[\"']"), "a sibling folder of the checkout"),
    (re.compile(r"\.\./+" + SHARED + r"\b"), "a sibling folder of the checkout"),
    (re.compile(r"(?<![\w.-])" + SHARED + r"/[\w.-]"), "the guidance folder beside the checkout"),
    (re.compile(r"(?<![\w.~-])/(?:work|home|Users|mnt)/[\w.-]"), "an absolute path on a developer machine"),
]
# A Markdown document named anywhere must be one the repository holds (matched by file name).
DOCUMENT = re.compile(r"[\w-]+\.md\b")
# Notes that were never part of the repository, spelled apart so this file does not match itself.
NOTE = re.compile(r"\bbrief\s*§|\b" + "design" + r"\s+notes?\b", re.IGNORECASE)


def _files() -> list[Path]:
    """Tracked and new (not ignored) files when this is a git checkout, else every file outside SKIP_DIRS."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        found: list[Path] = []
        for folder, dirs, names in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
            found.extend(Path(folder) / name for name in names)
        return found
    return [ROOT / name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


def _findings(label: str, text: str, root_text: str) -> list[str]:
    out: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        out.extend(f"{label}:{number}: {match.group(0)!r} names {what}"
                   for pattern, what in FORBIDDEN if (match := pattern.search(line)))
        if root_text in line:
            out.append(f"{label}:{number}: names this checkout by its absolute path")
    return out


def _file_findings(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []  # binary files hold no paths we write
    return _findings(str(path.relative_to(ROOT)), text, str(ROOT))


def test_no_file_names_a_place_outside_the_repository() -> None:
    files = _files()
    assert len(files) > 50, "the file listing found too little to be the repository"
    findings = [finding for path in files for finding in _file_findings(path)]
    assert findings == [], "files that name places outside the repository:\n" + "\n".join(findings)


def _document_findings(label: str, text: str, documents: set[str]) -> list[str]:
    out: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        out.extend(f"{label}:{number}: cites {match.group(0)!r}, which the repository does not hold"
                   for match in DOCUMENT.finditer(line) if match.group(0) not in documents)
        if note := NOTE.search(line):
            out.append(f"{label}:{number}: cites {note.group(0)!r}, a note the repository does not hold")
    return out


def test_no_file_cites_a_document_the_repository_does_not_hold() -> None:
    files = _files()
    documents = {path.name for path in files if path.suffix == ".md"}
    assert "README.md" in documents, "the file listing found no README.md"
    findings: list[str] = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files cite nothing
        findings += _document_findings(str(path.relative_to(ROOT)), text, documents)
    assert findings == [], "files that cite documents outside the repository:\n" + "\n".join(findings)


def test_the_document_patterns_catch_what_they_are_for() -> None:
    lines = ["# see " + "DATA" + ".md §2", "(standards" + ".md §14)", "see deploy/README.md", "the brief" + " §3 says",
             "as the " + "design" + " note asks", "a brief summary; §3 of TAP 1.1", "README.md, section Limits"]
    found = _document_findings("sample.py", "\n".join(lines), {"README.md"})
    assert [int(f.split(":")[1]) for f in found] == [1, 2, 4, 5]


def test_the_patterns_catch_what_they_are_for() -> None:
    """Each kind of outside reference is found, and ordinary prose is not (so an empty result above
    means something)."""
    lines = ['CORPUS = ROOT / ".." / "' + SHARED + '" / "x"', 'p = "../' + SHARED + '/conformance/xsd"',
             "# see " + SHARED + "/DATA" + ".md section 2", 'open("/' + 'work/main/tests/x")',
             'open("/' + 'home/alice/x")',
             'open("/srv/checkout/tests/x")', "results are " + SHARED + " by workers; /srv/skygate; /tmp/x"]
    found = _findings("sample.py", "\n".join(lines), "/srv/checkout")
    assert [int(f.split(":")[1]) for f in found] == [1, 2, 2, 3, 4, 5, 6]
