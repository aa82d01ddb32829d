"""Images end to end, as astronomers reach them: pyvo SIA 2.0 -> DataLink -> SODA, STILTS
datalinklint, and bulk cutout jobs through curl and pyvo's UWS job API, against uvicorn serving
the ``ci`` release (g r i for DES2134-0041 and DES2359-0041)."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
import requests
from astropy.io import fits
from astropy.wcs import WCS

from release.obscore import image_did
from tests.live_fixtures import LiveServer, serve

pytestmark = pytest.mark.live
M2 = (323.36, -0.82)


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory, ci_duckdb_path: Path,
                 ci_release_dir: Path) -> Iterator[LiveServer]:
    """The application with the catalogue and the release's image files."""
    from skygate.settings import Settings

    data_dir = tmp_path_factory.mktemp("images-live")
    (data_dir / "catalog.duckdb").symlink_to(ci_duckdb_path)
    (data_dir / "release").symlink_to(ci_release_dir.resolve(), target_is_directory=True)
    yield from serve(Settings(data_dir=data_dir, maxrec_default=1000, maxrec_hard=100_000))


def _centre(hdu: fits.ImageHDU) -> tuple[float, float]:
    ny, nx = hdu.data.shape
    ra, dec = WCS(hdu.header).all_pix2world([[(nx - 1) / 2, (ny - 1) / 2]], 0)[0]
    return float(ra), float(dec)


def _pixel_error(hdu: fits.ImageHDU, ra: float, dec: float) -> float:
    ny, nx = hdu.data.shape
    x, y = WCS(hdu.header).all_world2pix([[ra, dec]], 0)[0]
    return float(max(abs(x - (nx - 1) / 2), abs(y - (ny - 1) / 2)))


def test_pyvo_sia_finds_the_m2_images(image_server: LiveServer, pyvo_session: requests.Session) -> None:
    import pyvo

    service = pyvo.dal.SIA2Service(f"{image_server.url}/sia", session=pyvo_session)
    results = service.search(pos=(M2[0], M2[1], 0.05))
    assert sorted(str(r["obs_id"]) for r in results) == ["DES2134-0041_g", "DES2134-0041_i", "DES2134-0041_r"]
    ra0 = service.search(pos=(0.1, -0.7, 0.01))
    assert {str(r["target_name"]) for r in ra0} == {"DES2359-0041"}
    g_band = service.search(pos=(M2[0], M2[1], 0.05), band=(5.0e-7, 5.2e-7), calib_level=3)
    assert [str(r["obs_id"]) for r in g_band] == ["DES2134-0041_g"]


def test_pyvo_datalinks_and_processed_cutouts(image_server: LiveServer, ci_release_dir: Path,
                                              pyvo_session: requests.Session) -> None:
    import pyvo

    # A bright, isolated catalogue object away from the cluster core.
    table = pq.read_table(ci_release_dir / "catalog" / "dr1_main.parquet",
                          columns=["alphawin_j2000", "deltawin_j2000", "mag_auto_i", "tilename"]).to_pandas()
    table = table[(table.tilename == "DES2134-0041") & table.mag_auto_i.between(17.0, 18.5)]
    table = table[(abs(table.alphawin_j2000 - 323.6) < 0.2) & (abs(table.deltawin_j2000 + 0.6) < 0.2)]
    star = table.iloc[0]
    ra, dec = float(star.alphawin_j2000), float(star.deltawin_j2000)

    results = pyvo.dal.SIA2Service(f"{image_server.url}/sia", session=pyvo_session).search(pos=(ra, dec, 0.01))
    seen = []
    for links in results.iter_datalinks():
        cutout_link = next(links.bysemantics("#cutout", include_narrower=False))
        this = next(links.bysemantics("#this", include_narrower=False))
        assert this.content_type == "application/fits"
        data = cutout_link.processed(circle=(ra, dec, 0.01)).read()
        with fits.open(io.BytesIO(data)) as hdul:
            sci = hdul["SCI"]
            assert _pixel_error(sci, ra, dec) <= 0.5
            x, y = WCS(sci.header).all_world2pix([[ra, dec]], 0)[0]
            near = sci.data[round(y) - 3:round(y) + 4, round(x) - 3:round(x) + 4]
            assert near.max() == sci.data[round(y), round(x)] or abs(np.unravel_index(
                np.argmax(near), near.shape)[0] - 3) <= 1
            seen.append(sci.header["BAND"])
    assert sorted(seen) == ["g", "i", "r"]
    # The SIA row itself knows the SODA service.
    record = results[0]
    with fits.open(io.BytesIO(record.processed(circle=(ra, dec, 0.02)).read())) as hdul:
        assert _pixel_error(hdul["SCI"], ra, dec) <= 0.5


def _datalinklint(url: str) -> str:
    run = subprocess.run(["stilts", "datalinklint", f"votable={url}"], capture_output=True, text=True,
                         timeout=300, check=False, stdin=subprocess.DEVNULL)
    return run.stdout + run.stderr


@pytest.mark.stilts
@pytest.mark.skipif(shutil.which("stilts") is None, reason="STILTS is not installed")
@pytest.mark.parametrize("ids", [
    [image_did("DES2134-0041", "g")],
    ["ivo://skygate/des_dr1/coadd?DES0000+0000_g"],
    [image_did(t, b) for t in ("DES2134-0041", "DES2359-0041") for b in "gri"] * 8
    + [image_did("DES2134-0041", "g"), "ivo://skygate/des_dr1/coadd?nothing"],
], ids=["known", "unknown", "batch-50"])
def test_datalinklint_finds_no_errors(image_server: LiveServer, ids: list[str]) -> None:
    assert len(ids) in (1, 50)
    url = f"{image_server.url}/soda/links?" + urllib.parse.urlencode([("ID", i) for i in ids])
    report = _datalinklint(url)
    totals = re.search(r"Totals: Errors: (\d+); Warnings: (\d+)", report)
    assert totals is not None, report[-2000:]
    assert totals.group(1) == "0", report


def _positions_csv(ci_release_dir: Path, count: int) -> bytes:
    table = pq.read_table(ci_release_dir / "catalog" / "dr1_main.parquet", columns=["ra", "dec"])
    rows = np.random.default_rng(5).choice(table.num_rows, count, replace=False)
    ra, dec = table["ra"].to_numpy()[rows], table["dec"].to_numpy()[rows]
    return ("RA,DEC\n" + "".join(f"{a:.6f},{d:.6f}\n" for a, d in zip(ra, dec, strict=True))).encode()


def _wait(job_url: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = httpx.get(f"{job_url}/phase").text.strip()
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            return phase
        time.sleep(1)
    return "TIMEOUT"


@pytest.mark.slow
def test_bulk_job_through_curl(image_server: LiveServer, ci_release_dir: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "positions.csv"
    csv_path.write_bytes(_positions_csv(ci_release_dir, 1000))
    run = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{redirect_url}", "-F", f"positions=@{csv_path}",
         "-F", "COLORS_FITS=gri", "-F", "RGB_LUPTON_COLORS=irg", "-F", "XSIZE=1", "-F", "PHASE=RUN",
         f"{image_server.url}/soda/bulk"], capture_output=True, text=True, timeout=120, check=True)
    job_url = run.stdout.strip()
    assert job_url.startswith(f"{image_server.url}/soda/bulk/")
    started = time.monotonic()
    progress_seen = False
    while time.monotonic() - started < 600:
        job = httpx.get(job_url).text
        progress_seen = progress_seen or "<progress" in job
        if re.search(r"<uws:phase>(COMPLETED|ERROR|ABORTED)</uws:phase>", job):
            break
        time.sleep(0.5)
    elapsed = time.monotonic() - started
    assert "<uws:phase>COMPLETED</uws:phase>" in job, job[:3000]
    summary = httpx.get(f"{job_url}/results/summary.json").json()
    assert len(summary["cutouts"]) + len(summary["unmatched_positions"]["coord"]) == 1000
    archive = subprocess.run(["curl", "-s", f"{job_url}/results/result"], capture_output=True, timeout=120,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
    assert sum(n.endswith(".fits") for n in names) == 3 * len(summary["cutouts"])
    assert sum(n.endswith("_irg_lupton.png") for n in names) == len(summary["cutouts"])
    print(f"bulk 1000 positions via curl: {elapsed:.1f} s, progress reported: {progress_seen}")


@pytest.mark.slow
def test_bulk_job_through_pyvo_uws(image_server: LiveServer, ci_release_dir: Path,
                                   pyvo_session: requests.Session) -> None:
    from pyvo.dal.tap import AsyncTAPJob

    response = httpx.post(f"{image_server.url}/soda/bulk", data={"COLORS_FITS": "gri", "XSIZE": "1"},
                          files={"positions": ("p.csv", _positions_csv(ci_release_dir, 1000), "text/csv")})
    assert response.status_code == 303
    job = AsyncTAPJob(response.headers["location"], session=pyvo_session)
    assert job.phase == "PENDING"
    job.run()
    job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=600)
    job.raise_if_error()
    assert job.phase == "COMPLETED"
    summary = json.loads(httpx.get(f"{job.url}/results/summary.json").content)
    assert summary["unmatched_positions"] == {"coord": [], "coadd": []} or summary["cutouts"]
    assert job.result_uri.endswith("/results/result")
    job.delete()


def test_soda_async_job(image_server: LiveServer) -> None:
    response = httpx.post(f"{image_server.url}/soda/async",
                          data={"ID": image_did("DES2134-0041", "r"), "CIRCLE": "323.36 -0.82 0.01", "PHASE": "RUN"})
    assert response.status_code == 303
    job_url = response.headers["location"]
    assert _wait(job_url, 120) == "COMPLETED"
    data = httpx.get(f"{job_url}/results/result").content
    with fits.open(io.BytesIO(data)) as hdul:
        assert _pixel_error(hdul["SCI"], *M2) <= 0.5 and hdul["SCI"].header["BAND"] == "r"
    assert httpx.get(f"{job_url}/results/cutout-1").headers["content-type"] == "application/fits"


def test_bulk_by_coadd_object_id(ci_release_dir: Path, tmp_path: Path) -> None:
    from soda.bulk import run_bulk
    from soda.params import BulkOptions, parse_positions

    table = pq.read_table(ci_release_dir / "catalog" / "dr1_main.parquet",
                          columns=["coadd_object_id", "alphawin_j2000", "deltawin_j2000"]).slice(0, 3)
    ids = table["coadd_object_id"].to_pylist()
    csv = "COADD_OBJECT_ID\n" + "".join(f"{i}\n" for i in ids) + "42\n"
    outcome = run_bulk(ci_release_dir, parse_positions(csv.encode()), BulkOptions(colors_fits="i"),
                       tmp_path / "job", job_id="job")
    cutouts = outcome.summary["cutouts"]
    assert isinstance(cutouts, list)
    assert [c["COADD_OBJECT_ID"] for c in cutouts] == ids and cutouts[0]["POSITION_TYPE"] == "coadd"
    assert cutouts[0]["ALPHAWIN_J2000"] == table["alphawin_j2000"][0].as_py()
    assert outcome.summary["unmatched_positions"] == {"coord": [], "coadd": [42]}
    # Objects are named by their id: {TILENAME}/{COADD_OBJECT_ID}/{id}_i.fits
    assert (tmp_path / "job" / cutouts[0]["TILENAME"] / str(ids[0]) / f"{ids[0]}_i.fits").is_file()


@pytest.mark.stilts
@pytest.mark.skipif(shutil.which("stilts") is None, reason="STILTS is not installed")
@pytest.mark.parametrize("path", ["/sia/query?POS=CIRCLE+323.36+-0.82+0.05", "/sia/query?MAXREC=1",
                                  "/soda/links?ID=" + urllib.parse.quote(image_did("DES2359-0041", "i"))])
def test_votlint_is_clean(image_server: LiveServer, path: str) -> None:
    run = subprocess.run(["stilts", "votlint", f"votable={image_server.url}{path}", "ucd=true", "unit=true"],
                         capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL)
    report = run.stdout + run.stderr
    assert not [line for line in report.splitlines() if line.startswith(("ERROR", "WARNING"))], report


@pytest.mark.postgres
def test_pyvo_sia_on_postgres(live_server_postgres: LiveServer, pyvo_session: requests.Session) -> None:
    import pyvo

    service = pyvo.dal.SIA2Service(f"{live_server_postgres.url}/sia", session=pyvo_session)
    results = service.search(pos=(0.1, -0.7, 0.01))
    assert sorted(str(r["obs_id"]) for r in results) == ["DES2359-0041_g", "DES2359-0041_i", "DES2359-0041_r"]
    assert str(results[0]["access_url"]).startswith(f"{live_server_postgres.url}/soda/links?ID=")
