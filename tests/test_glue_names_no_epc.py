"""The Home Assistant glue speaks the meter model's language: no codec, no EPC.

Every file of the integration outside ``broute/`` is parsed; importing the ECHONET Lite
codec module (``broute.echonet``) or naming a property code (``EPC.``/``HvEPC.``, or a
two-digit hex literal 0x80-0xFF, the range of every EPC) is what the library is for.
"""

from __future__ import annotations

import ast
import io
from pathlib import Path
import re
import tokenize

INTEGRATION = Path(__file__).resolve().parents[1] / "custom_components" / "broute_meter"
_EPC_LITERAL = re.compile(r"^0[xX][89A-Fa-f][0-9A-Fa-f]$")
_EPC_ENUMS = frozenset({"EPC", "HvEPC"})


def _glue_files() -> list[Path]:
    return sorted(
        p for p in INTEGRATION.rglob("*.py") if "broute" not in p.relative_to(INTEGRATION).parts
    )


def offences(source: str) -> list[str]:
    """What in ``source`` reaches below the meter model."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = {alias.name for alias in node.names}
            if module.endswith("broute.echonet") or (
                module.endswith("broute") and "echonet" in names
            ):
                found.append(f"line {node.lineno}: imports the ECHONET Lite codec")
            if names & _EPC_ENUMS:
                found.append(f"line {node.lineno}: imports an EPC enum")
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: imports the ECHONET Lite codec"
                for alias in node.names
                if alias.name.endswith("broute.echonet")
            ]
        elif isinstance(node, ast.Name) and node.id in _EPC_ENUMS:
            found.append(f"line {node.lineno}: names {node.id}")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NUMBER and _EPC_LITERAL.match(token.string):
            found.append(f"line {token.start[0]}: EPC-like literal {token.string}")
    return found


def test_glue_files_are_found() -> None:
    names = {p.name for p in _glue_files()}
    assert {"coordinator.py", "history.py", "config_flow.py", "sensor.py"} <= names
    assert all(p.relative_to(INTEGRATION).parts[0] != "broute" for p in _glue_files())


def test_glue_imports_no_codec_and_names_no_epc() -> None:
    found = {
        str(path.relative_to(INTEGRATION)): offences(path.read_text(encoding="utf-8"))
        for path in _glue_files()
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_the_checker_catches_each_kind() -> None:
    """The check can fail: each way of reaching below the model is seen."""
    assert offences("from .broute.echonet import decode_fault\n")
    assert offences("from .broute import echonet\n")
    assert offences("import custom_components.broute_meter.broute.echonet\n")
    assert offences("from .broute.echonet import EPC\nx = EPC.FAULT_STATUS\n")
    assert offences("values = session.get(0xE7)\n")
    assert offences("values = session.get(0x88)\n")
    # What is fine: the model's own names, other numbers, hex outside the EPC range.
    assert not offences("from .broute.meters.low_voltage import Direction\n")
    assert not offences("ok = 0x21 <= ord(c) <= 0x7E\nn = 136\n")
    assert not offences('"""fault status (EPC 0x88)"""\n')
