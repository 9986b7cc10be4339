"""Structural guards: the layering of DESIGN.md, where third-party packages may be imported, and
the linters. Each failure names the module and the import that broke the rule."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "kyuubi_py"

#: Lower layers never import higher ones. Modules of one rank may import each other only within
#: the same group (e.g. session/ and operation/ share rank 3; server/ and engine/ do not).
LAYERS: list[tuple[str, int, str]] = [
    ("kyuubi_py.errors", 0, "base"),
    ("kyuubi_py.config", 0, "base"),
    ("kyuubi_py.log", 1, "base"),
    ("kyuubi_py.protocol", 1, "base"),
    ("kyuubi_py.service.lifecycle", 1, "base"),
    ("kyuubi_py.transport", 2, "transport"),
    ("kyuubi_py.auth", 2, "auth"),
    ("kyuubi_py.ha", 2, "ha"),
    ("kyuubi_py.operation", 3, "service"),
    ("kyuubi_py.session", 3, "service"),
    ("kyuubi_py.service", 3, "service"),
    ("kyuubi_py.server", 4, "server"),
    ("kyuubi_py.engine", 4, "engine"),
    ("kyuubi_py.cli", 5, "cli"),
]

#: Heavy or security-relevant dependencies stay at the leaves (DESIGN.md).
ONLY_IMPORTED_BY = {
    "pyspark": ("kyuubi_py.engine.spark",),
    "py4j": ("kyuubi_py.engine.spark",),
    "kazoo": ("kyuubi_py.ha.zookeeper",),
    "ldap3": ("kyuubi_py.auth.ldap",),
}


def layer_of(module: str) -> tuple[int, str]:
    best = max(
        (entry for entry in LAYERS if module == entry[0] or module.startswith(entry[0] + ".")),
        key=lambda entry: len(entry[0]),
        default=None,
    )
    if best is None:
        return (1, "base") if module == "kyuubi_py" else (9, module)
    return best[1], best[2]


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "_gen" in path.parts:
            continue
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        found.append((name, path))
    return found


def imports_of(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_layers_only_import_downwards() -> None:
    problems = []
    for module, path in modules():
        rank, group = layer_of(module)
        for imported in imports_of(path):
            if not imported.startswith("kyuubi_py"):
                continue
            other_rank, other_group = layer_of(imported)
            if other_rank > rank or (other_rank == rank and other_group != group):
                problems.append(f"{module} imports {imported}")
    assert problems == []


def test_third_party_leaves() -> None:
    problems = []
    for module, path in modules():
        for imported in imports_of(path):
            top = imported.split(".")[0]
            allowed = ONLY_IMPORTED_BY.get(top)
            if allowed and not module.startswith(allowed):
                problems.append(f"{module} imports {imported}")
    assert problems == []


def test_every_package_module_has_a_docstring_or_is_empty() -> None:
    missing = [
        module
        for module, path in modules()
        if path.read_text(encoding="utf-8").strip()
        and ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) is None
        and not path.name == "__init__.py"
    ]
    assert missing == []


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "kyuubi_py", "tests", "scripts", "bench"],
        ["ruff", "format", "--check", "kyuubi_py", "tests", "bench"],
        ["mypy", "kyuubi_py"],
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_linters_are_clean(command: list[str]) -> None:
    executable = Path(sys.executable).with_name(command[0])
    result = subprocess.run(
        [str(executable), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_gateway_process_does_not_load_data_libraries() -> None:
    # The gateway relays result bytes and never builds rows: pyarrow, numpy and pyspark would
    # only cost it ~50 MB of RSS (and the memory-per-session and streaming benchmarks).
    probe = (
        "import sys, kyuubi_py.cli, kyuubi_py.server.main; "
        "print(sorted(m for m in ('pyarrow', 'numpy', 'pyspark', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
