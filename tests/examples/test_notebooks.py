"""The notebooks of examples/notebooks run top to bottom against the live ``ci`` server (nbclient),
as a reader would run them; any cell error fails the test. They are stored without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live_fixtures import LiveServer

pytestmark = [pytest.mark.live, pytest.mark.slow]

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "examples" / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_is_stored_without_outputs(path: Path) -> None:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") and not cell.get("execution_count")
               for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs(path: Path, live_server: LiveServer, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # The kernel inherits this environment: it reaches the live server, writes into tmp_path.
    monkeypatch.setenv("SKYGATE_BASE_URL", live_server.url)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
