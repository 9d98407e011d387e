"""The package's layout shows its design, and stays that way (docs/architecture.md).

One front end (``dsl/``), two back ends side by side (``engines/row/``, ``engines/relational/``),
the domain tables beneath them, the API and the CLI above. Four checks keep it so:

- no import circle among the package's modules, counting imports at module level and inside
  functions (a lazy import is still a dependency), but not those under ``if TYPE_CHECKING:``;
- the import-linter contracts of pyproject.toml hold (layers, and the independence of the back ends);
- every module stays under :data:`MAX_LINES` lines, but for the listed exceptions;
- the package's top level holds exactly the modules the architecture names.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "billing_rules"
ROOT = PACKAGE.parent

MAX_LINES = 500
# Modules over MAX_LINES, each with why it is still one module. Shrink this list, never grow it
# without a reason a reviewer accepts.
LONG_MODULES: dict[str, int] = {}

TOP_LEVEL = {
    "__init__",
    "__main__",
    "config",
    "contributions",
    "errors",
    "explain",
    "files",
    "hookspecs",
    "interrupt",
    "model",
    "money",
    "plugins",
    "pytest_plugin",
    "rule",
    "scratch",
    "selection",
    "testing",
    "version",
}
TOP_LEVEL_PACKAGES = {
    "api",
    "builtin",
    "cli",
    "docgen",
    "domain",
    "dsl",
    "engines",
    "ledger",
    "readers",
    "reporters",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST):  # type: ignore[no-untyped-def]
    """Every import statement under ``node``, skipping ``if TYPE_CHECKING:`` bodies."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield from (item for other in child.orelse for item in _imports_of_statement(other))
            continue
        yield from _imports_of_statement(child)


def _imports_of_statement(node: ast.AST):  # type: ignore[no-untyped-def]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def _known(name: str) -> str | None:
    """The deepest module of the package that ``name`` designates (a name inside it -> the module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> set[str]:
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".")
            if path.name != "__init__.py":
                base.pop()
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join([*base, *([node.module] if node.module else [])])
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{alias.name}" for alias in node.names]
    found = {_known(name) for name in names if name.split(".")[0] == "billing_rules"}
    return {name for name in found if name and name != module}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (module level and in functions, not TYPE_CHECKING)."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {target for node in _imports(tree) for target in _targets(module, path, node)}
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


def test_the_graph_sees_imports_in_functions_and_skips_type_checking() -> None:
    graph = import_graph()
    # A lazy import inside a function counts: Finding.explain() needs billing_rules.explain.
    assert "billing_rules.explain" in graph["billing_rules.model"]
    # billing_rules/__init__.py imports its exports only for type checkers (the rest is lazy).
    assert graph["billing_rules"] == {"billing_rules.version"}
    assert import_circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle() -> None:
    assert import_circles(import_graph()) == []


def test_import_linter_contracts_hold() -> None:
    pytest.importorskip("importlinter")
    command = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    assert command is not None, "import-linter is installed but not its lint-imports command"
    result = subprocess.run(
        [command, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_modules_stay_small() -> None:
    sizes = {module: len(path.read_text(encoding="utf-8").splitlines()) for module, path in MODULES.items()}
    too_long = {module: size for module, size in sizes.items() if size > LONG_MODULES.get(module, MAX_LINES)}
    assert too_long == {}
    # An exception that no longer applies is removed from the list.
    assert {module for module in LONG_MODULES if sizes.get(module, 0) <= MAX_LINES} == set()


def test_top_level_is_the_intended_one() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file()}
    assert modules == TOP_LEVEL
    assert packages == TOP_LEVEL_PACKAGES
