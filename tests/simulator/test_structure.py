"""The fault injector works through the simulator's public surface, without an import loop."""

from __future__ import annotations

import ast
from pathlib import Path

FAULTS = Path(__file__).resolve().parents[2] / "simulator" / "faults.py"


def _runtime_imports(tree: ast.Module) -> list[str]:
    """Modules imported when the file runs (``if TYPE_CHECKING:`` blocks left out)."""
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.ImportFrom):
                found.append("." * sub.level + (sub.module or ""))
    return found


def _private_uses(tree: ast.Module) -> list[str]:
    """``x._name`` where ``x`` is the simulator (``sim`` or ``self._sim``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            owner = ast.unparse(node.value)
            if owner in ("sim", "self._sim"):
                found.append(f"line {node.lineno}: {owner}.{node.attr}")
    return found


def test_faults_do_not_import_the_simulator_at_run_time() -> None:
    tree = ast.parse(FAULTS.read_text(encoding="utf-8"))
    assert ".sim" not in _runtime_imports(tree)


def test_faults_use_no_private_part_of_the_simulator() -> None:
    assert _private_uses(ast.parse(FAULTS.read_text(encoding="utf-8"))) == []


def test_the_checks_can_fail() -> None:
    sample = ast.parse(
        "from .sim import Pan\nif TYPE_CHECKING:\n    from .meter import X\n"
        "def f(sim):\n    sim._close_pty()\n"
    )
    assert _runtime_imports(sample) == [".sim"]
    assert _private_uses(sample) == ["line 5: sim._close_pty"]
