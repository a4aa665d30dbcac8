"""Dependencies point one way, down this table of layers, for every module of every package:

    core <- adapters <- add-on, notifier <- edge <- runtime <- deploy and the command line

A module may import its own layer and the layers below it, never one above; the add-on and the
notifier never import each other; the loopback stand-ins import nothing of ours, and only the
deploy layer (the rehearsal) imports them. Flask belongs
to the edge and above, and the cloud SDKs to the adapters and above (the add-on and the
notifier reach Google through the adapters; only the notifier's channels speak Slack).
Read from the source with ``ast``, so lazy (function-level) imports, imports under
``TYPE_CHECKING`` and ``importlib.import_module("...")`` with a literal name count too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mailbeacon", "addon", "notifier", "functions")

# (layer, module prefixes): the longest matching prefix names a module's layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", ("mailbeacon",)),
    (
        "adapters",
        (
            "mailbeacon.store.sqlite",
            "mailbeacon.store.firestore",
            "mailbeacon.store.firestore_docs",
            "mailbeacon.store.coalesce",
            "mailbeacon.bus.local",
            "mailbeacon.bus.spool",
            "mailbeacon.bus.pubsub",
            "mailbeacon.bus.pubsub_pull",
            "mailbeacon.bus.pubsub_dead",
            "mailbeacon.google",
        ),
    ),
    ("add-on", ("addon",)),
    ("notifier", ("notifier",)),
    (
        "edge",
        (
            "functions.app",
            "functions.tracking_edge",  # the pixel's and the click's bare WSGI answer
            "functions.api",
            "functions.dashboard",
            "functions.notify_routes",
            "functions.gmail_routes",
            "functions.json_body",
            "functions.outage",
            "functions.reminder_routes",
            "functions.endpoints",
            "functions.loopback",  # whether a request comes from this computer (dev sign-in)
            "functions.edge",  # the local server's event loop (serving.py puts it together)
        ),
    ),
    (
        "runtime",
        (
            "functions",
            "functions.bootstrap",
            "functions.config",
            "functions.consumers",
            "functions.jobs",
            "functions.server",
            "functions.edge.serving",
            "functions.worker",
            "functions.main",
        ),
    ),
    ("stand-ins", ("functions.standins",)),
    ("deploy", ("functions.deploy", "functions.front", "functions.rehearsal", "functions.cli")),
)
RANK = {"core": 0, "adapters": 1, "add-on": 2, "notifier": 2, "edge": 3, "runtime": 4}
RANK |= {"stand-ins": 5, "deploy": 6}  # the rehearsal uses the stand-ins; nothing below may
SIDEWAYS = {("add-on", "notifier"), ("notifier", "add-on")}
# Third-party roots and the lowest layer allowed to import them.
THIRD_PARTY = {
    "flask": "edge",
    "werkzeug": "edge",
    "google": "adapters",
    "googleapiclient": "adapters",
    "google_auth_httplib2": "adapters",
    "httplib2": "adapters",
    "grpc": "adapters",
    "slack_sdk": "notifier",
}


def layer_of(module: str) -> str | None:
    """The layer of one of our modules, or None for a module that is not ours."""
    matches = [
        (len(prefix), layer)
        for layer, prefixes in LAYERS
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    return max(matches)[1] if matches else None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def product_modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


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


def refusal(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported``, or None when it may."""
    mine, root = layer_of(importer), imported.split(".")[0]
    assert mine is not None, f"{importer} is in no layer: add it to LAYERS"
    if root in THIRD_PARTY:
        lowest = THIRD_PARTY[root]
        allowed = RANK[mine] >= RANK[lowest] and not (mine == "add-on" and lowest == "notifier")
        return None if allowed else f"{root} belongs to the {lowest} layer and above"
    if root not in PACKAGES or imported in PACKAGES:
        return None  # the standard library, other packages, and a package as a namespace
    theirs = layer_of(imported)
    if theirs is None or theirs == mine:
        return None
    if mine == "stand-ins":
        return "the stand-ins speak Google's and Slack's wire formats and import nothing of ours"
    if (mine, theirs) in SIDEWAYS:
        return f"the {mine} layer never imports the {theirs} layer"
    if RANK[theirs] > RANK[mine]:
        return f"the {mine} layer may not import the {theirs} layer above it"
    return None


def violations(source: str, module: str, *, is_package: bool = False) -> list[str]:
    """One line per offending import statement: the first name it may not import, and why."""
    found: dict[int, str] = {}
    for line, name in imported_names(source, module, is_package=is_package):
        why = refusal(module, name)
        if why and line not in found:
            found[line] = f"{module}:{line} imports {name}: {why}"
    return [found[line] for line in sorted(found)]


def test_the_checker_sees_lazy_relative_and_dynamic_imports() -> None:
    """The rule itself, on sources that hide an import the ways a real module could."""
    hidden = """from __future__ import annotations
import json
from typing import TYPE_CHECKING
from . import clock
if TYPE_CHECKING:
    from flask import Flask
def later():
    import notifier.handler
    from google.cloud import firestore
    import importlib
    importlib.import_module("addon.endpoint")
    return __import__("slack_sdk")
class Late:
    def run(self):
        from functions.app import create_app
"""
    assert [line.split(":")[1] for line in violations(hidden, "mailbeacon.reporting")] == [
        "6 imports flask",
        "8 imports notifier.handler",
        "9 imports google.cloud",
        "11 imports addon.endpoint",
        "12 imports slack_sdk",
        "15 imports functions.app",
    ]
    # Relative imports resolve inside the package; a sibling called like a forbidden root is fine.
    assert violations("from ..store.sqlite import Database", "mailbeacon.bus.local") == []
    assert violations("from .google_like import x", "mailbeacon.bus.local") == []
    assert violations("from . import notifier", "mailbeacon", is_package=True) == []


def test_the_table_orders_the_layers_as_the_architecture_says() -> None:
    assert layer_of("mailbeacon.tracking") == "core"
    assert layer_of("mailbeacon.store.memory") == "core"  # the fakes are core code
    assert layer_of("mailbeacon.google.gmail") == "adapters"
    assert refusal("mailbeacon.tracking", "mailbeacon.store.sqlite")  # only the root wires
    assert refusal("addon.handlers", "notifier.handler")
    assert refusal("notifier.handler", "functions.bootstrap")
    assert refusal("functions.dashboard.views", "functions.bootstrap")  # the edge is handed deps
    assert refusal("functions.bootstrap", "functions.app") is None
    assert refusal("functions.standins.slack", "mailbeacon.model")
    assert refusal("functions.rehearsal", "functions.standins.slack") is None
    assert refusal("functions.server", "functions.standins.slack")  # not in what is deployed
    assert refusal("addon.handlers", "slack_sdk")
    assert refusal("notifier.channels.slack_app", "slack_sdk") is None
    assert refusal("mailbeacon.google.identity", "google.oauth2") is None
    assert refusal("mailbeacon.summary", "google.oauth2")


@pytest.mark.parametrize("path", product_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_module_imports_only_its_layer_and_below(path: Path) -> None:
    module = module_name(path)
    found = violations(
        path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py"
    )
    assert found == [], "imports against the layers:\n" + "\n".join(found)


def dependencies(source: str, module: str, known: set[str], *, is_package: bool) -> set[str]:
    """The product modules ``source`` imports, lazy ones included: ``from a import b`` names
    the module ``a.b`` when there is one, else ``a`` (``b`` is defined in it)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base) + (f".{node.module}" if node.module else "")
            else:
                target = node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
    return {name for name in found if name in known and name != module}


def cycles_of(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def product_import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in product_modules()}
    known = set(paths) - set(PACKAGES)
    return {
        module: dependencies(
            path.read_text(encoding="utf-8"), module, known, is_package=path.name == "__init__.py"
        )
        for module, path in paths.items()
    }


def test_the_cycle_finder_sees_a_lazy_loop() -> None:
    known = {"mailbeacon.policy", "mailbeacon.tracking", "mailbeacon.model"}
    policy = "from .model import Message\ndef f():\n    from .tracking import track_message\n"
    deps = dependencies(policy, "mailbeacon.policy", known, is_package=False)
    assert deps == {"mailbeacon.model", "mailbeacon.tracking"}
    graph = {
        "mailbeacon.policy": deps,
        "mailbeacon.tracking": {"mailbeacon.policy"},
        "mailbeacon.model": set(),
    }
    assert cycles_of(graph) == [["mailbeacon.policy", "mailbeacon.tracking"]]


def test_the_product_code_has_no_import_cycle() -> None:
    """Lazy imports count: a function-level import that closes a loop is still a loop."""
    assert cycles_of(product_import_graph()) == []
