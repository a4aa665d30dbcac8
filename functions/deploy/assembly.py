"""The folder Cloud Functions builds from: main.py, requirements.txt and the packages the
functions import, without what only the command line, the deployer or the tests use, and
their bytecode, compiled here so that no instance compiles them at its cold start."""

from __future__ import annotations

import compileall
import py_compile
import re
import shutil
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from .resources import RUNTIME

ROOT = Path(__file__).resolve().parents[2]
"""The folder holding our packages: a clone's root, or site-packages for an installed wheel."""
PACKAGES = ("mailbeacon", "functions", "addon", "notifier")
LEFT_OUT = (
    # What only the command line, the deployer or the tests use: not in the functions' source.
    "functions/cli",
    "functions/deploy",
    "functions/rehearsal",
    "functions/server.py",
    "functions/standins",
    "functions/cloud_files",
    "mailbeacon/evaluation",
)
"""Paths under ROOT; each exists (tests/unit/test_deploy_plan.py checks)."""


def requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """What the functions need at run time: the core dependencies plus the cloud and notify
    extras (never the dev extra); from pyproject in a clone, from the metadata in a wheel."""
    if pyproject.exists():
        project = tomllib.loads(pyproject.read_text())["project"]
        extras = project.get("optional-dependencies", {})
        return [*project["dependencies"], *extras.get("cloud", []), *extras.get("notify", [])]
    wanted = []
    for requirement in metadata.requires("mailbeacon") or []:
        spec, _, marker = requirement.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        if extra is None or extra.group(1) in ("cloud", "notify"):
            wanted.append(spec.strip())
    return wanted


def assemble_source(target: Path) -> Path:
    """The folder Cloud Functions builds from: main.py, requirements.txt and the modules the
    functions import, without the command line, the deployer, the tests or caches."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    left_out = {ROOT / path for path in LEFT_OUT}

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in ("__pycache__", "tests") or n.endswith(".pyc")}
        return skipped | {n for n in names if Path(folder, n) in left_out}

    for package in PACKAGES:
        if (ROOT / package).is_dir():
            shutil.copytree(ROOT / package, target / package, ignore=ignore)
    shutil.copy2(ROOT / "functions" / "main.py", target / "main.py")
    (target / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    compile_bytecode(target)
    return target


def compile_bytecode(target: Path) -> bool:
    """Bytecode for every module, when this Python is the functions' runtime (python311).

    Each instance of a function starts from the uploaded files (gcloud uploads the whole
    folder: it has no .git, .gitignore or node_modules, so no ignore list applies) on a disk of
    its own, so without bytecode every cold start compiles every module it imports (a median
    13 ms of the pixel's in five runs of bench/coldstart.py). The files are hash-based and
    checked: the upload and the build do not keep modification times, which timestamped
    bytecode needs to be used, and a source changed after the assembly is compiled afresh
    rather than run stale."""
    if sys.implementation.cache_tag != f"cpython-{RUNTIME.removeprefix('python')}":
        return False  # the runtime would not read another interpreter's bytecode
    compiled = compileall.compile_dir(
        target,
        quiet=1,
        workers=1,
        optimize=0,  # what the runtime reads (not .opt-1.pyc), whatever PYTHONOPTIMIZE says
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    if not compiled:
        raise RuntimeError(f"the functions' source in {target} does not compile")
    return True
