"""The model file format: round trip, header, refusal of what it cannot read."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from anomaly import forest, model
from anomaly.model import Model, ModelFormatError


@pytest.fixture(scope="module")
def fitted() -> tuple[Model, np.ndarray]:
    data = np.random.default_rng(1).normal(loc=[20.0, 1.0, 0.5], scale=[2.0, 0.3, 0.1], size=(2000, 3))
    center, scale = model.standardization(data)
    m = Model(forest.fit((data - center) / scale, ntrees=30, seed=5), ("mag_auto_i", "g_r", "r_i"), center, scale, 5)
    return m, data


def test_a_saved_model_scores_exactly_like_the_original(fitted: tuple[Model, np.ndarray], tmp_path: Path) -> None:
    m, data = fitted
    path = tmp_path / "model.npz"
    model.save(m, path)
    again = model.load(path)
    assert again.features == m.features and again.seed == 5
    assert np.array_equal(forest.score(again.forest, again.transform(data)), forest.score(m.forest, m.transform(data)))


def test_the_header_documents_the_model(fitted: tuple[Model, np.ndarray], tmp_path: Path) -> None:
    m, _ = fitted
    path = tmp_path / "model.npz"
    model.save(m, path)
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(str(archive["header"][()]))
        assert archive["normals"].shape == (30, 2 ** (8 + 1) - 1, 3)
    assert header["format"] == "skygate-eif" and header["version"] == 1
    assert header["features"] == ["mag_auto_i", "g_r", "r_i"]
    assert header["sample_size"] == 256 and header["extension_level"] == 2 and header["height_limit"] == 8
    assert header["standardize"]["center"] == pytest.approx(m.center.tolist())  # type: ignore[union-attr]


def test_standardization_keeps_constant_columns_finite() -> None:
    center, scale = model.standardization(np.array([[1.0, 5.0], [3.0, 5.0]]))
    assert center.tolist() == [2.0, 5.0] and scale.tolist() == [1.0, 1.0]


def _rewrite_header(source: Path, target: Path, **changes: object) -> None:
    with np.load(source, allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    header = json.loads(str(arrays.pop("header")[()]))
    header.update(changes)
    np.savez(target, header=np.array(json.dumps(header)), **arrays)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"version": 2}, "version 2"), ({"format": "other"}, "not a skygate-eif model"),
     ({"features": ["a", "b"]}, "do not match")],
)
def test_files_it_cannot_read_are_refused(
    fitted: tuple[Model, np.ndarray], tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    m, _ = fitted
    model.save(m, tmp_path / "good.npz")
    _rewrite_header(tmp_path / "good.npz", tmp_path / "bad.npz", **changes)
    with pytest.raises(ModelFormatError, match=message):
        model.load(tmp_path / "bad.npz")


def test_a_file_that_is_not_an_archive_is_refused(tmp_path: Path) -> None:
    (tmp_path / "text.npz").write_text("hello")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("other.npy", b"")
    (tmp_path / "zip.npz").write_bytes(buffer.getvalue())
    for name in ("text.npz", "zip.npz"):
        with pytest.raises(ModelFormatError):
            model.load(tmp_path / name)
