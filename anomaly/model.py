"""A fitted anomaly model (forest + feature names + standardisation) and its file format.

File format ``skygate-eif``, version 1: a NumPy ``.npz`` archive (zip; read with ``numpy.load(path,
allow_pickle=False)``) holding

- ``header``: a 0-d unicode array with a JSON object: ``format`` ("skygate-eif"), ``version`` (1),
  ``features`` (column names, in the order of the normals' last axis), ``standardize`` (``null``, or
  ``{"center": [...], "scale": [...]}``: rows are transformed as ``(x - center) / scale`` before
  scoring), ``ntrees``, ``sample_size`` (the n of c(n)), ``extension_level``, ``height_limit``,
  ``seed``, ``layout`` ("heap") and free-form ``description``;
- ``normals`` (ntrees, 2**(h+1)-1, d) float64, ``intercepts`` (same), ``offsets`` (ntrees, 2**(h+1)-1)
  float64, ``sizes`` (same shape) int32, ``path`` (ntrees, 2**h) float64.

Tree layout (``heap``): slot i has children 2i+1 (taken when ``x . normal < offset``) and 2i+2; external
nodes and the slots below them have zero normals and ``offset = +inf``; ``path[t, j]`` is the path length
(depth + c(size)) credited to a row that ends in bottom slot ``2**h - 1 + j`` (anomaly/forest.py).
A reader that does not know ``version`` must refuse the file. No pickles, so loading is safe.

Pure data handling on paths and arrays: no HTTP, no jobs.
Tests: tests/anomaly/test_model.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anomaly.forest import FloatArray, Forest

__all__ = ["FORMAT", "VERSION", "Model", "ModelFormatError", "load", "save", "standardization"]

FORMAT = "skygate-eif"
VERSION = 1
_ARRAYS = ("normals", "intercepts", "offsets", "sizes", "path")


class ModelFormatError(ValueError):
    """The file is not a model this version can read."""


@dataclass(frozen=True, slots=True, eq=False)
class Model:
    """A forest with what is needed to apply it to new rows."""

    forest: Forest
    features: tuple[str, ...]
    center: FloatArray | None = None
    scale: FloatArray | None = None
    seed: int = 0

    def transform(self, data: FloatArray) -> FloatArray:
        """Rows as the forest sees them (standardised when the model was fitted standardised)."""
        x = np.asarray(data, dtype=np.float64)
        if self.center is None or self.scale is None:
            return x
        return (x - self.center) / self.scale

    def header(self) -> dict[str, Any]:
        forest = self.forest
        standardize = None
        if self.center is not None and self.scale is not None:
            standardize = {"center": self.center.tolist(), "scale": self.scale.tolist()}
        return {
            "format": FORMAT,
            "version": VERSION,
            "description": "Extended Isolation Forest (Hariri et al. 2021); "
                           "layout described in skygate anomaly/model.py",
            "features": list(self.features),
            "standardize": standardize,
            "ntrees": forest.ntrees,
            "sample_size": forest.sample_size,
            "extension_level": forest.extension_level,
            "height_limit": forest.height_limit,
            "seed": self.seed,
            "layout": "heap",
        }


def standardization(data: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Centre (mean) and scale (standard deviation, 1 where a column is constant) of each column."""
    x = np.asarray(data, dtype=np.float64)
    center = x.mean(axis=0)
    scale = x.std(axis=0)
    return center, np.where(scale > 0, scale, 1.0)


def save(model: Model, path: Path) -> None:
    """Write ``model`` to ``path`` (an ``.npz`` file, compressed)."""
    forest = model.forest
    arrays = {name: getattr(forest, name) for name in _ARRAYS}
    with path.open("wb") as stream:
        np.savez_compressed(stream, header=np.array(json.dumps(model.header())), **arrays)


def load(path: Path) -> Model:
    """Read a model written by ``save``.

    Raises
    ------
    ModelFormatError
        When the file is not a ``skygate-eif`` archive of a version this code reads, or is inconsistent.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            header = json.loads(str(archive["header"][()]))
            arrays = {name: np.array(archive[name]) for name in _ARRAYS}
    except (OSError, KeyError, ValueError) as exc:
        raise ModelFormatError(f"{path.name} is not a readable {FORMAT} archive") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFormatError(f"{path.name} is not a {FORMAT} model")
    if header.get("version") != VERSION:
        raise ModelFormatError(
            f"{FORMAT} version {header.get('version')!r} is not readable (this code reads {VERSION})")
    forest = Forest(
        normals=arrays["normals"].astype(np.float64),
        intercepts=arrays["intercepts"].astype(np.float64),
        offsets=arrays["offsets"].astype(np.float64),
        sizes=arrays["sizes"].astype(np.int32),
        path=arrays["path"].astype(np.float64),
        sample_size=int(header["sample_size"]),
        extension_level=int(header["extension_level"]),
    )
    features = tuple(str(name) for name in header["features"])
    if forest.dimensions != len(features) or forest.height_limit != header.get("height_limit"):
        raise ModelFormatError(f"{path.name}: arrays do not match the header")
    standardize = header.get("standardize")
    center = scale = None
    if standardize is not None:
        center = np.asarray(standardize["center"], dtype=np.float64)
        scale = np.asarray(standardize["scale"], dtype=np.float64)
    return Model(forest, features, center, scale, int(header.get("seed", 0)))
