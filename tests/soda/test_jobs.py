"""The soda-async and soda-bulk job kinds, run with a real ``uws.JobContext``."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
from astropy.io import fits

from dali.errors import FatalError, UsageError
from dali.regions import Circle
from release.obscore import image_did, tile_did
from skygate.settings import Settings
from soda.cutout import NoOverlapError
from soda.jobs import SodaJobResources, check_async, run_async, run_bulk_job
from soda.params import SodaRequest
from soda.service import run_cutouts
from tests.soda.tiles import SIDE_DEG, TILES, write_tile
from uws import JobContext, Parameter, Parameters


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jobs")
    for band in ("g", "r"):
        write_tile(root / "release", "DES2134-0041", band)
    return root


def _ctx(data_dir: Path, tmp_path: Path, params: Parameters) -> JobContext:
    return JobContext(job_id="j1", kind="soda-async", parameters=params, job_dir=tmp_path / "j1",
                      resources=SodaJobResources(Settings(data_dir=data_dir).release_dir))


def test_async_one_result_per_cutout(data_dir: Path, tmp_path: Path) -> None:
    params = Parameters([Parameter("ID", tile_did("DES2134-0041")), Parameter("CIRCLE", "323.36 -0.82 0.02"),
                         Parameter("POS", "CIRCLE 10 10 0.1")])
    ctx = _ctx(data_dir, tmp_path, params)
    results = run_async(params, ctx)
    by_id = {r.id: r for r in results}
    # g and r times two regions: two cutouts, two NoOverlap notes, and "result" with both cutouts.
    assert sorted(by_id) == ["cutout-1", "cutout-2", "cutout-3", "cutout-4", "result"]
    assert results[0].id == "result" and ctx.last_progress == (4, 4)
    # Regions in order POS, CIRCLE: the POS circle (far away) misses both images.
    assert all((ctx.results_dir / f"cutout-{n}").read_bytes().startswith(b"NoOverlap: ") for n in (1, 3))
    assert (ctx.results_dir / "cutout-2").read_bytes().startswith(b"SIMPLE")
    with fits.open(io.BytesIO((ctx.results_dir / "result").read_bytes())) as hdul:
        assert hdul[0].header["NCUTOUTS"] == 2


def test_async_errors(data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        check_async(Parameters([Parameter("ID", image_did("DES2134-0041", "g"))]))
    params = Parameters([Parameter("ID", image_did("DES2134-0041", "g")), Parameter("CIRCLE", "10 10 0.1")])
    with pytest.raises(NoOverlapError):
        run_async(params, _ctx(data_dir, tmp_path, params))


def test_bulk_job_results(data_dir: Path, tmp_path: Path) -> None:
    upload = tmp_path / "positions.csv"
    upload.write_text("RA,DEC\n323.36,-0.82\n323.5,-0.6\n")
    params = Parameters([Parameter("positions", "positions.csv", by_reference=True),
                         Parameter("COLORS_FITS", "gr"), Parameter("XSIZE", "0.5")], files={"positions": upload})
    ctx = _ctx(data_dir, tmp_path, params)
    ids = [r.id for r in run_bulk_job(params, ctx)]
    assert ids[0] == "result" and {"summary.json", "log", "positions.csv"} <= set(ids)
    assert "DES2134-0041__DESJ213326.4000-004912.0000__DESJ213326.4000-004912.0000_g.fits" in ids
    assert sum(i.endswith(".fits") for i in ids) == 4


def test_async_results_are_written_as_read_not_held_in_memory(tmp_path_factory: pytest.TempPathFactory,
                                                               tmp_path: Path) -> None:
    # eight whole-tile cutouts of 600 x 600 pixels, 4.3 MB each: "result" holds all eight (35 MB)
    root = tmp_path_factory.mktemp("big")
    write_tile(root / "release", "DES2134-0041", "g", npix=600)
    ra, dec = TILES["DES2134-0041"]
    params = Parameters([Parameter("ID", image_did("DES2134-0041", "g")),
                         *(Parameter("CIRCLE", f"{ra + k * 1e-4} {dec} {SIDE_DEG}") for k in range(8))])
    ctx = _ctx(root, tmp_path, params)
    tracemalloc.start()
    try:
        run_async(params, ctx)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    size = (ctx.results_dir / "result").stat().st_size
    assert size > 8 * 600 * 600 * 12
    assert peak < size / 3, (peak, size)  # before, the whole "result" was built in memory: 40 MB
    with fits.open(ctx.results_dir / "result") as hdul:
        assert hdul[0].header["NCUTOUTS"] == 8 and hdul["SCI", 8].data.shape == (600, 600)


@pytest.mark.parametrize("run", [run_async, run_bulk_job])
def test_soda_kinds_refuse_to_run_without_their_resources(tmp_path: Path, run: object) -> None:
    params = Parameters([Parameter("ID", tile_did("DES2134-0041")), Parameter("CIRCLE", "323.36 -0.82 0.02"),
                         Parameter("positions", "RA,DEC\n323.36,-0.82\n")])
    ctx = JobContext(job_id="j1", kind="soda-async", parameters=params, job_dir=tmp_path / "j1", resources=None)
    with pytest.raises(FatalError, match="registered without their resources"):
        run(params, ctx)  # type: ignore[operator]


def test_sync_cutouts_are_written_as_read(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    # what /soda/sync runs in its thread, into the file it answers from: eight whole-tile cutouts (35 MB)
    root = tmp_path_factory.mktemp("sync")
    write_tile(root / "release", "DES2134-0041", "g", npix=600)
    ra, dec = TILES["DES2134-0041"]
    circles = tuple(Circle(ra + k * 1e-4, dec, SIDE_DEG) for k in range(8))
    request = SodaRequest((image_did("DES2134-0041", "g"),), circles, ())
    with (tmp_path / "cutout.fits").open("w+b") as out:
        tracemalloc.start()
        try:
            assert run_cutouts(Settings(data_dir=root).release_dir, request, out) == 8
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        size = out.tell()
    assert size > 8 * 600 * 600 * 12 and peak < size / 3, (peak, size)
