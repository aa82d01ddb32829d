"""``skygate hips build``: builds into {data_dir}/hips with progress lines; errors are one line, status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from skygate.cli import main


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_release: Path) -> Path:
    for name in ("SKYGATE_DATABASE_URL", "SKYGATE_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SKYGATE_DATA_DIR", str(tmp_path / "var"))
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "release").symlink_to(small_release, target_is_directory=True)
    return tmp_path / "var"


def test_hips_build_one_band(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hips", "build", "--bands", "r", "--order", "8", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "reproject: 1/1" in captured.err and "band surveys: 1/1" in captured.err
    assert "des_dr1_r: order 8" in captured.out and "built 1 HiPS" in captured.out
    assert (data_dir / "hips" / "des_dr1_r" / "properties").is_file()
    assert list((data_dir / "hips" / "des_dr1_r").glob("Norder8/Dir*/Npix*.fits"))
    assert not (data_dir / "hips" / "des_dr1_colour_irg").exists(), "colour needs i, r and g"


@pytest.mark.parametrize(("argv", "words"), [(["--bands", "q"], "unknown band"), (["--order", "20"], "order")])
def test_hips_build_errors(data_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], words: str) -> None:
    assert main(["hips", "build", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
