"""pyproject.toml: every package ships in the wheel, installs need no compiler, no deprecated fields."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Packages that need a compiler where no wheel fits: only in extras, never in the dependencies.
COMPILED_ELSEWHERE = {"isotree", "eif"}


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()


def test_every_package_and_subpackage_is_in_the_wheel() -> None:
    include = PROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = [d for d in ROOT.iterdir()
            if (d / "__init__.py").is_file() and d.name not in {"tests", "benchmarks"}]
    on_disk = sorted(".".join(path.parent.relative_to(ROOT).parts)
                     for top in tops for path in top.rglob("__init__.py"))
    assert "release.demo" in on_disk
    left_out = [name for name in on_disk
                if not any(fnmatch.fnmatchcase(name, pattern) for pattern in include)]
    assert not left_out, f"packages a wheel would leave out: {left_out}"


def test_license_is_an_spdx_expression() -> None:
    assert PROJECT["project"]["license"] == "BSD-3-Clause"  # a table is deprecated by setuptools


def test_runtime_dependencies_need_no_compiler() -> None:
    names = {_name(r) for r in PROJECT["project"]["dependencies"]}
    assert not names & COMPILED_ELSEWHERE
    assert "isotree" in {_name(r) for r in PROJECT["project"]["optional-dependencies"]["bench"]}
    assert "pytest-xdist" in {_name(r) for r in PROJECT["project"]["optional-dependencies"]["test"]}
