"""Measurements that show a forest behaves as the EIF paper says: the data sets and artefact statistics.

Hariri, Carrasco Kind & Brunner (2021) show score maps of a single 2-D Gaussian blob and of a noisy
sinusoid: the axis-parallel forest draws bands and a cross along the coordinate axes (rows level with
the data along x or y look ordinary however far they are); the extended forest does not. These
functions turn the pictures into numbers, for the tests and for benchmarks/anomaly.py.

Pure numpy, no I/O. Tests: tests/anomaly/test_forest.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata

from anomaly.forest import FloatArray

BoolArray = npt.NDArray[np.bool_]

__all__ = ["blob", "gap_contrast", "recall_at", "ring_anisotropy", "roc_auc", "sinusoid"]

Scorer = Callable[[FloatArray], FloatArray]


def blob(rows: int = 500, seed: int = 0) -> FloatArray:
    """The paper's single blob: a standard 2-D normal distribution centred on the origin."""
    data: FloatArray = np.asarray(np.random.default_rng(seed).normal(size=(rows, 2)), dtype=np.float64)
    return data


def sinusoid(rows: int = 1000, seed: int = 0) -> FloatArray:
    """The paper's sinusoid: y = sin(x) + N(0, 0.25) for x evenly in [0, 8 pi]."""
    x = np.linspace(0.0, 8.0 * np.pi, rows)
    noise = np.random.default_rng(seed).normal(scale=0.25, size=rows)
    return np.asarray(np.c_[x, np.sin(x) + noise], dtype=np.float64)


def ring_anisotropy(score: Scorer, radius: float = 3.5, points: int = 720) -> float:
    """Mean score on a circle around the blob at diagonal angles minus at angles near the axes.

    The blob is isotropic, so an unbiased forest gives ~0; the axis-parallel forest scores the axis
    directions lower (its cross-shaped artefact), so the value is clearly positive.
    """
    angle = np.linspace(0.0, 2.0 * np.pi, points, endpoint=False)
    scores = score(np.c_[radius * np.cos(angle), radius * np.sin(angle)])
    twist = np.abs(np.sin(2.0 * angle))
    diagonal = twist > np.sin(np.radians(60.0))
    axial = twist < np.sin(np.radians(30.0))
    return float(scores[diagonal].mean() - scores[axial].mean())


def gap_contrast(score: Scorer) -> float:
    """Mean score in the empty pockets of the sinusoid's band minus the mean score on the curve.

    A pocket point sits under a crest (or over a trough) at |y| = 0.9, inside the band |y| < 1.25 the
    data span but ~1.9 from any data. The axis-parallel forest, which can only cut the band along x and
    y, scores it almost like the curve; the extended forest scores it clearly higher.
    """
    x = np.pi / 2.0 + np.pi * np.arange(1, 7)
    crest = np.sin(x)
    pockets = score(np.c_[x, -0.9 * crest])
    curve = score(np.c_[x, crest])
    return float(pockets.mean() - curve.mean())


def roc_auc(scores: FloatArray, labels: BoolArray) -> float:
    """Area under the ROC curve: the chance that a labelled row outscores an unlabelled one (ties half)."""
    positives = int(labels.sum())
    negatives = labels.shape[0] - positives
    if positives == 0 or negatives == 0:
        raise ValueError("labels must hold both classes")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def recall_at(scores: FloatArray, labels: BoolArray, fraction: float = 0.01) -> float:
    """Share of the labelled rows among the ``fraction`` highest-scoring rows (ties in row order)."""
    count = int(np.ceil(fraction * scores.shape[0]))
    top = np.argsort(-scores, kind="stable")[:count]
    return float(labels[top].sum() / labels.sum())
