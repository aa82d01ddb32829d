"""Fixtures of the sky tests: the ``ci`` release's footprints, built once per session."""

from __future__ import annotations

import asyncio
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from release.metadata import Fetch
from sky.moc import Footprint, build_footprints


def duckdb_fetch(path: Path) -> tuple[Fetch, duckdb.DuckDBPyConnection]:
    """A read-only ``fetch`` on an ingested DuckDB file (and its connection, to close)."""
    con = duckdb.connect(str(path), read_only=True)

    async def fetch(sql: str) -> pa.Table:
        return con.execute(sql).to_arrow_table()

    return fetch, con


@pytest.fixture(scope="session")
def sky_duckdb_path(ci_duckdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the ingested ``ci`` release (9 MB) for a plain read-only connection: DuckDB refuses
    a second opening of a file with other settings in one process, and the services of other tests
    hold ``ci_duckdb_path`` open with their memory limits."""
    import shutil

    copy = tmp_path_factory.mktemp("sky-duckdb") / "catalog.duckdb"
    shutil.copyfile(ci_duckdb_path, copy)
    return copy


@pytest.fixture(scope="session")
def ci_moc_dir(sky_duckdb_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The footprints of the ingested ``ci`` release at the default order."""
    out = tmp_path_factory.mktemp("sky") / "moc"
    fetch, con = duckdb_fetch(sky_duckdb_path)
    try:
        asyncio.run(build_footprints(fetch, out))
    finally:
        con.close()
    return out


@pytest.fixture(scope="session")
def ci_footprints(ci_moc_dir: Path) -> dict[str, Footprint]:
    from sky.moc import read_footprints

    return read_footprints(ci_moc_dir)


SMALL_TILE = "DES2134-0041"
SMALL_SIDE = 400  # pixels of the cut coadds: about 7 arcmin, a handful of order-9 HiPS tiles


@pytest.fixture(scope="session")
def small_release(ci_release_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release of one tile whose g, r, i coadds are the centre 400x400 pixels of the ``ci`` ones
    (same layout and headers, shifted WCS), so a HiPS of it builds in seconds at the coadds' order."""
    out = tmp_path_factory.mktemp("small-release")
    _small_release(ci_release_dir, out, {SMALL_TILE: 0})
    return out


PAIR_TILE = "DES2134-0042"  # a made-up neighbour of SMALL_TILE: its centre cut moved 300 pixels east


def pair_release(ci_release_dir: Path, out: Path) -> Path:
    """Two overlapping 400x400 coadds per band (g, r, i): SMALL_TILE's centre and, as PAIR_TILE, the cut
    300 pixels further along x, so that some HiPS tiles come from both and some from one."""
    _small_release(ci_release_dir, out, {SMALL_TILE: 0, PAIR_TILE: 300})
    return out


def _small_release(ci_release_dir: Path, out: Path, tiles: dict[str, int]) -> None:
    """``tiles`` (name -> x offset of the cut from the centre of SMALL_TILE's coadds) as a release in ``out``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from astropy.io import fits
    from astropy.nddata import Cutout2D
    from astropy.wcs import WCS

    (out / "catalog").mkdir(parents=True)
    info = pq.read_table(ci_release_dir / "catalog" / "dr1_tile_info.parquet")
    row = info.filter(pc.equal(info.column("tilename"), SMALL_TILE))
    rows = [row.set_column(row.schema.get_field_index("tilename"), "tilename", pa.array([name])) for name in tiles]
    pq.write_table(pa.concat_tables(rows), out / "catalog" / "dr1_tile_info.parquet")
    for name, offset in tiles.items():
        folder = out / "tiles" / name
        folder.mkdir(parents=True)
        for band in ("g", "r", "i"):
            source = next((ci_release_dir / "tiles" / SMALL_TILE).glob(f"{SMALL_TILE}_r*_{band}.fits.fz"))
            with fits.open(source) as hdul:
                header = hdul["SCI"].header.copy()
                data = np.asarray(hdul["SCI"].data, dtype=np.float32)
            centre = (data.shape[1] / 2 + offset, data.shape[0] / 2)
            cut = Cutout2D(data, centre, (SMALL_SIDE, SMALL_SIDE), wcs=WCS(header))
            for key, value in cut.wcs.to_header().items():
                if key.startswith(("CRPIX", "CRVAL")):
                    header[key] = value
            hdu = fits.CompImageHDU(cut.data, header, name="SCI", compression_type="RICE_1", quantize_level=16.0)
            fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(folder / source.name.replace(SMALL_TILE, name))


@pytest.fixture(scope="session")
def small_hips(small_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HiPS surveys (g, r, i and colour) of ``small_release`` at the coadds' own order, 2 processes."""
    from sky.hips import build_hips

    out = tmp_path_factory.mktemp("hips")
    build_hips(small_release, out, workers=2)
    return out
