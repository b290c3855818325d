"""Command line: ``python -m custom_components.broute_meter.broute probe --port URL``.

Checks a Wi-SUN dongle and the smart meter behind it end to end: which firmware answers
(SKSTACK-IP or ROHM J11, detected read-only; version, dialect, ERXUDP format), where the
meter is (scan or given PAN), whether PANA accepts the credentials, who made the meter,
and one reading.

The B-route ID and password are read from ``BROUTE_ID`` / ``BROUTE_PASSWORD`` or asked
for interactively; they are never taken from the command line (which other users of
the machine can see) and never printed.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
import getpass
import logging
import os
import sys
from typing import TYPE_CHECKING, TextIO

from .connection import ConnectionTiming, MeterConnection
from .errors import BRouteError, DongleNotRespondingError
from .links.detect import Firmware, detect_firmware
from .links.j11 import J11Link
from .links.skstack import Dialect, SkStackLink
from .links.wisun import PanDescriptor
from .makers import maker_name

if TYPE_CHECKING:
    from collections.abc import Sequence
    from decimal import Decimal

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PORT = 3
EXIT_DONGLE = 4
EXIT_NOT_FOUND = 5
EXIT_AUTH = 6
EXIT_METER = 7

_DIALECT_NAMES = {
    Dialect.A1: "Single-hop Edition (BP35A1 / RL7023 Stick-D/IPS family)",
    Dialect.DSE: "Dual Stack Edition (BP35C0/C2 / RS-WSUHA-P / RL7023 Stick-D/DSS family)",
}


@dataclass(frozen=True, slots=True)
class _Failure:
    code: int
    message: str


_WEAK_LINK = (
    EXIT_METER,
    "The meter was found but did not answer reliably ({exc}). The radio link is "
    "probably weak: move the dongle closer to the meter.",
)
# One clear sentence (plus advice) per error, by the error's translation key.
_FAILURES: dict[str, tuple[int, str]] = {
    "port_not_found": (
        EXIT_PORT,
        "Port {port} does not exist. Is the dongle plugged in? Prefer the stable "
        "/dev/serial/by-id/... path.",
    ),
    "port_permission": (
        EXIT_PORT,
        "No permission to open {port}. Add this user to the group owning the device "
        "(often 'dialout') or run with sufficient rights.",
    ),
    "port_busy": (
        EXIT_PORT,
        "{port} is in use by another program (Home Assistant, ser2net, a terminal). "
        "Stop it and try again.",
    ),
    "cannot_connect": (EXIT_PORT, "Cannot reach {port}: {exc}. Is the serial server running?"),
    "port_not_ready": (EXIT_PORT, "{port} is not ready yet; try again in a moment."),
    "port_error": (EXIT_PORT, "Port problem: {exc}"),
    "transport_lost": (EXIT_PORT, "Port problem: {exc}"),
    "dongle_not_responding": (
        EXIT_DONGLE,
        "The port opened but no Wi-SUN dongle answers (neither SKSTACK-IP nor ROHM J11). "
        "Check that this is the Wi-SUN dongle (not another serial device) and that it runs "
        "at 115200 baud.",
    ),
    "meter_not_found": (
        EXIT_NOT_FOUND,
        "No smart meter with this B-route ID answered the scans. Move the dongle closer "
        "to the meter (fewer walls, away from metal and other radios, a USB extension "
        "cable helps), and check the B-route ID: its last 8 characters must match the "
        "meter's pairing ID.",
    ),
    "invalid_auth": (
        EXIT_AUTH,
        "The meter rejected the B-route ID or password. Re-enter them exactly as issued "
        "(ID: 32 characters, password: 12); if they are right, ask the utility to "
        "re-issue them — a meter replacement invalidates old credentials.",
    ),
    "join_failed": _WEAK_LINK,
    "meter_timeout": _WEAK_LINK,
    "decode_error": (EXIT_METER, "The meter sent a value that could not be decoded: {exc}"),
}


def _explain(exc: BRouteError, port: str) -> _Failure:
    """One clear sentence (plus advice) per outcome."""
    code, template = _FAILURES.get(exc.translation_key, (EXIT_FAILED, "Failed: {exc}"))
    return _Failure(code, template.format(port=port, exc=exc))


def _parse_channel(text: str) -> int:
    value = int(text, 0)
    if 33 <= value <= 60:
        return value
    raise argparse.ArgumentTypeError("channel must be 33-60 (0x21-0x3C)")


def _parse_pan_id(text: str) -> int:
    value = int(text, 16)
    if 0 <= value <= 0xFFFF:
        return value
    raise argparse.ArgumentTypeError("PAN ID is 4 hex digits")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m custom_components.broute_meter.broute",
        description="B-route (Wi-SUN) smart meter tools.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    probe = sub.add_parser(
        "probe",
        help="check the dongle and the meter end to end",
        description="Credentials come from BROUTE_ID / BROUTE_PASSWORD or a prompt.",
    )
    probe.add_argument("--port", required=True, help="device path or serialx URL")
    probe.add_argument("--channel", type=_parse_channel, help="meter channel (skip the scan)")
    probe.add_argument("--pan-id", type=_parse_pan_id, help="meter PAN ID, hex")
    probe.add_argument("--mac", help="meter MAC, 16 hex digits")
    probe.add_argument("--debug", action="store_true", help="log the (redacted) dongle traffic")
    return parser


def _credentials(out: TextIO) -> tuple[str, str] | None:
    rbid = os.environ.get("BROUTE_ID", "").strip()
    password = os.environ.get("BROUTE_PASSWORD", "").strip()
    interactive = sys.stdin.isatty()
    if not rbid and interactive:
        rbid = getpass.getpass("B-route ID (32 characters, hidden): ").strip()
    if not password and interactive:
        password = getpass.getpass("B-route password (hidden): ").strip()
    if not rbid or not password:
        print("Set BROUTE_ID and BROUTE_PASSWORD, or run interactively to be asked.", file=out)
        return None
    return rbid, password


def _fmt_kwh(value: Decimal) -> str:
    return f"{value.normalize():f} kWh"


async def _read_and_print(conn: MeterConnection, out: TextIO) -> None:
    meter = conn.meter
    identity = await meter.read_identity()
    # The first live reading also brings the release letter (one frame).
    live = await meter.read_live(identity)
    identity = identity.completed_by(live)
    parts = []
    if identity.maker_code is not None:
        name = maker_name(identity.maker_code)
        parts.append(f"maker 0x{identity.maker_code:06X}" + (f" ({name})" if name else ""))
    if identity.serial_number is not None:
        parts.append(f"serial {identity.serial_number}")
    if identity.release is not None:
        parts.append(f"ECHONET Lite release {identity.release}")
    print("Meter:  " + (", ".join(parts) if parts else "identity not available"), file=out)

    scale = identity.scale
    reading = []
    reading.append("power " + ("n/a" if live.power_w is None else f"{live.power_w} W"))
    r, t = live.current_r_a, live.current_t_a
    reading.append(
        "current R "
        + ("n/a" if r is None else f"{r:.1f} A")
        + (", T n/a (single phase)" if t is None else f", T {t:.1f} A")
    )
    for direction, raw in live.registers.items():
        reading.append(f"{direction} " + ("n/a" if raw is None else _fmt_kwh(scale.to_kwh(raw))))
    unit_note = f"(coefficient {scale.coefficient}, unit {scale.unit} kWh)"
    print("Reading: " + "; ".join(reading) + f" {unit_note}", file=out)


async def probe(args: argparse.Namespace, *, timing: ConnectionTiming | None, out: TextIO) -> int:
    """Run the probe; returns the process exit code."""
    creds = _credentials(out)
    if creds is None:
        return EXIT_USAGE
    pan_args = (args.channel, args.pan_id, args.mac)
    pan: PanDescriptor | None = None
    if any(a is not None for a in pan_args):
        if any(a is None for a in pan_args):
            print("--channel, --pan-id and --mac go together.", file=out)
            return EXIT_USAGE
        try:
            pan = PanDescriptor(args.channel, args.pan_id, args.mac)
        except ValueError as exc:
            print(f"Invalid PAN: {exc}", file=out)
            return EXIT_USAGE
    print(f"Port:   {args.port}", file=out)
    try:
        # Read-only: the dongle is asked for its version in both protocols.
        firmware = await detect_firmware(args.port)
        if firmware is Firmware.UNKNOWN:
            raise DongleNotRespondingError("the dongle answered neither SKSTACK-IP nor J11")
    except BRouteError as exc:
        failure = _explain(exc, args.port)
        print(failure.message, file=out)
        return failure.code
    try:
        conn = MeterConnection(
            args.port, creds[0], creds[1], pan=pan, timing=timing, firmware=firmware
        )
    except ValueError as exc:
        print(f"Invalid credentials: {exc}", file=out)
        return EXIT_USAGE
    print(
        "Scanning and joining (this can take a minute)..." if pan is None else "Joining...",
        file=out,
    )
    try:
        await conn.connect()
        link = conn.link
        if isinstance(link, SkStackLink):
            dialect = link.dialect
            fmt = {True: "binary", False: "hex ASCII", None: "unknown"}[link.binary_payload]
            name = _DIALECT_NAMES.get(dialect, "dialect unknown") if dialect else "dialect unknown"
            print(
                f"Dongle: firmware {link.dongle_version or '?'}, {name}, ERXUDP data {fmt}",
                file=out,
            )
        elif isinstance(link, J11Link):
            print(
                f"Dongle: firmware {link.dongle_version or '?'}, ROHM J11 binary protocol",
                file=out,
            )
        found = conn.pan
        if found is not None:
            rssi = f" ≈ {found.rssi:.1f} dBm" if found.rssi is not None else ""
            lqi = f", LQI {found.lqi}{rssi}" if found.lqi is not None else ""
            print(
                f"PAN:    channel {found.channel} (0x{found.channel:02X}), PAN ID "
                f"{found.pan_id:04X}, MAC {found.mac}{lqi}",
                file=out,
            )
        await _read_and_print(conn, out)
        if found is not None and pan is None:
            print(
                f"Next time skip the scan with: --channel {found.channel} "
                f"--pan-id {found.pan_id:04X} --mac {found.mac}",
                file=out,
            )
    except BRouteError as exc:
        failure = _explain(exc, args.port)
        print(failure.message, file=out)
        return failure.code
    finally:
        await conn.close()
    print("OK: the dongle and the meter work.", file=out)
    return EXIT_OK


async def async_main(
    argv: Sequence[str] | None = None,
    *,
    timing: ConnectionTiming | None = None,
    out: TextIO | None = None,
) -> int:
    """Parse ``argv`` and run the command; ``timing`` lets tests use shorter timeouts."""
    args = _parser().parse_args(argv)
    if args.debug:
        logging.getLogger(__package__ or "custom_components.broute_meter.broute").setLevel(
            logging.DEBUG
        )
    return await probe(args, timing=timing, out=out if out is not None else sys.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    """Process entry point."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return asyncio.run(async_main(argv))


if __name__ == "__main__":
    sys.exit(main())
