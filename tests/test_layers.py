"""The packages' dependency direction: imports point down the layers (``LAYERS``), never up or sideways."""

from __future__ import annotations

import ast
import sys
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
# Frameworks confined to some packages: name -> packages allowed to import it.
CONFINED = {
    "starlette": {"tap", "sia", "soda", "anomaly", "registry", "sky", "portal", "uws", "skygate"},
    "dramatiq": {"uws", "skygate"},
    "sqlglot": {"adql"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_modules(path: Path, module: str | None = None, *, type_only: bool = True) -> list[tuple[int, str]]:
    """Every module ``path`` (the module ``module``, by default its name in the tree) imports, as
    dotted names: ``import a.b``, ``from a.b import c`` (as ``a.b.c``: it may be a module), relative
    imports resolved, and ``importlib.import_module("a.b")`` with a literal name.
    ``type_only=False`` leaves out ``if TYPE_CHECKING:`` blocks (they never run)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skipped: set[int] = set()
    if not type_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    name = (module or _module_name(path)).split(".")
    package = name if path.name == "__init__.py" else name[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[:len(package) - node.level + 1], *([node.module] if node.module else [])])
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def _imports(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """The top-level packages ``path`` imports, with line numbers."""
    return [(lineno, name.split(".")[0]) for lineno, name in _imported_modules(path, module)]


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


@pytest.mark.parametrize("source", ["import tap\n", "from tap.service import x\n",
                                    "import importlib\nimportlib.import_module('tap.jobs')\n"])
def test_the_walker_sees_a_sideways_import(tmp_path: Path, source: str) -> None:
    path = tmp_path / "m.py"
    path.write_text(source)
    assert [name for _, name in _imports(path, "m") if name != "importlib"] == ["tap"]


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    """A relative import names the module it reaches, so it is checked like an absolute one."""
    path = tmp_path / "runner.py"
    path.write_text("from .store import JobStore\nfrom . import models\nfrom ..tap import service\n")
    assert [name for _, name in _imported_modules(path, "uws.runner")] == [
        "uws.store.JobStore", "uws.models", "tap.service"]
    assert [name for _, name in _imports(path, "uws.runner")] == ["uws", "uws", "tap"]


def test_the_cycle_finder_sees_a_cycle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    package = tmp_path / "dali"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("def f():\n    from dali import b\n")  # lazy: still a cycle
    (package / "b.py").write_text("from dali.a import f\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dali import a\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "LAYERS", {"dali": 1})
    assert _package_cycles() == [["dali.a", "dali.b", "dali.a"]]


def _package_cycles() -> list[list[str]]:
    """Import cycles between the modules of one package, at run time (``if TYPE_CHECKING:`` blocks
    left out; imports inside functions count: they run, only later)."""
    modules = {_module_name(path): path for package in LAYERS for path in (ROOT / package).rglob("*.py")}

    def module_of(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {name: {target for _, imported in _imported_modules(path, type_only=False)
                    if (target := module_of(imported)) and target != name
                    and target.split(".")[0] == name.split(".")[0]}
             for name, path in modules.items()}
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append([*trail[trail.index(name):], name])
            return
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    return cycles


def test_no_package_imports_itself_in_a_circle() -> None:
    assert _package_cycles() == []
