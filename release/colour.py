"""The colour stretch of the release's images: Lupton et al. (2004) asinh composites.

One stretch for every colour picture the service makes (bulk cutout thumbnails, the colour HiPS), so
a cutout and the sky around it look the same. Pure numpy on arrays: no files, no HTTP.
Tests: tests/release/test_colour.py.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LUPTON_MINIMUM", "LUPTON_Q", "LUPTON_STRETCH", "lupton_rgb"]

# Flux units of the coadds (zero point 30): the sky noise is a few units, a 20th-mag star 1e4.
LUPTON_MINIMUM = 1.0
LUPTON_STRETCH = 50.0
LUPTON_Q = 10.0


def lupton_rgb(red: np.ndarray, green: np.ndarray, blue: np.ndarray, *, minimum: float = LUPTON_MINIMUM,
               stretch: float = LUPTON_STRETCH, q: float = LUPTON_Q) -> np.ndarray:
    """An 8-bit (ny, nx, 3) image of three same-shape channels (NaN counts as 0), rows as given.

    Lupton, Blanton, Fekete et al. 2004, PASP 116, 133: one asinh stretch of the summed intensity,
    applied to all channels alike so colours are kept (astropy ``make_lupton_rgb``).
    """
    from astropy.visualization import make_lupton_rgb

    r, g, b = (np.nan_to_num(np.asarray(c, dtype=np.float32)) for c in (red, green, blue))
    return np.asarray(make_lupton_rgb(r, g, b, minimum=minimum, stretch=stretch, Q=q), dtype=np.uint8)
