"""The README's settings table documents every ``SKYGATE_*`` setting, with the code's defaults.

A setting added to ``skygate/settings.py`` without a row here fails with its name; so does a row
for a setting that no longer exists, or a default that differs from the code's.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from skygate.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
NAME = re.compile(r"`(SKYGATE_[A-Z0-9_]+)`")


def _settings_rows() -> list[tuple[list[str], str]]:
    """(names, default cell) for each row of the table under ``## Settings``."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Settings", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and (names := NAME.findall(cells[0])):
            rows.append((names, cells[1]))
    return rows


def _documented() -> dict[str, str]:
    """Variable name -> its default as the README gives it (``A / B`` rows split in order)."""
    out: dict[str, str] = {}
    for names, default in _settings_rows():
        parts = [p.strip() for p in default.split(" / ")] if len(names) > 1 else [default]
        for i, name in enumerate(names):
            out[name] = parts[i] if i < len(parts) else default
    return out


def test_every_setting_has_a_row() -> None:
    expected = {f"SKYGATE_{f.name.upper()}" for f in fields(Settings)}
    documented = set(_documented())
    missing = sorted(expected - documented)
    assert not missing, (f"README.md ## Settings does not document {', '.join(missing)}: add a row "
                         "(variable, default, meaning) for each")
    stale = sorted(documented - expected)
    assert not stale, (f"README.md ## Settings documents {', '.join(stale)}, "
                       "which skygate/settings.py does not read")


def test_documented_defaults_match_the_code() -> None:
    defaults = Settings()
    wrong = []
    for name, cell in _documented().items():
        value = getattr(defaults, name.removeprefix("SKYGATE_").lower(), None)
        if isinstance(value, bool):
            ok = cell.lower() == str(value).lower()
        elif isinstance(value, int | float):
            number = re.fullmatch(r"[\d_ ]+(?:\.\d+)?", cell.replace(",", ""))
            ok = number is not None and float(cell.replace(" ", "").replace("_", "")) == value
        elif isinstance(value, str) and value:
            ok = f"`{value}`" in cell
        else:
            ok = True  # empty and path defaults are described in words
        if not ok:
            wrong.append(f"{name}: README says {cell!r}, the code {value!r}")
    assert not wrong, "README.md ## Settings defaults differ from skygate/settings.py:\n" + "\n".join(wrong)


def test_the_table_is_found() -> None:
    assert len(_settings_rows()) >= 10
