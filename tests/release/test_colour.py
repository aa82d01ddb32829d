"""The shared Lupton stretch: the astropy composite, NaN as 0, 8-bit RGB."""

from __future__ import annotations

import numpy as np
from astropy.visualization import make_lupton_rgb

from release.colour import LUPTON_MINIMUM, LUPTON_Q, LUPTON_STRETCH, lupton_rgb


def test_lupton_rgb_is_astropys_composite_with_nan_as_zero() -> None:
    rng = np.random.default_rng(3)
    r, g, b = (rng.normal(5, 3, (8, 9)).astype(np.float32) for _ in range(3))
    r[0, 0] = np.nan
    got = lupton_rgb(r, g, b)
    want = make_lupton_rgb(np.nan_to_num(r), g, b, minimum=LUPTON_MINIMUM, stretch=LUPTON_STRETCH, Q=LUPTON_Q)
    assert got.shape == (8, 9, 3) and got.dtype == np.uint8
    assert np.array_equal(got, want)
    assert lupton_rgb(r * 0, g * 0, b * 0).max() == 0
