"""``skygate hips build``: builds into {data_dir}/hips with progress lines, then only what changed;
errors are one line, status 2; one build at a time per folder. ``skygate demo`` says how the HiPS get built."""

from __future__ import annotations

from pathlib import Path

import pytest

from skygate import cli_release
from skygate.cli import main
from skygate.settings import Settings


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


def test_a_second_build_says_nothing_changed_and_force_rebuilds(data_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hips", "build", "--bands", "r", "--order", "8", "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["hips", "build", "--bands", "r", "--order", "8", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "up to date: none of the 1 coadds changed" in captured.out and "nothing reprojected" in captured.out
    assert "reproject" not in captured.err
    assert main(["hips", "build", "--bands", "r", "--order", "8", "--workers", "1", "--force"]) == 0
    captured = capsys.readouterr()
    assert "reproject: 1/1" in captured.err and "1 of 1 coadds new or changed" in captured.out


def test_demo_says_how_the_hips_are_built_until_they_are(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings.from_env()
    cli_release._hips_note(settings)
    assert "`make serve` builds them in the background" in capsys.readouterr().out
    assert main(["hips", "build", "--order", "8", "--workers", "1"]) == 0
    capsys.readouterr()
    cli_release._hips_note(settings)
    assert capsys.readouterr().out == "", "built: nothing to say"


def test_a_second_build_in_the_same_folder_is_refused(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import fcntl

    (data_dir / "hips").mkdir()
    with (data_dir / "hips" / ".lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert main(["hips", "build", "--bands", "r", "--order", "8", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "another HiPS build is running in" in err and "Traceback" not in err
    assert main(["hips", "build", "--bands", "r", "--order", "8", "--workers", "1"]) == 0, "free once released"

