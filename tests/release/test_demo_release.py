"""The generated `ci` demo release on disk: layout, manifest, Parquet metadata, invariants, FITS, pixels.

Uses the session fixture ``ci_release_dir`` (var/test-cache/ci/); the determinism test generates the
profile a second time into a temporary directory and compares every file's sha256.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from release.demo import GENERATOR_VERSION, generate
from release.demo.schema import DR1_MAIN, TILE_INFO
from release.tiling import find_tile, tile_by_name

CI_TILES = ("DES2134-0041", "DES2359-0041")


@pytest.fixture(scope="module")
def main_table(ci_release_dir: Path) -> dict[str, np.ndarray]:
    table = pq.read_table(ci_release_dir / "catalog" / "dr1_main.parquet")
    return {name: table.column(name).to_numpy() for name in table.column_names}


def test_layout_and_manifest(ci_release_dir: Path) -> None:
    manifest = json.loads((ci_release_dir / "manifest.json").read_text())
    assert manifest["profile"] == "ci" and manifest["seed"] == 20180109
    assert manifest["generator_version"] == GENERATOR_VERSION
    assert manifest["numpy_version"] == np.__version__
    expected = {"catalog/dr1_main.parquet", "catalog/dr1_tile_info.parquet", "catalog/demo_truth.parquet"}
    for tile in CI_TILES:
        expected.add(f"tiles/{tile}/{tile}_dr1_main.fits")
        expected |= {f"tiles/{tile}/{tile}_r9999p01_{b}.fits.fz" for b in ("g", "r", "i", "det")}
    on_disk = {p.relative_to(ci_release_dir).as_posix() for p in ci_release_dir.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == expected == on_disk - {"manifest.json"}
    for rel, entry in manifest["files"].items():
        data = (ci_release_dir / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]


@pytest.mark.slow
def test_two_runs_are_byte_identical(ci_release_dir: Path, tmp_path: Path) -> None:
    """The cached release was rendered by 2 processes (tests/conftest.py); this run in one, reporting
    its progress: the files are the same."""
    reported: dict[str, list[tuple[int, int | None]]] = {}

    def progress(phase: str, done: int, total: int | None) -> None:
        reported.setdefault(phase, []).append((done, total))

    manifest = json.loads(generate("ci", tmp_path / "again", workers=1, progress=progress).read_text())
    cached = json.loads((ci_release_dir / "manifest.json").read_text())
    assert manifest["files"] == cached["files"]
    assert (tmp_path / "again" / "manifest.json").read_bytes() == (ci_release_dir / "manifest.json").read_bytes()
    assert reported["tiles"] == [(0, 2), (1, 2), (2, 2)]
    assert reported["band images"] == [(n, 6) for n in range(1, 7)]
    assert reported["catalogue rows"][-1] == (cached["rows"], cached["rows"])


def _two_band_images(n: int) -> int:
    """A stand-in tile job (runs in a pool worker): reports two finished band images."""
    module = importlib.import_module("release.demo.generate")  # the package exports the function by this name
    assert module._band_done is not None, "the pool initializer did not install the reporter"
    module._band_done()
    module._band_done()
    return n


def test_band_images_are_counted_from_worker_processes() -> None:
    """With a pool, each band image a worker finishes reaches the parent's progress (through a queue),
    and results still come in job order. (Rendering real tiles twice more would cost a minute.)"""
    module = importlib.import_module("release.demo.generate")
    reported: list[tuple[str, int, int | None]] = []
    counter = module._BandCounter(lambda phase, done, total: reported.append((phase, done, total)), 6)
    with module._Pool(2, 3, counter) as run:
        assert list(run(_two_band_images, [0, 1, 2])) == [0, 1, 2]
    assert counter.done == 6
    assert sorted(done for _, done, _ in reported) == [1, 2, 3, 4, 5, 6]
    assert {(phase, total) for phase, _, total in reported} == {("band images", 6)}


def test_parquet_metadata(ci_release_dir: Path) -> None:
    schema = pq.read_schema(ci_release_dir / "catalog" / "dr1_main.parquet")
    assert schema.names == [c.name for c in DR1_MAIN]
    assert schema.metadata[b"skygate.table"] == b"dr1_main" and b"description" in schema.metadata
    ra = schema.field("ra").metadata
    assert ra[b"unit"] == b"deg" and ra[b"ucd"] == b"pos.eq.ra;meta.main" and ra[b"indexed"] == b"true"
    assert schema.field("tilename").metadata[b"arraysize"] == b"12"
    assert str(schema.field("coadd_object_id").type) == "int64"
    assert str(schema.field("flags_g").type) == "int16"
    assert str(schema.field("mag_auto_g").type) == "float"
    info = pq.read_schema(ci_release_dir / "catalog" / "dr1_tile_info.parquet")
    assert info.names == [c.name for c in TILE_INFO] and len(info.names) == 46
    assert all(b"description" in info.field(n).metadata for n in info.names)


def test_row_groups_by_hpix32(ci_release_dir: Path) -> None:
    meta = pq.ParquetFile(ci_release_dir / "catalog" / "dr1_main.parquet").metadata
    column = [meta.schema.column(i).name for i in range(meta.num_columns)].index("hpix_32")
    seen = []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(column).statistics
        assert stats.min == stats.max
        seen.append(stats.min)
    assert seen == sorted(set(seen))


def test_catalogue_invariants(main_table: dict[str, np.ndarray]) -> None:
    t = main_table
    assert 15_000 < t["ra"].size < 25_000
    assert np.all(t["hpix_1024"] == t["hpix_16384"] >> 8)
    assert np.all(t["hpix_32"] == t["hpix_16384"] >> 18)
    assert np.all(t["hpix_64"] == t["hpix_16384"] >> 16)
    assert t["coadd_object_id"].min() > 2**31 - 1
    assert np.unique(t["coadd_object_id"]).size == t["coadd_object_id"].size
    assert np.abs(t["ra"] - t["alphawin_j2000"]).max() < 1.5e-6


def test_every_object_in_exactly_one_unique_area(main_table: dict[str, np.ndarray]) -> None:
    t = main_table
    tiles = {name: tile_by_name(name) for name in CI_TILES}
    neighbours = [tile_by_name(n) for n in ("DES2131-0041", "DES2137-0041", "DES2134+0001", "DES2134-0124",
                                            "DES2356-0041", "DES0002-0041")]
    for name, tile in tiles.items():
        mine = t["tilename"] == name
        assert mine.any()
        for ra_col, dec_col in (("ra", "dec"), ("alphawin_j2000", "deltawin_j2000")):
            assert tile.contains(t[ra_col][mine], t[dec_col][mine]).all()
            for other in list(tiles.values()) + neighbours:
                if other.tilename != name:
                    assert not other.contains(t[ra_col][mine], t[dec_col][mine]).any()
    cross = t["tilename"] == "DES2359-0041"
    assert (t["ra"][cross] > 359.5).any() and (t["ra"][cross] < 0.5).any()
    for k in np.linspace(0, t["ra"].size - 1, 200).astype(int):
        found = find_tile(float(t["ra"][k]), float(t["dec"][k]))
        assert found is not None and found.tilename == t["tilename"][k]


def test_tile_info_matches_catalogue(ci_release_dir: Path, main_table: dict[str, np.ndarray]) -> None:
    info = pq.read_table(ci_release_dir / "catalog" / "dr1_tile_info.parquet").to_pylist()
    assert [row["tilename"] for row in info] == list(CI_TILES)
    for row in info:
        assert row["count"] == int((main_table["tilename"] == row["tilename"]).sum())
        assert (row["naxis1"], row["crpix1"], row["pixelscale"]) == (2500, 1250.5, 1.052)
        assert (ci_release_dir / row["fits_image_g"]).is_file() and row["fits_image_z"] == ""
        assert (ci_release_dir / row["fits_dr1_main"]).is_file()
    cross = info[1]
    assert cross["crossra0"] == "Y" and cross["uramin"] < 1.0 and cross["uramax"] > 359.0
    assert info[0]["rac1"] == pytest.approx(323.91333, abs=6e-6)


def test_planted_features_in_ci(ci_release_dir: Path, main_table: dict[str, np.ndarray]) -> None:
    truth = pq.read_table(ci_release_dir / "catalog" / "demo_truth.parquet").to_pydict()
    features = set(truth["feature_id"])
    assert {1, 10} <= features
    assert sum(f == 1 for f in truth["feature_id"]) > 800  # M2 analogue at 25 % density
    assert np.isin(truth["coadd_object_id"], main_table["coadd_object_id"]).all()
    m2 = np.hypot((main_table["ra"] - 323.36) * np.cos(np.radians(0.82)), main_table["dec"] + 0.82) < 0.05
    assert m2.sum() > 300  # the cluster stands out against ~25 field objects in that circle


def test_mef_structure(ci_release_dir: Path) -> None:
    path = ci_release_dir / "tiles" / "DES2134-0041" / "DES2134-0041_r9999p01_r.fits.fz"
    with fits.open(path, disable_image_compression=True) as raw:
        assert [h.name for h in raw] == ["PRIMARY", "SCI", "MSK", "WGT"]
        assert [raw[k].header["ZCMPTYPE"] for k in (1, 2, 3)] == ["RICE_1", "PLIO_1", "RICE_1"]
        assert raw[1].header["ZQUANTIZ"] == "SUBTRACTIVE_DITHER_2"
        assert "DATE" not in raw[1].header and "CHECKSUM" not in raw[1].header
    with fits.open(path) as hdul:
        sci, msk, wgt = hdul["SCI"], hdul["MSK"], hdul["WGT"]
        assert sci.data.dtype.kind == "f" and msk.data.dtype == np.int32 and wgt.data.dtype.kind == "f"
        h = sci.header
        assert (h["CTYPE1"], h["CTYPE2"], h["CRPIX1"], h["MAGZERO"], h["BAND"]) == (
            "RA---TAN", "DEC--TAN", 1250.5, 30.0, "r")
        assert (h["TILENAME"], h["TILEID"], h["DES_EXT"], h["BUNIT"]) == ("DES2134-0041", 20783, "IMAGE", "COUNTS/S")
        assert h["CD1_1"] == pytest.approx(-4 * 7.305556e-5, rel=1e-5)
        assert h["CD2_2"] == pytest.approx(-h["CD1_1"], rel=1e-12)
        assert (msk.header["DES_EXT"], wgt.header["DES_EXT"]) == ("MASK", "WEIGHT")
        sky = sci.data[100:400, 100:400][msk.data[100:400, 100:400] == 0]
        noise = 1.4826 * np.median(np.abs(sky - np.median(sky)))  # robust against the objects
        assert noise == pytest.approx(1 / np.sqrt(np.median(wgt.data)), rel=0.1)
        assert sci.data.shape == (2500, 2500)
        assert msk.data.max() == 1  # saturated cores in M2


def test_brightest_pixel_is_at_the_catalogue_position(ci_release_dir: Path,
                                                      main_table: dict[str, np.ndarray]) -> None:
    t = main_table
    for tilename in CI_TILES:
        path = ci_release_dir / "tiles" / tilename / f"{tilename}_r9999p01_i.fits.fz"
        with fits.open(path) as hdul:
            sci = hdul["SCI"].data
            wcs = WCS(hdul["SCI"].header)
        mine = np.nonzero((t["tilename"] == tilename) & (t["mag_auto_i"] > 17.0) & (t["mag_auto_i"] < 20.0))[0]
        ra, dec = t["alphawin_j2000"], t["deltawin_j2000"]
        all_x, all_y = wcs.all_world2pix(ra[t["tilename"] == tilename], dec[t["tilename"] == tilename], 0)
        xs, ys = wcs.all_world2pix(ra[mine], dec[mine], 0)
        checked = 0
        for x, y in zip(xs, ys, strict=True):
            crowd = np.hypot(all_x - x, all_y - y) < 6.0
            if crowd.sum() > 1 or not (5 < x < 2494 and 5 < y < 2494):
                continue  # a neighbour could be the brightest pixel
            iy, ix = round(y), round(x)
            box = sci[iy - 3:iy + 4, ix - 3:ix + 4]
            py, px = np.unravel_index(np.argmax(box), box.shape)
            assert abs(px - 3 + ix - x) <= 1.0 and abs(py - 3 + iy - y) <= 1.0
            checked += 1
            if checked == 60:
                break
        assert checked >= 30


def test_catalogue_only_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `large` code path (no images, no per-tile FITS) on two tiles at 2 % density, in-process."""
    from release.demo.generate import PROFILES, Profile

    mini = Profile("large", ("DES0453-4457", "DES0457-4457"), 0.02, (), objects_per_tile=39062.5,
                   tile_catalogues=False)
    monkeypatch.setitem(PROFILES, "large", mini)
    manifest = json.loads(generate("large", tmp_path, workers=1).read_text())
    assert set(manifest["files"]) == {"catalog/dr1_main.parquet", "catalog/dr1_tile_info.parquet",
                                      "catalog/demo_truth.parquet"}
    assert 1200 < manifest["rows"] < 1900
    info = pq.read_table(tmp_path / "catalog" / "dr1_tile_info.parquet").to_pylist()
    assert info[0]["naxis1"] == 10000 and info[0]["fits_image_g"] == "" and info[0]["fits_dr1_main"] == ""
    main = pq.read_table(tmp_path / "catalog" / "dr1_main.parquet", columns=["ebv_sfd98", "tilename"])
    ebv = main.column("ebv_sfd98").to_numpy()
    assert ebv.min() > 0.01 and ebv.max() < 0.03
    assert pq.read_table(tmp_path / "catalog" / "demo_truth.parquet").num_rows == 0


@pytest.mark.parametrize(("kwargs", "param"), [({"profile": "huge"}, "profile"),
                                               ({"profile": "ci", "pixscale": 0.01}, "pixscale")])
def test_bad_arguments_are_usage_errors(tmp_path: Path, kwargs: dict[str, object], param: str) -> None:
    from dali.errors import UsageError

    profile = str(kwargs.pop("profile"))
    with pytest.raises(UsageError) as info:
        generate(profile, tmp_path, **kwargs)  # type: ignore[arg-type]
    assert info.value.param == param
    assert not any(tmp_path.iterdir())  # nothing written


def test_unwritable_directory_is_a_fatal_error(tmp_path: Path) -> None:
    from dali.errors import FatalError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(FatalError):
        generate("ci", blocker / "release", workers=1)
