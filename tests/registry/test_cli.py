"""``skygate registry show``: lists the records, prints one, reads --metadata, never writes the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from skygate.cli import main
from tests.dali.xmlschema import xsd_errors


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sky_duckdb: Path) -> Path:
    for name in ("SKYGATE_DATABASE_URL", "SKYGATE_AUTHORITY", "SKYGATE_REGISTRY_METADATA", "SKYGATE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "var"
    root.mkdir()
    (root / "catalog.duckdb").symlink_to(sky_duckdb)
    monkeypatch.setenv("SKYGATE_DATA_DIR", str(root))
    monkeypatch.setenv("SKYGATE_AUTHORITY", "cli.example.org")
    return root


def test_lists_every_record(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "ivo://cli.example.org/scs/sky.points\tvs:CatalogService\tactive\t" in "\n".join(lines)
    assert len(lines) == 9
    assert not (data_dir / "registry-ledger.json").exists()


def test_prints_one_record_by_key_with_the_metadata_file(data_dir: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    metadata = tmp_path / "registry.toml"
    metadata.write_text('publisher = "CLI Observatory"\n')
    assert main(["registry", "show", "tap", "--metadata", str(metadata)]) == 0
    out = capsys.readouterr().out
    assert xsd_errors(out.encode()) == []
    root = etree.fromstring(out.encode())
    assert root.findtext("identifier") == "ivo://cli.example.org/tap"
    assert root.findtext("curation/publisher") == "CLI Observatory"


def test_errors_are_one_line(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["registry", "show", "nothing"]) == 2
    assert "no record ivo://cli.example.org/nothing" in capsys.readouterr().err
    monkeypatch.setenv("SKYGATE_AUTHORITY", "x")
    assert main(["registry", "show"]) == 2
    assert "not an IVOA authority" in capsys.readouterr().err


def test_warns_about_the_placeholder_authority(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SKYGATE_AUTHORITY")
    assert main(["registry", "show"]) == 0
    assert "placeholder skygate.example" in capsys.readouterr().err


def test_serve_refuses_bad_registry_settings_in_one_line(data_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('colour = "blue"\n')
    monkeypatch.setenv("SKYGATE_REGISTRY_METADATA", str(bad))
    assert main(["serve", "--port", "1"]) == 2
    assert capsys.readouterr().err.startswith("skygate serve: unknown registry metadata key 'colour'")
