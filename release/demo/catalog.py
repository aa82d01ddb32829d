"""The synthetic DR1_MAIN catalogue of one tile: truth model, planted features, measurements.

The demo's model (truth, measurements, planted features, IDs, seeds) is defined here. Everything is
vectorised numpy on one tile at full density; a profile keeps the rows with ``u_keep < density``, so a
tile is identical in every profile. No files, no images (``images.py`` renders what this returns).
Tests: tests/release/test_demo_catalog.py.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import astropy.units as u
import cdshealpix.nested as hpx
import numpy as np
import numpy.typing as npt

from release.demo.schema import BANDS
from release.tiling import NATIVE_PIXSCALE, Tile, find_tile, tile_by_name

__all__ = [
    "DEMO_SEED",
    "FEATURES",
    "FWHM",
    "R_EXT",
    "TileCatalog",
    "build_tile",
    "ebv_field",
    "rng_for",
    "round_inside",
    "seed_sequence",
]

DEMO_SEED = 20180109
STREAM_TRUTH, STREAM_MEASURE, STREAM_PIXELS, STREAM_FEATURES = 1, 2, 3, 4

R_EXT = np.array([3.184, 2.130, 1.568, 1.196, 1.048])  # DR1 FAQ R_b, g r i z Y
DEPTH10 = np.array([23.52, 23.10, 22.51, 21.81, 20.61])  # S/N = 10 MAG_AUTO depth
SE_LIMIT = np.array([23.3, 22.9, 22.3, 21.6, 20.4])  # single-epoch (WAVG) limit
FWHM = np.array([1.12, 0.96, 0.88, 0.84, 0.90])  # arcsec, DR1 median PSF FWHM
SATURATION_MAG = 16.0

FEATURES = {
    1: "m2_cluster",
    2: "galaxy_cluster",
    3: "bright_star",
    4: "y_stripe",
    5: "lens",
    6: "shredded_spiral",
    7: "extreme_colour",
    8: "single_band",
    9: "uramax_object",
    10: "ra0_objects",
}
M2 = (323.36, -0.82)
CLUSTER = (322.95, 0.10)
BRIGHT_STAR = (324.30, -0.45)
LENS = (323.70, -1.30)
SPIRAL = (322.70, -1.50)
Y_STRIPE_TILE = "DES2134-0124"
Y_STRIPE_X = (4000.0, 4200.0)  # native 1-based pixel columns without Y data
PATCH_BOX = (322.50, 324.60, -1.75, 0.35)  # where features 7 and 8 are scattered

# Stellar locus: g-i -> (g-r, r-i, i-z, z-Y) (approximate, uncalibrated).
_LOCUS_GI = np.array([0.4, 0.8, 1.2, 1.6, 2.0, 2.5, 3.0, 3.5])
_LOCUS = np.array([
    [0.30, 0.10, 0.00, 0.01], [0.58, 0.22, 0.07, 0.03], [0.86, 0.34, 0.14, 0.05], [1.10, 0.50, 0.23, 0.07],
    [1.28, 0.72, 0.34, 0.09], [1.38, 1.12, 0.52, 0.13], [1.42, 1.58, 0.76, 0.20], [1.45, 2.05, 1.00, 0.28],
])

KIND_STAR, KIND_DISK, KIND_BULGE = 0, 1, 4  # the kind is the Sérsic index for galaxies

FloatArray = npt.NDArray[np.float64]


def seed_sequence(stream: int, tilename: str, band: int = 0, bx: int = 0, by: int = 0) -> np.random.SeedSequence:
    """The seed of one stream: spawn_key = (stream, crc32(TILENAME), band, bx, by), so a tile is the same
    whichever profile or process makes it."""
    key = (stream, zlib.crc32(tilename.encode("ascii")), band, bx, by)
    return np.random.SeedSequence(DEMO_SEED, spawn_key=key)


def rng_for(stream: int, tilename: str, band: int = 0, bx: int = 0, by: int = 0) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed_sequence(stream, tilename, band, bx, by)))


def ebv_field(ra: npt.ArrayLike, dec: npt.ArrayLike) -> FloatArray:
    """A smooth synthetic E(B-V): ≈0.045-0.065 around M2, ≈0.02-0.03 around DES0453-4457."""
    ra_r = np.radians(np.asarray(ra, dtype=np.float64))
    dec_r = np.radians(np.asarray(dec, dtype=np.float64))
    level = 0.02 + 0.035 * ((1.0 + np.cos(ra_r - np.radians(323.0))) / 2.0) ** 2
    ripple = 1.0 + 0.12 * np.sin(ra_r * 97.0 + 0.7) * np.cos(dec_r * 83.0 + 1.9) + 0.06 * np.sin(dec_r * 151.0)
    return np.asarray(level * ripple, dtype=np.float64)


@dataclass(frozen=True)
class TileCatalog:
    """One tile's rows: ``columns`` (DR1_MAIN, lower-case names) plus what rendering and truth need.

    ``flux_true`` (n, 5) is the noiseless flux per band on the ZP=30 scale; ``kind`` 0 star or the Sérsic
    index; ``r_e`` arcsec, ``q`` axis ratio, ``pa`` position angle (deg east of north); ``u_keep`` decides
    profile membership; ``feature_id``/``note`` fill demo_truth (0 = field object).
    """

    tile: Tile
    columns: dict[str, np.ndarray]
    flux_true: FloatArray
    kind: npt.NDArray[np.int16]
    r_e: FloatArray
    q: FloatArray
    pa: FloatArray
    u_keep: FloatArray
    feature_id: npt.NDArray[np.int16]
    note: npt.NDArray[np.object_]

    def __len__(self) -> int:
        return len(self.kind)

    def subset(self, mask: npt.NDArray[np.bool_]) -> TileCatalog:
        return TileCatalog(
            tile=self.tile,
            columns={k: v[mask] for k, v in self.columns.items()},
            flux_true=self.flux_true[mask], kind=self.kind[mask], r_e=self.r_e[mask], q=self.q[mask],
            pa=self.pa[mask], u_keep=self.u_keep[mask], feature_id=self.feature_id[mask], note=self.note[mask],
        )

    def keep(self, density: float) -> TileCatalog:
        return self.subset(self.u_keep < density)


def build_tile(tile: Tile, objects_per_tile: float = 38600.0) -> TileCatalog:
    """Generate a tile at full density: field objects, planted features in its unique area, measurements."""
    truth = _field(tile, objects_per_tile)
    for fid in FEATURES:
        part = _feature(fid)
        if part is not None:
            truth = _concat(truth, _select(part, tile.contains(part["ra"], part["dec"])))
    truth = _select(truth, tile.contains(truth["ra"], truth["dec"]))
    truth["dec"] = np.clip(truth["dec"], -90.0, 90.0)
    hp16384 = _healpix(truth["ra"], truth["dec"])
    order = np.lexsort((truth["ra"], hp16384))
    truth = _select(truth, order)
    hp16384 = hp16384[order]
    _tile_effects(tile, truth)
    columns = _measure(tile, truth, hp16384)
    return TileCatalog(
        tile=tile, columns=columns, flux_true=_true_flux(truth), kind=truth["kind"].astype(np.int16),
        r_e=truth["r_e"], q=truth["q"], pa=truth["pa"], u_keep=truth["u_keep"],
        feature_id=truth["feature_id"].astype(np.int16), note=truth["note"],
    )


def round_inside(tile: Tile, ra: FloatArray, dec: FloatArray) -> tuple[FloatArray, FloatArray]:
    """RA/DEC rounded to 1e-6 deg, moved to the neighbouring 1e-6 value when rounding leaves the unique area."""
    r = np.round(ra, 6) % 360.0
    d = np.round(dec, 6)
    bad = ~tile.contains(r, d)
    if bad.any():
        for cand_r in (np.ceil(ra * 1e6) / 1e6, np.floor(ra * 1e6) / 1e6):
            for cand_d in (np.ceil(dec * 1e6) / 1e6, np.floor(dec * 1e6) / 1e6):
                ok = bad & tile.contains(cand_r % 360.0, cand_d)
                r = np.where(ok, cand_r % 360.0, r)
                d = np.where(ok, cand_d, d)
                bad &= ~ok
    return r, d


# --- truth ---------------------------------------------------------------------------------------

def _empty(n: int) -> dict[str, np.ndarray]:
    return {
        "ra": np.zeros(n), "dec": np.zeros(n), "kind": np.zeros(n, np.int16), "m": np.zeros((n, 5)),
        "r_e": np.zeros(n), "q": np.ones(n), "pa": np.zeros(n), "u_keep": np.zeros(n),
        "feature_id": np.zeros(n, np.int16), "note": np.full(n, "", dtype=object),
        "nodet": np.zeros((n, 5), bool), "imaflag": np.zeros((n, 5), np.int32),
        "crowded": np.zeros(n, bool), "spurious": np.zeros(n, bool),
    }


def _concat(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _select(t: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in t.items()}


def _power_law(rng: np.random.Generator, n: int, slope: float, lo: float, hi: float) -> FloatArray:
    """Magnitudes with dN/dm ∝ 10^(slope·m) on [lo, hi]."""
    a, b = 10.0 ** (slope * lo), 10.0 ** (slope * hi)
    return np.asarray(np.log10(a + rng.random(n) * (b - a)) / slope, dtype=np.float64)


def _detected(rng: np.random.Generator, n: int, slope: float, lo: float, hi: float) -> FloatArray:
    """``n`` magnitudes from the power law after the logistic detection cut (i50 = 23.6, width 0.25)."""
    out: list[FloatArray] = []
    have = 0
    while have < n:
        m = _power_law(rng, 2 * (n - have) + 64, slope, lo, hi)
        m = m[rng.random(m.size) < 1.0 / (1.0 + np.exp((m - 23.6) / 0.25))]
        out.append(m)
        have += m.size
    return np.concatenate(out)[:n] if out else np.zeros(0)


def _star_colours(rng: np.random.Generator, gi: FloatArray) -> FloatArray:
    """(g-r, r-i, i-z, z-Y) on the locus with 0.03 mag scatter."""
    cols = np.stack([np.interp(gi, _LOCUS_GI, _LOCUS[:, k]) for k in range(4)], axis=1)
    return cols + rng.normal(0.0, 0.03, cols.shape)


def _mags_from_i(i: FloatArray, colours: FloatArray) -> FloatArray:
    gr, ri, iz, zy = colours.T
    r = i + ri
    z = i - iz
    return np.stack([r + gr, r, i, z, z - zy], axis=1)


def _field(tile: Tile, mean: float) -> dict[str, np.ndarray]:
    rng = rng_for(STREAM_TRUTH, tile.tilename)
    n = int(rng.poisson(mean))
    n_star = int(rng.binomial(n, 0.25))
    n_gal = n - n_star
    t = _empty(n)
    lo = tile.uramax if tile.crossra0 else tile.uramin
    t["ra"] = (lo + rng.random(n) * tile.ra_step) % 360.0
    s0, s1 = np.sin(np.radians(tile.udecmin)), np.sin(np.radians(tile.udecmax))
    t["dec"] = np.degrees(np.arcsin(s0 + rng.random(n) * (s1 - s0)))
    t["u_keep"] = rng.random(n)
    # stars first, then galaxies
    i_star = _detected(rng, n_star, 0.12, 15.0, 24.5)
    gi = np.where(rng.random(n_star) < 0.4, rng.normal(0.75, 0.15, n_star), 1.0 + rng.exponential(0.8, n_star))
    gi = np.clip(gi, 0.2, 3.6)
    t["m"][:n_star] = _mags_from_i(i_star, _star_colours(rng, gi))
    t["pa"][:n_star] = rng.uniform(-90.0, 90.0, n_star)
    i_gal = _detected(rng, n_gal, 0.37, 16.0, 25.5)
    red = rng.random(n_gal) < 0.30
    colours = np.where(
        red[:, None],
        np.stack([rng.normal(1.30, 0.20, n_gal), rng.normal(0.55, 0.15, n_gal),
                  rng.normal(0.35, 0.10, n_gal), rng.normal(0.12, 0.08, n_gal)], axis=1),
        np.stack([rng.normal(0.55, 0.25, n_gal), rng.normal(0.30, 0.15, n_gal),
                  rng.normal(0.15, 0.12, n_gal), rng.normal(0.05, 0.10, n_gal)], axis=1),
    )
    g = slice(n_star, n)
    t["m"][g] = _mags_from_i(i_gal, colours)
    t["kind"][g] = np.where(red, KIND_BULGE, KIND_DISK)
    t["q"][g] = np.where(red, rng.uniform(0.5, 1.0, n_gal), rng.uniform(0.2, 1.0, n_gal))
    t["r_e"][g] = 0.55 * 10.0 ** (-0.1 * (i_gal - 22.0)) * 10.0 ** rng.normal(0.0, 0.25, n_gal)
    t["pa"][g] = rng.uniform(-90.0, 90.0, n_gal)
    t["m"] += R_EXT[None, :] * ebv_field(t["ra"], t["dec"])[:, None]
    return t


def _true_flux(t: dict[str, np.ndarray]) -> FloatArray:
    flux = 10.0 ** (-0.4 * (t["m"] - 30.0))
    return np.asarray(np.where(t["nodet"], 0.0, flux), dtype=np.float64)


def _healpix(ra: FloatArray, dec: FloatArray) -> npt.NDArray[np.int64]:
    if ra.size == 0:
        return np.zeros(0, np.int64)
    ipix = hpx.lonlat_to_healpix(ra * u.deg, dec * u.deg, 14, num_threads=1)
    return np.asarray(ipix, dtype=np.int64)


# --- planted features ------------------------------------------------------------------------------

def _offset(ra0: float, dec0: float, dx: FloatArray, dy: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Positions offset by (dx east, dy north) arcsec; small-angle, accurate to far below a pixel here."""
    dec = dec0 + dy / 3600.0
    ra = (ra0 + dx / 3600.0 / np.cos(np.radians(dec))) % 360.0
    return ra, dec


def _feature(fid: int) -> dict[str, np.ndarray] | None:
    builder = _BUILDERS.get(fid)
    if builder is None:
        return None
    t = builder(rng_for(STREAM_FEATURES, _HOME[fid], fid))
    t["feature_id"][:] = fid
    ext = ebv_field(t["ra"], t["dec"])[:, None] * R_EXT[None, :]
    t["m"] = np.where(t["m"] >= 90.0, t["m"], t["m"] + ext)
    return t


def _m2(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """≈6k stars of an old metal-poor population, King profile (core 0.3′, tidal 12′)."""
    n = 6300
    rc, rt = 0.3, 12.0
    grid = np.linspace(0.0, rt, 4001)
    sigma = (1.0 / np.sqrt(1.0 + (grid / rc) ** 2) - 1.0 / np.sqrt(1.0 + (rt / rc) ** 2)) ** 2
    cdf = np.cumsum(sigma * grid)
    cdf /= cdf[-1]
    r = np.interp(rng.random(n), cdf, grid) * 60.0  # arcsec
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    t = _empty(n)
    t["ra"], t["dec"] = _offset(M2[0], M2[1], r * np.cos(phi), r * np.sin(phi))
    branch = rng.choice(4, size=n, p=[0.80, 0.05, 0.12, 0.03])  # MS, SGB, RGB, HB
    g = np.empty(n)
    gr = np.empty(n)
    ms, sgb, rgb, hb = (branch == k for k in range(4))
    g[ms] = _power_law(rng, int(ms.sum()), 0.15, 19.9, 25.5)
    gr[ms] = 0.28 + 0.10 * (g[ms] - 19.9)
    g[sgb] = rng.uniform(19.2, 19.9, int(sgb.sum()))
    gr[sgb] = 0.28 + 0.24 * (19.9 - g[sgb])
    g[rgb] = _power_law(rng, int(rgb.sum()), 0.30, 13.6, 19.2)
    gr[rgb] = 0.45 + 0.11 * (19.2 - g[rgb])
    g[hb] = rng.normal(16.1, 0.05, int(hb.sum()))
    gr[hb] = rng.uniform(-0.2, 0.35, int(hb.sum()))
    gr += rng.normal(0.0, 0.02, n)
    gi = np.interp(gr, _LOCUS[:, 0], _LOCUS_GI, left=None, right=None)
    gi = np.where(gr < _LOCUS[0, 0], 0.4 + (gr - 0.30) * (0.4 / 0.28), gi)
    cols = _star_colours(rng, gi)
    cols[:, 0] = gr
    i = g - gi
    t["m"] = _mags_from_i(i, cols)
    t["pa"] = rng.uniform(-90.0, 90.0, n)
    t["u_keep"] = rng.random(n)
    core = r < 60.0
    t["crowded"] = core
    lost = (rng.random(n) < 0.6 * np.exp(-r / 36.0)) & (g > 21.0)
    t["note"][:] = "M2 analogue member"
    t["note"][core] = "M2 analogue member, crowded core"
    return _select(t, ~lost)


def _galaxy_cluster(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 150
    t = _empty(n)
    r = 180.0 * rng.random(n) ** 1.6
    r[0] = 0.0
    phi = rng.uniform(0.0, 2.0 * np.pi, n)
    t["ra"], t["dec"] = _offset(CLUSTER[0], CLUSTER[1], r * np.cos(phi), r * np.sin(phi))
    i = _power_law(rng, n, 0.35, 18.0, 23.0)
    i[0] = 16.6
    cols = np.stack([rng.normal(1.35, 0.05, n), rng.normal(0.55, 0.03, n),
                     rng.normal(0.38, 0.03, n), rng.normal(0.13, 0.03, n)], axis=1)
    t["m"] = _mags_from_i(i, cols)
    t["kind"][:] = KIND_BULGE
    t["r_e"] = 0.7 * 10.0 ** (-0.1 * (i - 22.0)) * 10.0 ** rng.normal(0.0, 0.15, n)
    t["r_e"][0] = 8.0
    t["q"] = rng.uniform(0.5, 1.0, n)
    t["pa"] = rng.uniform(-90.0, 90.0, n)
    t["note"][:] = "cluster member on the red sequence"
    t["note"][0] = "brightest cluster galaxy, r_e 8 arcsec"
    return t


def _bright_star(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 13
    t = _empty(n)
    t["ra"][0], t["dec"][0] = BRIGHT_STAR
    t["m"][0] = _mags_from_i(np.array([8.75]), np.array([[0.45, 0.25, 0.10, 0.03]]))[0]
    t["note"][0] = "r = 9 star with bleed trail and halo"
    # Spurious detections along the bleed trail and in the halo, with extreme colours.
    dy = rng.uniform(-90.0, 90.0, n - 1)
    dx = rng.normal(0.0, 4.0, n - 1)
    t["ra"][1:], t["dec"][1:] = _offset(BRIGHT_STAR[0], BRIGHT_STAR[1], dx, dy)
    base = rng.uniform(19.5, 22.0, n - 1)
    m = base[:, None] + rng.choice([-2.5, 0.0, 3.0], size=(n - 1, 5))
    t["m"][1:] = m
    t["nodet"][1:] = rng.random((n - 1, 5)) < 0.3
    t["nodet"][1:, 2] = False
    t["spurious"][1:] = True
    t["note"][1:] = "spurious detection near the bright star"
    return t


def _lens(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = _empty(3)
    t["ra"][0], t["dec"][0] = LENS
    t["m"][0] = _mags_from_i(np.array([18.3]), np.array([[1.35, 0.55, 0.38, 0.13]]))[0]
    t["kind"][0], t["r_e"][0], t["q"][0], t["pa"][0] = KIND_BULGE, 1.5, 0.8, 20.0
    angles = np.radians(np.array([30.0, 210.0]) + rng.normal(0.0, 5.0, 2))
    t["ra"][1:], t["dec"][1:] = _offset(LENS[0], LENS[1], 3.0 * np.sin(angles), 3.0 * np.cos(angles))
    t["m"][1:] = _mags_from_i(np.array([21.4, 21.7]), np.tile([0.20, 0.10, 0.05, 0.0], (2, 1)))
    t["kind"][1:], t["r_e"][1:], t["q"][1:] = KIND_DISK, 0.9, 0.2
    t["pa"][1:] = (np.degrees(angles) + 90.0 + 90.0) % 180.0 - 90.0  # tangential arcs
    t["note"][0] = "lens: red deflector"
    t["note"][1:] = "lens: blue arc at 3 arcsec"
    return t


def _spiral(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 6
    t = _empty(n)
    t["ra"][0], t["dec"][0] = SPIRAL
    t["m"][0] = _mags_from_i(np.array([14.9]), np.array([[0.60, 0.32, 0.17, 0.05]]))[0]
    t["kind"][0], t["r_e"][0], t["q"][0], t["pa"][0] = KIND_DISK, 25.0, 0.7, 40.0
    rad = rng.uniform(15.0, 40.0, n - 1)
    ang = np.radians(40.0 + np.array([0.0, 75.0, 150.0, 210.0, 290.0]) + rng.normal(0.0, 10.0, n - 1))
    t["ra"][1:], t["dec"][1:] = _offset(SPIRAL[0], SPIRAL[1], rad * np.sin(ang), rad * np.cos(ang) * 0.7)
    t["m"][1:] = _mags_from_i(rng.uniform(18.5, 20.0, n - 1), np.tile([0.35, 0.15, 0.05, 0.0], (n - 1, 1)))
    t["kind"][1:], t["r_e"][1:], t["q"][1:] = KIND_DISK, 1.8, 0.6
    t["pa"][1:] = rng.uniform(-90.0, 90.0, n - 1)
    t["note"][0] = "large spiral, r_e 25 arcsec (main row)"
    t["note"][1:] = "large spiral: shredded fragment"
    return t


def _in_patch(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    ra0, ra1, dec0, dec1 = PATCH_BOX
    return rng.uniform(ra0, ra1, n), rng.uniform(dec0, dec1, n)


def _extreme(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 20
    t = _empty(n)
    t["ra"], t["dec"] = _in_patch(rng, n)
    i = rng.uniform(20.5, 22.0, n)
    drop = np.arange(n) < 10
    iz = np.where(drop, rng.uniform(1.6, 2.2, n), rng.uniform(0.1, 0.4, n))
    zy = np.where(drop, rng.uniform(0.0, 0.3, n), rng.uniform(0.6, 1.0, n))
    t["m"] = _mags_from_i(i, np.stack([np.full(n, 1.0), np.full(n, 1.0), iz, zy], axis=1))
    t["nodet"][drop, 0] = True
    t["nodet"][drop, 1] = True
    t["note"][:] = np.where(drop, "dropout: g and r undetected, i-z > 1.5", "extreme colour: z-Y > 0.5")
    return t


def _single_band(rng: np.random.Generator) -> dict[str, np.ndarray]:
    n = 10
    t = _empty(n)
    t["ra"], t["dec"] = _in_patch(rng, n)
    t["m"][:] = rng.uniform(21.5, 22.5, (n, 1))
    t["nodet"][:] = True
    for k in range(n):
        t["nodet"][k, k % 5] = False
        t["note"][k] = f"detected in {BANDS[k % 5].upper() if k % 5 == 4 else BANDS[k % 5]} only"
    return t


def _uramax(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = _empty(1)
    t["ra"][0], t["dec"][0] = tile_by_name("DES2134-0041").uramax, -0.70 + rng.uniform(-1e-3, 1e-3)
    t["m"][0] = _mags_from_i(np.array([19.0]), np.array([[0.58, 0.22, 0.07, 0.03]]))[0]
    t["note"][0] = "exactly at URAMAX of DES2134-0041: belongs to DES2137-0041"
    return t


def _ra0(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = _empty(2)
    t["ra"][:] = [359.9, 0.1]
    t["dec"][:] = -0.7 + rng.uniform(-0.01, 0.01, 2)
    t["m"] = _mags_from_i(np.array([19.5, 19.8]), np.tile([0.86, 0.34, 0.14, 0.05], (2, 1)))
    t["kind"][:], t["r_e"][:], t["q"][:] = KIND_DISK, 1.2, 0.7
    t["note"][:] = ["galaxy at RA 359.9 (CROSSRA0 tile)", "galaxy at RA 0.1 (CROSSRA0 tile)"]
    return t


_BUILDERS = {1: _m2, 2: _galaxy_cluster, 3: _bright_star, 5: _lens, 6: _spiral, 7: _extreme, 8: _single_band,
             9: _uramax, 10: _ra0}
_HOME = {1: "DES2134-0041", 2: "DES2131+0001", 3: "DES2137-0041", 4: Y_STRIPE_TILE, 5: "DES2134-0124",
         6: "DES2131-0124", 7: "DES2134-0041", 8: "DES2134-0041", 9: "DES2137-0041", 10: "DES2359-0041"}


def _tile_effects(tile: Tile, t: dict[str, np.ndarray]) -> None:
    """Effects of features on field objects: bright-star neighbours (3) and the Y no-data stripe (4)."""
    star = find_tile(*BRIGHT_STAR)
    if star is not None and star.grid_index == tile.grid_index:
        dra = (t["ra"] - BRIGHT_STAR[0]) * np.cos(np.radians(BRIGHT_STAR[1])) * 3600.0
        ddec = (t["dec"] - BRIGHT_STAR[1]) * 3600.0
        near = (np.hypot(dra, ddec) < 75.0) | ((np.abs(dra) < 6.0) & (np.abs(ddec) < 130.0))
        t["imaflag"][near] = 1
        touched = near & (t["feature_id"] == 0)
        t["feature_id"][touched] = 3
        t["note"][touched] = "neighbour of the bright star: IMAFLAGS_ISO = 1"
    if tile.tilename == Y_STRIPE_TILE:
        x, _ = tile.wcs().all_world2pix(t["ra"], t["dec"], 1)
        inside = (x >= Y_STRIPE_X[0] - 0.5) & (x < Y_STRIPE_X[1] + 0.5)
        t["nodet"][inside, 4] = True
        t["imaflag"][inside, 4] = 1
        touched = inside & (t["feature_id"] == 0)
        t["feature_id"][touched] = 4
        t["note"][touched] = "in the 200-px Y stripe without data: MAG_AUTO_Y = 99"


# --- measurements --------------------------------------------------------------------------------

def _measure(tile: Tile, t: dict[str, np.ndarray], hp16384: npt.NDArray[np.int64]) -> dict[str, np.ndarray]:
    rng = rng_for(STREAM_MEASURE, tile.tilename)
    n = len(t["ra"])
    star = t["kind"] == KIND_STAR
    m_true = t["m"]
    cols: dict[str, np.ndarray] = {}
    number = np.arange(1, n + 1, dtype=np.int64)
    cols["coadd_object_id"] = 1_000_000_000 + tile.grid_index * 100_000 + number
    cols["tilename"] = np.full(n, tile.tilename, dtype=object)
    cols["ra"], cols["dec"] = round_inside(tile, t["ra"], t["dec"])
    cols["alphawin_j2000"], cols["deltawin_j2000"] = t["ra"].copy(), t["dec"].copy()
    x, y = tile.wcs().all_world2pix(t["ra"], t["dec"], 1)
    cols["xwin_image"], cols["ywin_image"] = x, y
    for nside, shift in ((32, 18), (64, 16), (1024, 8), (4096, 4), (16384, 0)):
        cols[f"hpix_{nside}"] = hp16384 >> shift

    psf_sigma_pix = FWHM[2] / 2.3548 / NATIVE_PIXSCALE
    size = np.sqrt(t["r_e"] ** 2 + (FWHM[2] / 2.0) ** 2) / NATIVE_PIXSCALE
    a = np.where(star, psf_sigma_pix * 1.5, size * 1.2) * rng.lognormal(0.0, 0.08, n)
    b = a * np.where(star, rng.uniform(0.85, 1.0, n), np.sqrt(t["q"]))
    cols["a_image"], cols["b_image"] = a.astype(np.float32), b.astype(np.float32)
    cols["theta_j2000"] = t["pa"].astype(np.float32)
    cols["flux_radius_i"] = (size * rng.lognormal(0.0, 0.05, n)).astype(np.float32)

    flux_true = _true_flux(t)
    fd = 10.0 ** (-0.4 * (DEPTH10 - 30.0))
    sigma = np.sqrt((fd * np.sqrt(0.0099))[None, :] ** 2 + (0.01 * flux_true) ** 2)
    flux = flux_true + rng.normal(0.0, 1.0, (n, 5)) * sigma
    flux = np.where(t["nodet"], np.minimum(flux, 0.0) - 1e-3 * sigma, flux)
    good = flux > 0
    mag = np.where(good, 30.0 - 2.5 * np.log10(np.where(good, flux, 1.0)), 99.0)
    magerr = np.where(good, 1.0857 * sigma / np.where(good, flux, 1.0), 99.0)
    # PSF photometry: stars 0.01-0.05 brighter than AUTO, galaxies fainter as they grow.
    psf_off = np.where(star[:, None], -np.interp(mag, [18.0, 20.0, 22.0], [0.01, 0.03, 0.05]),
                       2.5 * np.log10(1.0 + (t["r_e"][:, None] / (0.6 * FWHM[None, :])) ** 2))
    wavg = mag + psf_off + rng.normal(0.0, 0.01, (n, 5)) + magerr * rng.normal(0.0, 0.3, (n, 5))
    unmeasured = (m_true > SE_LIMIT[None, :]) | (rng.random((n, 5)) < 0.02) | ~good
    wavg = np.where(unmeasured, 99.0, wavg)

    base_flags = rng.choice(np.array([0, 1, 2, 3], np.int16), size=n, p=[0.80, 0.07, 0.10, 0.03])
    base_flags = np.where(t["crowded"], rng.choice(np.array([2, 3], np.int16), size=n), base_flags)
    saturated = (m_true < SATURATION_MAG) & ~t["nodet"]
    imaflags = np.maximum(t["imaflag"], saturated.astype(np.int32))
    for k, band in enumerate(BANDS):
        cols[f"mag_auto_{band}"] = mag[:, k].astype(np.float32)
    for k, band in enumerate(BANDS):
        cols[f"magerr_auto_{band}"] = magerr[:, k].astype(np.float32)
    for k, band in enumerate(BANDS):
        cols[f"flux_auto_{band}"] = flux[:, k].astype(np.float32)
    for k, band in enumerate(BANDS):
        cols[f"wavg_mag_psf_{band}"] = wavg[:, k].astype(np.float32)
    for k, band in enumerate(BANDS):
        cols[f"flags_{band}"] = (base_flags | np.where(saturated[:, k], 4, 0)).astype(np.int16)
    for k, band in enumerate(BANDS):
        cols[f"imaflags_iso_{band}"] = imaflags[:, k].astype(np.int32)

    i_mag = np.minimum(m_true[:, 2], 26.0)
    se = 0.0015 * 10.0 ** (0.4 * (i_mag - 20.0))
    se = np.maximum(se, 1e-4)
    sm_true = np.where(star, 0.0, 0.004 + 0.02 * np.minimum(t["r_e"] / FWHM[2], 3.0) ** 0.8)
    cols["spread_model_i"] = (sm_true + rng.normal(0.0, 1.0, n) * se).astype(np.float32)
    cols["spreaderr_model_i"] = se.astype(np.float32)
    # Averaging several epochs makes the single-epoch spread sharper than the coadd's at the same
    # magnitude; half the coadd error lets the M2 star query (``m2stars`` in tap/examples.py) keep
    # stars to ~1.5 mag below M2's turn-off.
    wse = se * 0.5
    wsm = sm_true + rng.normal(0.0, 1.0, n) * wse
    wunm = unmeasured[:, 2]
    cols["wavg_spread_model_i"] = np.where(wunm, -99.0, wsm).astype(np.float32)
    cols["wavg_spreaderr_model_i"] = np.where(wunm, -99.0, wse).astype(np.float32)

    for k, band in enumerate(BANDS):
        sharp = 1.0 / (1.0 + np.exp((m_true[:, k] - DEPTH10[k] + 0.5) / 0.6))
        cs = 0.5 + np.where(star, 0.48, -0.48) * sharp + rng.normal(0.0, 0.03, n)
        cols[f"class_star_{band}"] = np.clip(cs, 0.0, 1.0).astype(np.float32)
    cols["ebv_sfd98"] = ebv_field(t["ra"], t["dec"]).astype(np.float32)
    sm = cols["spread_model_i"].astype(np.float64)
    sev = cols["spreaderr_model_i"].astype(np.float64)
    cols["extended_class_coadd"] = (
        ((sm + 3.0 * sev) > 0.005).astype(np.int16) + ((sm + sev) > 0.003) + ((sm - sev) > 0.003)
    ).astype(np.int16)
    return cols
