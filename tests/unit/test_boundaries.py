"""The core package knows nothing of its edges: no add-on, notifier, functions, web framework or
cloud SDK. Read from the source with ``ast`` so lazy (function-level) imports, imports under
``TYPE_CHECKING`` and ``importlib.import_module("...")`` with a literal name count too.

Only the two cloud adapters may talk to Google: ``mailbeacon/store/firestore*`` and
``mailbeacon/bus/pubsub*``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "mailbeacon"
FORBIDDEN = ("addon", "notifier", "functions", "flask", "google", "slack_sdk")
# Also Google's other import roots, which the runtime purity test this replaces forbade.
FORBIDDEN += ("googleapiclient", "grpc")
CLOUD_ADAPTERS = ("store/firestore", "bus/pubsub")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def core_modules() -> list[Path]:
    return sorted(
        path
        for path in CORE.rglob("*.py")
        if not path.relative_to(CORE).as_posix().startswith(CLOUD_ADAPTERS)
    )


def imported_names(source: str, module: str, *, is_package: bool) -> Iterator[tuple[int, str]]:
    """Every absolute module name ``source`` imports (relative ones resolved), with its line."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from . import notifier` names a module too
                yield node.lineno, f"{target}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            yield node.lineno, node.args[0].value


def forbidden_imports(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """One line per offending import statement: the first forbidden module it names."""
    found: dict[int, str] = {}
    for line, name in imported_names(source, module, is_package=is_package):
        if name.split(".")[0] in FORBIDDEN:
            found.setdefault(line, name)
    return [f"{module}:{line} imports {name}" for line, name in sorted(found.items())]


def test_the_checker_sees_lazy_relative_and_dynamic_imports() -> None:
    """The rule itself, on sources that hide an import the ways a real module could."""
    hidden = """from __future__ import annotations
import json
from typing import TYPE_CHECKING
from . import clock
if TYPE_CHECKING:
    from flask import Flask
def later():
    import notifier.wiring
    from google.cloud import firestore
    import importlib
    importlib.import_module("addon.endpoint")
    return __import__("slack_sdk")
class Late:
    def run(self):
        from functions.app import create_app
"""
    assert forbidden_imports(hidden, "mailbeacon.bootstrap") == [
        "mailbeacon.bootstrap:6 imports flask",
        "mailbeacon.bootstrap:8 imports notifier.wiring",
        "mailbeacon.bootstrap:9 imports google.cloud",
        "mailbeacon.bootstrap:11 imports addon.endpoint",
        "mailbeacon.bootstrap:12 imports slack_sdk",
        "mailbeacon.bootstrap:15 imports functions.app",
    ]
    # Relative imports resolve inside the package; a sibling called like a forbidden root is fine.
    assert forbidden_imports("from ..store.sqlite import Database", "mailbeacon.bus.local") == []
    assert forbidden_imports("from .google_like import x", "mailbeacon.bus.local") == []
    assert forbidden_imports("from . import notifier", "mailbeacon", is_package=True) == []


def test_the_core_set_is_the_whole_package_but_its_two_cloud_adapters() -> None:
    names = {module_name(p) for p in core_modules()}
    assert {"mailbeacon", "mailbeacon.services", "mailbeacon.bus.local"} <= names
    assert "mailbeacon.store.sqlite" in names and "mailbeacon.classify.rules" in names
    assert not {n for n in names if n.startswith(("mailbeacon.store.fire", "mailbeacon.bus.pub"))}


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_the_core_imports_nothing_from_its_edges(path: Path) -> None:
    found = forbidden_imports(
        path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py"
    )
    assert found == [], "the core must not depend on its edges:\n" + "\n".join(found)
