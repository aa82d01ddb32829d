"""The deployment manifests stay consistent with the code: known settings, real commands."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from skygate.cli import build_parser
from skygate.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _documents() -> list[dict]:  # type: ignore[type-arg]
    docs: list[dict] = []  # type: ignore[type-arg]
    for path in sorted(DEPLOY.rglob("*.y*ml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _settings_names(doc: object) -> set[str]:
    found: set[str] = set()
    if isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(key, str) and key.startswith("SKYGATE_"):
                found.add(key)
            found |= _settings_names(value)
    elif isinstance(doc, list):
        for item in doc:
            found |= _settings_names(item)
    return found


def _commands(doc: object) -> list[list[str]]:
    found: list[list[str]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "command" and isinstance(value, list) and value and value[0] == "skygate":
                found.append(value)
            else:
                found.extend(_commands(value))
    elif isinstance(doc, list):
        for item in doc:
            found.extend(_commands(item))
    return found


def test_manifests_use_only_known_settings() -> None:
    names = set().union(*(_settings_names(d) for d in _documents()))
    assert names, "the manifests set no SKYGATE_ variables"
    Settings.from_env({name: "postgresql://x@y/z" if "URL" in name else "/srv" for name in names})


@pytest.mark.parametrize("command", [c for d in _documents() for c in _commands(d)])
def test_manifest_commands_parse(command: list[str]) -> None:
    args = build_parser().parse_args(command[1:])
    assert args.command in {"serve", "worker"}


def test_dockerfile_copies_every_package() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for package in ["dali", "adql", "release", "uws", "tap", "sia", "soda", "anomaly", "registry", "skygate"]:
        assert f"COPY {package} {package}" in text
