"""The protocol library must stay usable (and publishable) without Home Assistant."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "custom_components" / "broute_meter" / "broute"


def _imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
    return names


def test_library_modules_exist() -> None:
    modules = {p.relative_to(LIBRARY).as_posix() for p in LIBRARY.rglob("*.py")}
    assert {
        "__init__.py",
        "link.py",
        "client.py",
        "connection.py",
        "transport.py",
        "links/wisun.py",
        "links/skstack.py",
        "meters/base.py",
        "meters/low_voltage.py",
    } <= modules


def test_no_module_imports_homeassistant() -> None:
    offenders = []
    for path in sorted(LIBRARY.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name in _imported_modules(tree):
            if name == "homeassistant" or name.startswith("homeassistant."):
                offenders.append(f"{path.relative_to(LIBRARY)}: {name}")
    assert offenders == []


def test_the_checker_sees_imports() -> None:
    sample = ast.parse(
        "import homeassistant.core\nfrom homeassistant import config_entries\n"
        "importlib.import_module('homeassistant.const')\n"
    )
    assert _imported_modules(sample) == [
        "homeassistant.core",
        "homeassistant",
        "homeassistant.const",
    ]
