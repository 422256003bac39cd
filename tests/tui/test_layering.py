"""The console's imports run one way: no cycle, nothing below the app imports it, layers point down."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from tests.tui.canned import CannedClient
from tui.app import ConsoleApp
from tui.console import Console

ROOT = Path(__file__).resolve().parents[2]

# Top to bottom; a module may import its own layer and the ones below it (the docstring of tui/__init__.py).
LAYERS = (
    ("tui.cli",),
    ("tui.app",),
    ("tui.screens",),
    ("tui.dialogs",),
    ("tui.widgets",),
    ("tui.console",),
    ("tui.conn", "tui.state", "tui.fmt", "tui.filters", "tui.forms", "tui.model"),
)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, module: str) -> set[str]:
    """Every module named by an import anywhere in the file: top level, under TYPE_CHECKING, in functions."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from tui import fmt` names tui.fmt
    return names


def import_graph(root: Path, package: str = "tui") -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(edges between the package's own modules, every outside module each one names)."""
    files = {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    edges: dict[str, set[str]] = {}
    outside: dict[str, set[str]] = {}
    for module, path in files.items():
        edges[module], outside[module] = set(), set()
        for name in imported_names(path, module):
            if name == package or name.startswith(package + "."):
                # the longest prefix that is a module of ours: `from tui.app import ConsoleApp` -> tui.app
                parts = name.split(".")
                target = next(".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in files)
                if target != module and target != package:
                    edges[module].add(target)
            else:
                outside[module].add(name)
    return edges, outside


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(module: str) -> list[str] | None:
        stack.append(module)
        on_stack.add(module)
        for target in sorted(edges.get(module, ())):
            if target in on_stack:
                return [*stack[stack.index(target):], target]
            if target not in done and (cycle := visit(target)) is not None:
                return cycle
        stack.pop()
        on_stack.discard(module)
        done.add(module)
        return None

    for module in sorted(edges):
        if module not in done and (cycle := visit(module)) is not None:
            return cycle
    return None


def layer_of(module: str) -> int | None:
    for rank, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    bad = []
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            mine, theirs = layer_of(module), layer_of(target)
            if mine is not None and theirs is not None and theirs < mine:
                bad.append(f"{module} -> {target}")
    return bad


# the real tree

def test_tui_has_no_import_cycle() -> None:
    edges, _ = import_graph(ROOT)
    assert "tui.app" in edges and edges["tui.app"], "the graph builder found no imports; is the tree there?"
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle in the console: " + " -> ".join(cycle or [])


def test_only_the_entry_point_imports_the_app() -> None:
    edges, _ = import_graph(ROOT)
    importers = sorted(m for m, targets in edges.items() if "tui.app" in targets)
    assert importers == ["tui.cli"], f"{importers}: screens, dialogs and widgets use tui.console.Console instead"


def test_layers_point_down() -> None:
    edges, _ = import_graph(ROOT)
    unplaced = sorted(m for m in edges if m != "tui" and layer_of(m) is None)
    assert not unplaced, f"place {unplaced} in LAYERS (and in the tui/__init__.py docstring)"
    assert upward_imports(edges) == []


def test_the_gateway_is_reached_only_through_the_client() -> None:
    _, outside = import_graph(ROOT)
    reach = sorted(f"{m} -> {n}" for m, names in outside.items() for n in names
                   if (n == "crabllm" or n.startswith("crabllm.")) and not n.startswith("crabllm.client"))
    assert reach == []


async def test_console_app_provides_the_whole_console_interface() -> None:
    members = {n for n in vars(Console) if not n.startswith("_")} | set(Console.__annotations__)
    assert {"client", "state", "clock", "read_only", "refresh_lists", "lists_signal"} <= members
    app = ConsoleApp(CannedClient())
    missing = sorted(n for n in members if not hasattr(app, n))
    assert missing == []
    for name in members:
        wanted = getattr(Console, name)
        if inspect.isfunction(wanted):
            assert callable(getattr(app, name)), name
            assert inspect.iscoroutinefunction(getattr(app, name)) == inspect.iscoroutinefunction(wanted), name


# the checker itself catches every kind of import that makes a cycle

def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


TREE = {
    "tui/__init__.py": "",
    "tui/app.py": "from tui.screens.base import ViewScreen\nfrom tui.screens import keys\nfrom tui import fmt\n",
    "tui/fmt.py": "import re\n",
    "tui/console.py": "from typing import Protocol\n",
    "tui/screens/__init__.py": "",
    "tui/screens/base.py": "from tui.console import Console\nfrom . import keys\n",
    "tui/screens/keys.py": "from .base import x\nfrom ..dialogs import confirm\n",
    "tui/dialogs/__init__.py": "",
    "tui/dialogs/confirm.py": "from tui.console import Console\n",
}


def test_the_checker_resolves_absolute_relative_and_package_imports(tmp_path: Path) -> None:
    edges, outside = import_graph(write(tmp_path, TREE))
    assert edges["tui.app"] == {"tui.screens.base", "tui.screens", "tui.screens.keys", "tui.fmt"}
    assert edges["tui.screens.base"] == {"tui.console", "tui.screens", "tui.screens.keys"}
    assert edges["tui.screens.keys"] == {"tui.screens.base", "tui.dialogs", "tui.dialogs.confirm"}
    assert outside["tui.fmt"] == {"re"}
    assert find_cycle(edges) == ["tui.screens.base", "tui.screens.keys", "tui.screens.base"]


def test_the_checker_sees_type_checking_and_function_local_imports(tmp_path: Path) -> None:
    tree = {**TREE, "tui/screens/base.py": "from tui.console import Console\n"}
    assert find_cycle(import_graph(write(tmp_path / "clean", tree))[0]) is None
    backs = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tui.app import ConsoleApp\n",
             "def f():\n    import tui.app\n",
             "class D:\n    def g(self):\n        from tui import app\n")
    for i, back in enumerate(backs):
        root = write(tmp_path / f"back{i}", {**tree, "tui/dialogs/confirm.py": back})
        edges, _ = import_graph(root)
        assert find_cycle(edges) is not None, back
        assert "tui.dialogs.confirm -> tui.app" in upward_imports(edges), back
