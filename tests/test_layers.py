"""The dependency direction of DESIGN.md: imports point down the layers, never up or sideways."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS: dict[str, int] = {
    "dali": 1,
    "adql": 2,
    "release": 3,
    "uws": 3,
    "auth": 3,
    "tap": 4,
    "sia": 4,
    "soda": 4,
    "anomaly": 4,
    "registry": 4,
    "sky": 4,
    "portal": 4,
    "skygate": 5,
}
# Frameworks confined to some packages (STYLE.md): name -> packages allowed to import it.
CONFINED = {
    "starlette": {"tap", "sia", "soda", "anomaly", "registry", "sky", "portal", "uws", "skygate"},
    "dramatiq": {"uws", "skygate"},
    "sqlglot": {"adql"},
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def _violations() -> list[str]:
    problems: list[str] = []
    for package, layer in LAYERS.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            for lineno, target in _imports(path):
                where = f"{path.relative_to(ROOT)}:{lineno}"
                if target in LAYERS and target != package:
                    if LAYERS[target] > layer:
                        problems.append(f"{where}: {package} (layer {layer}) imports {target} (layer up)")
                    elif LAYERS[target] == layer:
                        problems.append(f"{where}: {package} imports {target} sideways")
                allowed = CONFINED.get(target)
                if allowed is not None and package not in allowed:
                    problems.append(f"{where}: {package} imports {target}, confined to {sorted(allowed)}")
    return problems


def test_imports_point_down_the_layers() -> None:
    assert _violations() == []


# skygate/shell is a client (issue 19): it talks to services over HTTP and imports no server package.
CLIENT = ROOT / "skygate" / "shell"
CLIENT_MAY_IMPORT = {"skygate"}  # its own modules (skygate.shell.*), checked below


def test_the_shell_imports_no_server_package() -> None:
    problems = []
    for path in sorted(CLIENT.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            for name in names:
                top = name.split(".")[0]
                if (top in LAYERS and top not in CLIENT_MAY_IMPORT) or (
                        top == "skygate" and not name.startswith("skygate.shell")):
                    problems.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {name}")
    assert problems == []


def test_every_package_is_listed_in_pyproject() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for package in LAYERS:
        assert f'"{package}"' in text, package
        assert (ROOT / package / "__init__.py").is_file(), package


@pytest.mark.parametrize("source", ["import tap\n", "from tap.service import x\n"])
def test_the_walker_sees_a_sideways_import(tmp_path: Path, source: str) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    assert _imports(path)[0][1] == "tap"
