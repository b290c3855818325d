"""Command line: ``python -m custom_components.broute_meter.broute probe --port URL``.

Checks a Wi-SUN dongle and the smart meter behind it end to end: which dongle answers
(firmware, dialect, ERXUDP format), where the meter is (scan or given PAN), whether
PANA accepts the credentials, who made the meter, and one reading.

The B-route ID and password are read from ``BROUTE_ID`` / ``BROUTE_PASSWORD`` or asked
for interactively; they are never taken from the command line (which other users of
the machine can see) and never printed.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from decimal import Decimal
import getpass
import logging
import os
import sys
from typing import TYPE_CHECKING, TextIO

from .echonet import (
    EnergyScale,
    decode_coefficient,
    decode_cumulative,
    decode_digits,
    decode_instantaneous_current,
    decode_instantaneous_power,
    decode_maker_code,
    decode_release,
    decode_serial,
    decode_unit,
)
from .errors import (
    AuthenticationError,
    BRouteError,
    DongleNotRespondingError,
    EchonetDecodeError,
    JoinError,
    MeterNotFoundError,
    MeterTimeoutError,
    PortBusyError,
    PortConnectError,
    PortNotFoundError,
    PortNotReadyError,
    PortPermissionError,
    TransportError,
)
from .makers import maker_name
from .session import MeterSession, PanDescriptor, SessionTiming
from .skstack import Dialect

if TYPE_CHECKING:
    from collections.abc import Sequence

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


def _explain(exc: BRouteError, port: str) -> _Failure:
    """One clear sentence (plus advice) per outcome."""
    if isinstance(exc, PortNotFoundError):
        return _Failure(
            EXIT_PORT,
            f"Port {port} does not exist. Is the dongle plugged in? Prefer the stable "
            "/dev/serial/by-id/... path.",
        )
    if isinstance(exc, PortPermissionError):
        return _Failure(
            EXIT_PORT,
            f"No permission to open {port}. Add this user to the group owning the device "
            "(often 'dialout') or run with sufficient rights.",
        )
    if isinstance(exc, PortBusyError):
        return _Failure(
            EXIT_PORT,
            f"{port} is in use by another program (Home Assistant, ser2net, a terminal). "
            "Stop it and try again.",
        )
    if isinstance(exc, PortConnectError):
        return _Failure(EXIT_PORT, f"Cannot reach {port}: {exc}. Is the serial server running?")
    if isinstance(exc, PortNotReadyError):
        return _Failure(EXIT_PORT, f"{port} is not ready yet; try again in a moment.")
    if isinstance(exc, TransportError):
        return _Failure(EXIT_PORT, f"Port problem: {exc}")
    if isinstance(exc, DongleNotRespondingError):
        return _Failure(
            EXIT_DONGLE,
            "The port opened but no SKSTACK-IP dongle answers. Check that this is the Wi-SUN "
            "dongle (not another serial device), that it runs at 115200 baud, and that it is "
            "not a J11 (binary protocol) model.",
        )
    if isinstance(exc, MeterNotFoundError):
        return _Failure(
            EXIT_NOT_FOUND,
            "No smart meter with this B-route ID answered the scans. Move the dongle closer "
            "to the meter (fewer walls, away from metal and other radios, a USB extension "
            "cable helps), and check the B-route ID: its last 8 characters must match the "
            "meter's pairing ID.",
        )
    if isinstance(exc, AuthenticationError):
        return _Failure(
            EXIT_AUTH,
            "The meter rejected the B-route ID or password. Re-enter them exactly as issued "
            "(ID: 32 characters, password: 12); if they are right, ask the utility to "
            "re-issue them — a meter replacement invalidates old credentials.",
        )
    if isinstance(exc, JoinError | MeterTimeoutError):
        return _Failure(
            EXIT_METER,
            f"The meter was found but did not answer reliably ({exc}). The radio link is "
            "probably weak: move the dongle closer to the meter.",
        )
    return _Failure(EXIT_FAILED, f"Failed: {exc}")


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


async def _read_and_print(session: MeterSession, out: TextIO) -> None:
    identity = await session.get(0x8A, 0x8D, 0x82)
    parts = []
    if 0x8A in identity:
        code = decode_maker_code(identity[0x8A])
        name = maker_name(code)
        parts.append(f"maker 0x{code:06X}" + (f" ({name})" if name else ""))
    if 0x8D in identity:
        parts.append(f"serial {decode_serial(identity[0x8D]) or '(blank)'}")
    if 0x82 in identity:
        parts.append(f"ECHONET Lite release {decode_release(identity[0x82]) or '?'}")
    print("Meter:  " + (", ".join(parts) if parts else "identity not available"), file=out)

    scale_raw = await session.get(0xD3, 0xE1, 0xD7)
    scale = EnergyScale(
        coefficient=decode_coefficient(scale_raw[0xD3]) if 0xD3 in scale_raw else 1,
        unit=decode_unit(scale_raw[0xE1]) if 0xE1 in scale_raw else Decimal("0.1"),
        digits=decode_digits(scale_raw[0xD7]) if 0xD7 in scale_raw else 6,
    )
    values = await session.get(0xE7, 0xE8, 0xE0, 0xE3)
    reading = []
    if 0xE7 in values:
        power = decode_instantaneous_power(values[0xE7])
        reading.append("power " + ("n/a" if power is None else f"{power} W"))
    if 0xE8 in values:
        r, t = decode_instantaneous_current(values[0xE8])
        reading.append(
            "current R "
            + ("n/a" if r is None else f"{r:.1f} A")
            + (", T n/a (single phase)" if t is None else f", T {t:.1f} A")
        )
    for epc, label in ((0xE0, "forward"), (0xE3, "reverse")):
        if epc in values:
            raw = decode_cumulative(values[epc])
            reading.append(f"{label} " + ("n/a" if raw is None else _fmt_kwh(scale.to_kwh(raw))))
    unit_note = f"(coefficient {scale.coefficient}, unit {scale.unit} kWh)"
    print("Reading: " + "; ".join(reading) + f" {unit_note}", file=out)


async def probe(args: argparse.Namespace, *, timing: SessionTiming | None, out: TextIO) -> int:
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
    try:
        session = MeterSession(args.port, creds[0], creds[1], pan=pan, timing=timing)
    except ValueError as exc:
        print(f"Invalid credentials: {exc}", file=out)
        return EXIT_USAGE
    print(f"Port:   {args.port}", file=out)
    print(
        "Scanning and joining (this can take a minute)..." if pan is None else "Joining...",
        file=out,
    )
    try:
        await session.connect()
        dialect = session.dialect
        fmt = {True: "binary", False: "hex ASCII", None: "unknown"}[session.binary_payload]
        print(
            f"Dongle: firmware {session.dongle_version or '?'}, "
            f"{_DIALECT_NAMES.get(dialect, 'dialect unknown') if dialect else 'dialect unknown'}"
            f", ERXUDP data {fmt}",
            file=out,
        )
        found = session.pan
        if found is not None:
            rssi = f" ≈ {found.rssi:.1f} dBm" if found.rssi is not None else ""
            lqi = f", LQI {found.lqi}{rssi}" if found.lqi is not None else ""
            print(
                f"PAN:    channel {found.channel} (0x{found.channel:02X}), PAN ID "
                f"{found.pan_id:04X}, MAC {found.mac}{lqi}",
                file=out,
            )
        await _read_and_print(session, out)
        if found is not None and pan is None:
            print(
                f"Next time skip the scan with: --channel {found.channel} "
                f"--pan-id {found.pan_id:04X} --mac {found.mac}",
                file=out,
            )
    except BRouteError as exc:
        if isinstance(exc, EchonetDecodeError):
            print(f"The meter sent a value that could not be decoded: {exc}", file=out)
            return EXIT_METER
        failure = _explain(exc, args.port)
        print(failure.message, file=out)
        return failure.code
    finally:
        await session.close()
    print("OK: the dongle and the meter work.", file=out)
    return EXIT_OK


async def async_main(
    argv: Sequence[str] | None = None,
    *,
    timing: SessionTiming | None = None,
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
