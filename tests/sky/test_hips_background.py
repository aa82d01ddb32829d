"""``skygate serve --build-hips``: the HiPS are built by a niced child process while the service answers,
an order-8 preview first when none exists; ``/hips/list`` says a build is under way, then lists the
surveys; stopping the service stops the build."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import pytest

from sky.hipsmeta import building_marker, hipslist
from skygate.hips_background import BackgroundHips
from skygate.serve import run_serve
from skygate.settings import Settings


def _settings(tmp_path: Path, release: Path) -> Settings:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "release").symlink_to(release, target_is_directory=True)
    return Settings(data_dir=data_dir)


def test_the_build_runs_in_the_background_and_lists_its_surveys_when_done(
        tmp_path: Path, small_release: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path, small_release)

    async def run() -> tuple[str, int]:
        # Niced a little only: under a parallel test run a niceness of 10 would starve it.
        hips = BackgroundHips(settings, workers=1, nice=2)
        assert await hips.start()
        assert hips.process is not None
        during = hipslist(settings.hips_dir, settings.base_url)
        niceness = os.getpriority(os.PRIO_PROCESS, hips.process.pid) - os.getpriority(os.PRIO_PROCESS, 0)
        await asyncio.wait_for(hips._watch, timeout=300)  # type: ignore[arg-type]
        return during, niceness

    during, niceness = asyncio.run(run())
    assert "being built in the background" in during and "hips_service_url" not in during
    assert niceness == 2, "the build must yield the CPU to the API"
    out = capsys.readouterr().out
    assert "building the HiPS for /sky and Aladin in the background" in out
    preview, full = out.index("HiPS preview ready: built 4 HiPS"), out.index("HiPS ready: built 4 HiPS")
    assert preview < full, "the order-8 preview first, then the coadds' own order"
    assert not building_marker(settings.hips_dir).exists()
    after = hipslist(settings.hips_dir, settings.base_url)
    assert "being built" not in after and after.count("hips_service_url") == 4
    assert "hips_order            = 8" not in after, "the full build replaced the preview"

    async def again() -> None:
        hips = BackgroundHips(settings, workers=1, nice=2)
        assert await hips.start()
        await asyncio.wait_for(hips._watch, timeout=300)  # type: ignore[arg-type]

    asyncio.run(again())
    out = capsys.readouterr().out
    assert "preview" not in out and "HiPS ready: HiPS in" in out and "up to date" in out, "no preview once built"


def test_stopping_the_service_stops_the_build_and_its_marker(tmp_path: Path, small_release: Path) -> None:
    settings = _settings(tmp_path, small_release)

    async def run() -> int | None:
        hips = BackgroundHips(settings, workers=1)
        assert await hips.start()
        await asyncio.sleep(0.5)
        await hips.stop()
        assert hips.process is not None
        return hips.process.returncode

    assert asyncio.run(run()) is not None
    assert not building_marker(settings.hips_dir).exists()
    assert "No HiPS built yet: run `skygate hips build`" in hipslist(settings.hips_dir, settings.base_url)


def test_a_release_without_coadds_starts_nothing(tmp_path: Path, ci_release_dir: Path) -> None:
    release = tmp_path / "release"
    (release / "catalog").mkdir(parents=True)
    (release / "catalog" / "dr1_tile_info.parquet").symlink_to(ci_release_dir / "catalog" / "dr1_tile_info.parquet")
    settings = _settings(tmp_path, release)
    assert asyncio.run(BackgroundHips(settings).start()) is False
    assert not settings.hips_dir.exists()


def test_build_hips_needs_one_api_process(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYGATE_DATA_DIR", str(tmp_path))
    args = argparse.Namespace(host="127.0.0.1", port=0, workers=2, build_hips=True)
    assert run_serve(args) == 2
    assert "--build-hips runs one build beside one API process" in capsys.readouterr().err


def test_a_build_that_cannot_start_is_reported_and_leaves_no_marker(
        tmp_path: Path, small_release: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    settings = _settings(tmp_path, small_release)

    async def refused(*args: object, **kwargs: object) -> None:
        raise OSError("no such interpreter")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", refused)
    assert asyncio.run(BackgroundHips(settings).start()) is False
    assert "could not start: no such interpreter" in capsys.readouterr().err
    assert not building_marker(settings.hips_dir).exists()
