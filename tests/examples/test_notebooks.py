"""The notebooks of examples/notebooks run top to bottom against a live server on the ``tour``
release (the ``ci`` tiles and the galaxy cluster's) with its image files (nbclient), as a reader would
run them; any cell error fails the test. They are stored without outputs.

The kernel gets an astropy download cache of its own holding the IVOA messenger vocabulary: pyvo
downloads it to check a registry search's waveband terms (07_registry_search), and these tests run
offline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_fixtures import LiveServer, serve

pytestmark = [pytest.mark.live, pytest.mark.slow]

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "examples" / "notebooks").glob("*.ipynb"))

# http://www.ivoa.net/rdf/messenger (2020-08-26), the terms pyvo's Waveband constraint accepts.
MESSENGERS = ("Radio", "Millimeter", "Infrared", "Optical", "UV", "EUV", "X-ray", "Gamma-ray", "Neutrino",
              "Gravitational-Waves", "Photon", "Particle")


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory, tour_duckdb_path: Path,
                 tour_release_dir: Path) -> Iterator[LiveServer]:
    """The application with the catalogue and the release's image files (as tests/soda/test_live.py)."""
    from skygate.settings import Settings

    data_dir = tmp_path_factory.mktemp("notebooks")
    (data_dir / "catalog.duckdb").symlink_to(tour_duckdb_path)
    (data_dir / "release").symlink_to(tour_release_dir.resolve(), target_is_directory=True)
    yield from serve(Settings(data_dir=data_dir, maxrec_default=1000, maxrec_hard=100_000))


@pytest.fixture(scope="module")
def astropy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ``XDG_CACHE_HOME`` whose astropy download cache holds the messenger vocabulary (its
    desise JSON, as pyvo asks for it), so pyvo finds it there instead of downloading it."""
    import json

    from astropy.config import set_temp_cache
    from astropy.utils.data import import_file_to_cache
    from pyvo.utils.vocabularies import IVOA_VOCABULARY_ROOT

    root = tmp_path_factory.mktemp("xdg-cache")
    (root / "astropy").mkdir()  # astropy uses $XDG_CACHE_HOME/astropy only when it exists
    desise = root / "messenger.json"
    desise.write_text(json.dumps({"uri": "http://www.ivoa.net/rdf/messenger", "flavour": "RDF Class",
                                  "terms": {term: {"label": term} for term in MESSENGERS}}))
    with set_temp_cache(root):
        import_file_to_cache(IVOA_VOCABULARY_ROOT + "messenger", str(desise))
    return root


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_is_stored_without_outputs(path: Path) -> None:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") and not cell.get("execution_count")
               for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs(path: Path, image_server: LiveServer, astropy_cache: Path, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # The kernel inherits this environment: it reaches the live server, writes into tmp_path,
    # finds the messenger vocabulary in astropy_cache.
    monkeypatch.setenv("SKYGATE_BASE_URL", image_server.url)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("XDG_CACHE_HOME", str(astropy_cache))
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
