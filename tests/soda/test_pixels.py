"""The fast tile reader returns exactly what astropy's ``.section`` returns, for every codec we read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from soda.pixels import headers, read_blocks, read_section


@pytest.fixture(scope="module")
def image_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    sci = rng.normal(10, 3, (130, 170)).astype(np.float32)
    sci[5, 7] = np.nan
    msk = (rng.random((130, 170)) < 0.1).astype(np.int32)
    hdus = [fits.PrimaryHDU(),
            fits.CompImageHDU(sci, name="RICE", compression_type="RICE_1", quantize_level=16,
                              quantize_method=2, tile_shape=(1, 170)),
            fits.CompImageHDU(sci, name="SQUARE", compression_type="RICE_1", tile_shape=(32, 48)),
            fits.CompImageHDU(msk, name="PLIO", compression_type="PLIO_1", tile_shape=(1, 170)),
            fits.CompImageHDU(msk, name="GZIP", compression_type="GZIP_1", tile_shape=(16, 16)),
            fits.CompImageHDU(sci, name="GZIP2", compression_type="GZIP_2", tile_shape=(16, 16)),
            fits.ImageHDU(sci, name="PLAIN")]
    path = tmp_path_factory.mktemp("pix") / "image.fits.fz"
    fits.HDUList(hdus).writeto(path)
    return path


@pytest.mark.parametrize("ext", ["RICE", "SQUARE", "PLIO", "GZIP", "GZIP2", "PLAIN"])
@pytest.mark.parametrize("box", [(0, 130, 0, 170), (3, 40, 5, 9), (100, 130, 160, 170), (31, 33, 47, 49)])
def test_section_matches_astropy(image_file: Path, ext: str, box: tuple[int, int, int, int]) -> None:
    y0, y1, x0, x1 = box
    with fits.open(image_file) as hdul:
        expected = hdul[ext].section[y0:y1, x0:x1]
    got = read_section(image_file, ext, y0, y1, x0, x1)
    assert got.shape == expected.shape and got.dtype == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("ext", "tile_rows"), [("RICE", 1), ("SQUARE", 32), ("GZIP", 16), ("GZIP2", 16),
                                               ("PLAIN", 1)])
def test_blocks_are_the_section_in_whole_tile_rows(image_file: Path, ext: str, tile_rows: int) -> None:
    # 40 rows of 150 pixels a block (8 bytes a pixel assumed): boundaries on multiples of the tile height.
    blocks = list(read_blocks(image_file, ext, 3, 127, 10, 160, block_bytes=40 * 150 * 8))
    np.testing.assert_array_equal(np.concatenate(blocks), read_section(image_file, ext, 3, 127, 10, 160))
    ends = np.cumsum([len(b) for b in blocks])[:-1] + 3
    assert len(blocks) > 2 and all(end % tile_rows == 0 for end in ends), ends
    assert max(len(b) for b in blocks) <= max(40, tile_rows)


def test_headers_keep_cards_but_not_structure(image_file: Path) -> None:
    found = headers(image_file)
    assert found.image["RICE"]["NAXIS1"] == 170
    assert "ZCMPTYPE" not in found.cards["RICE"] and "NAXIS1" not in found.cards["RICE"]
