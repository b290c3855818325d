"""ECHONET Lite frames and the property codecs of the smart electric energy meter classes.

Pure functions only: no I/O, no asyncio, no Home Assistant. Everything that parses bytes
coming from a meter raises :class:`EchonetDecodeError` and nothing else, so callers need
one ``except`` clause however malformed the input is. Builders and encoders are fed by
our own code; they raise :class:`ValueError` on arguments that cannot be encoded.

Layout facts (ECHONET Lite format 1, class 0x0288 low-voltage and 0x028A high-voltage
smart electric energy meters) follow the ECHONET Lite specification and the Appendix
(Release F and later; C0, D0, EE and EF from the Release R data, see docs/release-r.md).
All multi-byte integers are big-endian.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import IntEnum
import hashlib
import hmac
import struct
from typing import TYPE_CHECKING

from .errors import EchonetDecodeError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

type EOJ = tuple[int, int, int]

CONTROLLER_EOJ: EOJ = (0x05, 0xFF, 0x01)
LV_METER_EOJ: EOJ = (0x02, 0x88, 0x01)
HV_METER_EOJ: EOJ = (0x02, 0x8A, 0x01)
NODE_PROFILE_EOJ: EOJ = (0x0E, 0xF0, 0x01)

EHD1 = 0x10
EHD2_FORMAT1 = 0x81
HEADER_SIZE = 12  # EHD1 EHD2 TID(2) SEOJ(3) DEOJ(3) ESV OPC

# The AIF specification for HEMS <-> low-voltage meter only guarantees that a meter
# handles requests with up to six properties; split longer lists (see chunk_epcs).
MAX_EPCS_PER_REQUEST = 6

# "No data / not measured" for unsigned 4-byte registers (cumulative energy, histories).
NO_DATA_U32 = 0xFFFFFFFE
# Highest value an 8-digit cumulative register may hold.
MAX_CUMULATIVE = 99_999_999


class ESV(IntEnum):
    """ECHONET Lite service codes."""

    SETI = 0x60
    SETC = 0x61
    GET = 0x62
    INF_REQ = 0x63
    SETGET = 0x6E
    SET_RES = 0x71
    GET_RES = 0x72
    INF = 0x73
    INFC = 0x74
    INFC_RES = 0x7A
    SETGET_RES = 0x7E
    SETI_SNA = 0x50
    SETC_SNA = 0x51
    GET_SNA = 0x52
    INF_SNA = 0x53
    SETGET_SNA = 0x5E


class EPC(IntEnum):
    """Property codes of the device super class, the node profile (D5/D6) and class 0x0288."""

    # Device object super class.
    OPERATION_STATUS = 0x80
    INSTALLATION_LOCATION = 0x81
    STANDARD_VERSION = 0x82
    IDENTIFICATION_NUMBER = 0x83
    MEASURED_POWER_CONSUMPTION = 0x84
    MEASURED_ENERGY_CONSUMPTION = 0x85
    MANUFACTURER_FAULT_CODE = 0x86
    CURRENT_LIMIT_SETTING = 0x87
    FAULT_STATUS = 0x88
    FAULT_DESCRIPTION = 0x89
    MANUFACTURER_CODE = 0x8A
    BUSINESS_FACILITY_CODE = 0x8B
    PRODUCT_CODE = 0x8C
    PRODUCTION_NUMBER = 0x8D
    PRODUCTION_DATE = 0x8E
    POWER_SAVING_OPERATION = 0x8F
    REMOTE_CONTROL_SETTING = 0x93
    CURRENT_TIME = 0x97
    CURRENT_DATE = 0x98
    POWER_LIMIT_SETTING = 0x99
    CUMULATIVE_OPERATING_TIME = 0x9A
    STATUS_CHANGE_PROPERTY_MAP = 0x9D
    SET_PROPERTY_MAP = 0x9E
    GET_PROPERTY_MAP = 0x9F
    # Node profile (0x0EF0).
    INSTANCE_LIST_NOTIFICATION = 0xD5
    SELF_NODE_INSTANCE_LIST = 0xD6
    # Low-voltage smart electric energy meter (0x0288).
    ROUTE_B_ID = 0xC0
    ONE_MINUTE_CUMULATIVE = 0xD0
    COEFFICIENT = 0xD3
    EFFECTIVE_DIGITS = 0xD7
    CUMULATIVE_FORWARD = 0xE0
    CUMULATIVE_UNIT = 0xE1
    HISTORY1_FORWARD = 0xE2
    CUMULATIVE_REVERSE = 0xE3
    HISTORY1_REVERSE = 0xE4
    HISTORY1_DAY = 0xE5
    INSTANTANEOUS_POWER = 0xE7
    INSTANTANEOUS_CURRENT = 0xE8
    FIXED_TIME_FORWARD = 0xEA
    FIXED_TIME_REVERSE = 0xEB
    HISTORY2 = 0xEC
    HISTORY2_SETTING = 0xED
    HISTORY3 = 0xEE
    HISTORY3_SETTING = 0xEF
    # Aliases (same members under the names the integration uses).
    RELEASE = 0x82
    MAKER_CODE = 0x8A
    SERIAL_NUMBER = 0x8D
    DIGITS = 0xD7
    FORWARD_ENERGY = 0xE0
    UNIT = 0xE1
    REVERSE_ENERGY = 0xE3
    FIXED_TIME_FORWARD_ENERGY = 0xEA
    FIXED_TIME_REVERSE_ENERGY = 0xEB


class HvEPC(IntEnum):
    """Property codes of the high-voltage smart electric energy meter (0x028A).

    Several codes are reused by class 0x0288 with another meaning, hence a separate enum.
    """

    MONTHLY_MAX_DEMAND = 0xC1
    CUMULATIVE_MAX_DEMAND = 0xC2
    FIXED_TIME_DEMAND = 0xC3
    DEMAND_DIGITS = 0xC4
    DEMAND_UNIT = 0xC5
    DEMAND_HISTORY = 0xC6
    CUMULATIVE_MAX_DEMAND_UNIT = 0xC7
    # Lagging reactive energy "for power-factor measurement" (optional): the current
    # value and the one at the last 30-minute boundary (date-time 7 + u32), digits,
    # unit, and the 48-slot history of the day chosen with E1.
    REACTIVE_LAG = 0xCA
    FIXED_TIME_REACTIVE_LAG = 0xCB
    REACTIVE_LAG_DIGITS = 0xCC
    REACTIVE_LAG_UNIT = 0xCD
    REACTIVE_LAG_HISTORY = 0xCE
    COEFFICIENT = 0xD3
    COEFFICIENT_MULTIPLIER = 0xD4
    BILLING_DAY = 0xE0
    HISTORY_DAY = 0xE1
    CUMULATIVE_ACTIVE = 0xE2
    FIXED_TIME_ACTIVE = 0xE3
    POWER_FACTOR_ACTIVE = 0xE4
    ACTIVE_DIGITS = 0xE5
    ACTIVE_UNIT = 0xE6
    ACTIVE_HISTORY = 0xE7


_RESPONSE_ESVS = frozenset({ESV.SET_RES, ESV.GET_RES, ESV.INFC_RES, ESV.SETGET_RES})
_NOTIFICATION_ESVS = frozenset({ESV.INF, ESV.INFC})


# --- frames -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Property:
    """One EPC with its data (PDC is ``len(edt)``)."""

    epc: int
    edt: bytes = b""


@dataclass(frozen=True, slots=True)
class Frame:
    """An ECHONET Lite format-1 frame.

    ``esv`` is an :class:`ESV` member when known, a plain ``int`` otherwise.
    """

    tid: int
    seoj: EOJ
    deoj: EOJ
    esv: int
    properties: tuple[Property, ...]

    def is_response(self) -> bool:
        """True for replies to a request: Set_Res, Get_Res, INFC_Res, SetGet_Res and SNAs.

        INF (0x73) is a notification, not a response, even when an INF_REQ caused it.
        """
        return self.esv in _RESPONSE_ESVS or self.is_sna()

    def is_sna(self) -> bool:
        """True for the "service not available" replies (0x50-0x5F)."""
        return 0x50 <= self.esv <= 0x5F

    def is_notification(self) -> bool:
        """True for INF and INFC."""
        return self.esv in _NOTIFICATION_ESVS

    def values(self) -> dict[int, bytes]:
        """EDT by EPC for the properties that carry data (PDC > 0)."""
        return {p.epc: p.edt for p in self.properties if p.edt}

    def property(self, epc: int) -> bytes | None:
        """EDT of the first property with this EPC; ``b""`` if it came with PDC 0.

        ``None`` means the EPC is not in the frame at all.
        """
        for prop in self.properties:
            if prop.epc == epc:
                return prop.edt
        return None


def _check_eoj(eoj: EOJ) -> None:
    if len(eoj) != 3 or not all(0 <= part <= 0xFF for part in eoj):
        raise ValueError(f"EOJ must be three bytes, got {eoj!r}")


def encode_frame(frame: Frame) -> bytes:
    """Serialise a format-1 frame; ``ValueError`` if a field does not fit."""
    if not 0 <= frame.tid <= 0xFFFF:
        raise ValueError(f"TID out of range: {frame.tid}")
    _check_eoj(frame.seoj)
    _check_eoj(frame.deoj)
    if not 0 <= frame.esv <= 0xFF:
        raise ValueError(f"ESV out of range: {frame.esv}")
    if len(frame.properties) > 0xFF:
        raise ValueError(f"too many properties: {len(frame.properties)}")
    out = bytearray((EHD1, EHD2_FORMAT1))
    out += frame.tid.to_bytes(2, "big")
    out += bytes(frame.seoj)
    out += bytes(frame.deoj)
    out.append(frame.esv)
    out.append(len(frame.properties))
    for prop in frame.properties:
        if not 0 <= prop.epc <= 0xFF:
            raise ValueError(f"EPC out of range: {prop.epc}")
        if len(prop.edt) > 0xFF:
            raise ValueError(f"EDT of EPC 0x{prop.epc:02X} longer than 255 bytes")
        out.append(prop.epc)
        out.append(len(prop.edt))
        out += prop.edt
    return bytes(out)


def _esv(value: int) -> int:
    try:
        return ESV(value)
    except ValueError:
        return value


def decode_frame(data: bytes) -> Frame:
    """Parse a format-1 frame; the whole buffer must be exactly one frame."""
    if len(data) < HEADER_SIZE:
        raise EchonetDecodeError(f"frame too short: {len(data)} bytes")
    if data[0] != EHD1:
        raise EchonetDecodeError(f"not an ECHONET Lite frame (EHD1 0x{data[0]:02X})")
    if data[1] != EHD2_FORMAT1:
        raise EchonetDecodeError(f"unsupported frame format (EHD2 0x{data[1]:02X})")
    tid = int.from_bytes(data[2:4], "big")
    seoj: EOJ = (data[4], data[5], data[6])
    deoj: EOJ = (data[7], data[8], data[9])
    esv = _esv(data[10])
    opc = data[11]
    pos = HEADER_SIZE
    props: list[Property] = []
    for index in range(opc):
        if pos + 2 > len(data):
            raise EchonetDecodeError(f"frame truncated before property {index + 1} of {opc}")
        epc, pdc = data[pos], data[pos + 1]
        pos += 2
        if pos + pdc > len(data):
            raise EchonetDecodeError(
                f"EPC 0x{epc:02X} announces {pdc} bytes, only {len(data) - pos} left"
            )
        props.append(Property(epc, bytes(data[pos : pos + pdc])))
        pos += pdc
    if pos != len(data):
        raise EchonetDecodeError(f"{len(data) - pos} unexpected bytes after the last property")
    return Frame(tid, seoj, deoj, esv, tuple(props))


#: Properties whose value never reaches a log: C0, the B-route identification number.
_UNLOGGED_EPCS = frozenset({EPC.ROUTE_B_ID})


def loggable_payload(data: bytes) -> str:
    """A datagram as upper-case hex for a traffic log, with C0 values masked.

    The frame is walked leniently (a short or malformed one too), and each C0 value
    is replaced by its length, so the meter's identification number is never
    logged while everything else stays as sent. Not an ECHONET Lite frame: plain hex.
    """
    if len(data) < HEADER_SIZE or data[0] != EHD1 or data[1] != EHD2_FORMAT1:
        return data.hex().upper()
    out = [data[:HEADER_SIZE].hex().upper()]
    pos = HEADER_SIZE
    for _ in range(data[11]):
        if pos + 2 > len(data):
            break
        epc, pdc = data[pos], data[pos + 1]
        edt = data[pos + 2 : pos + 2 + pdc]
        out.append(data[pos : pos + 2].hex().upper())
        if epc in _UNLOGGED_EPCS and edt:
            out.append(f"<{len(edt)} bytes>")
        else:
            out.append(edt.hex().upper())
        pos += 2 + pdc
    out.append(data[pos:].hex().upper())
    return "".join(out)


def chunk_epcs(epcs: Iterable[int], size: int = MAX_EPCS_PER_REQUEST) -> list[tuple[int, ...]]:
    """Split EPCs into request-sized groups, keeping order and dropping duplicates."""
    unique = tuple(dict.fromkeys(epcs))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


def _request(tid: int, deoj: EOJ, esv: ESV, props: Iterable[Property]) -> bytes:
    properties = tuple(props)
    if not properties:
        raise ValueError("a request needs at least one property")
    if len(properties) > MAX_EPCS_PER_REQUEST:
        raise ValueError(
            f"{len(properties)} properties in one request; meters only promise "
            f"{MAX_EPCS_PER_REQUEST} (use chunk_epcs)"
        )
    return encode_frame(Frame(tid, CONTROLLER_EOJ, deoj, esv, properties))


def build_get(tid: int, epcs: Iterable[int], deoj: EOJ = LV_METER_EOJ) -> bytes:
    """Get request from the controller object (1-6 EPCs)."""
    return _request(tid, deoj, ESV.GET, (Property(epc) for epc in epcs))


def build_setc(tid: int, props: Iterable[tuple[int, bytes]], deoj: EOJ = LV_METER_EOJ) -> bytes:
    """SetC (set with response) request from the controller object."""
    return _request(tid, deoj, ESV.SETC, (Property(epc, bytes(edt)) for epc, edt in props))


def build_inf_req(tid: int, epcs: Iterable[int], deoj: EOJ = NODE_PROFILE_EOJ) -> bytes:
    """INF_REQ: ask the node to announce properties (by default the D5 instance list)."""
    return _request(tid, deoj, ESV.INF_REQ, (Property(epc) for epc in epcs))


def build_infc_res(request: Frame) -> bytes:
    """Acknowledge an INFC: same TID, objects swapped, each EPC with PDC 0."""
    if request.esv != ESV.INFC:
        raise ValueError(f"not an INFC frame (ESV 0x{request.esv:02X})")
    props = tuple(Property(p.epc) for p in request.properties)
    return encode_frame(Frame(request.tid, request.deoj, request.seoj, ESV.INFC_RES, props))


# --- helpers for property decoders -------------------------------------------------------


def _expect_len(edt: bytes, size: int, what: str) -> None:
    if len(edt) != size:
        raise EchonetDecodeError(f"{what}: expected {size} bytes, got {len(edt)}")


def _u32(edt: bytes, offset: int) -> int:
    value: int = struct.unpack_from(">I", edt, offset)[0]
    return value


def _register(value: int) -> int | None:
    """A cumulative register value, or None for "no data" and anything out of range."""
    return None if value > MAX_CUMULATIVE else value


def _datetime(edt: bytes, offset: int, *, seconds: bool, what: str) -> datetime:
    year = int.from_bytes(edt[offset : offset + 2], "big")
    month, day, hour, minute = edt[offset + 2 : offset + 6]
    second = edt[offset + 6] if seconds else 0
    try:
        return datetime(year, month, day, hour, minute, second)  # naive: meter local time
    except ValueError as err:
        raise EchonetDecodeError(f"{what}: invalid date/time ({err})") from None


# --- class 0x0288 properties -----------------------------------------------------------

_POWER_NO_DATA = 0x7FFFFFFE
_POWER_OVERFLOW = 0x7FFFFFFF
_POWER_UNDERFLOW = -0x80000000
_CURRENT_SENTINELS = frozenset({0x7FFE, 0x7FFF, -0x8000})


def decode_instantaneous_power(edt: bytes) -> int | None:
    """E7: signed watts (negative = export); None for no data, overflow and underflow."""
    _expect_len(edt, 4, "instantaneous power")
    value = int.from_bytes(edt, "big", signed=True)
    if value in (_POWER_NO_DATA, _POWER_OVERFLOW, _POWER_UNDERFLOW):
        return None
    return value


def decode_instantaneous_current(edt: bytes) -> tuple[float | None, float | None]:
    """E8: R-phase and T-phase current in amperes (0.1 A units, signed).

    Single-phase two-wire meters report T as "no data" (0x7FFE), which becomes None.
    """
    _expect_len(edt, 4, "instantaneous current")
    r, t = struct.unpack(">hh", edt)
    return (
        None if r in _CURRENT_SENTINELS else r / 10,
        None if t in _CURRENT_SENTINELS else t / 10,
    )


def decode_cumulative(edt: bytes) -> int | None:
    """E0/E3: raw cumulative register (multiply with :class:`EnergyScale`).

    None for 0xFFFFFFFE ("no data") and for any value above 99,999,999: the register
    holds at most eight digits, so a larger number is a sentinel or garbage, never a
    reading.
    """
    _expect_len(edt, 4, "cumulative energy")
    return _register(_u32(edt, 0))


_UNITS: dict[int, Decimal] = {
    0x00: Decimal(1),
    0x01: Decimal("0.1"),
    0x02: Decimal("0.01"),
    0x03: Decimal("0.001"),
    0x04: Decimal("0.0001"),
    0x0A: Decimal(10),
    0x0B: Decimal(100),
    0x0C: Decimal(1000),
    0x0D: Decimal(10000),
}


def decode_unit(edt: bytes) -> Decimal:
    """E1 (and 0x028A C5/C7/CD/E6): the size of one register step (kWh, kW or kvarh)."""
    _expect_len(edt, 1, "unit")
    try:
        return _UNITS[edt[0]]
    except KeyError:
        raise EchonetDecodeError(f"unknown unit code 0x{edt[0]:02X}") from None


def encode_unit(unit: Decimal) -> bytes:
    """Inverse of :func:`decode_unit`; ``ValueError`` for a unit without a code."""
    for code, value in _UNITS.items():
        if value == unit:
            return bytes((code,))
    raise ValueError(f"no unit code for {unit}")


def decode_coefficient(edt: bytes) -> int:
    """D3: multiplier of the cumulative registers (1-999,999).

    Zero is rejected too: it would turn every reading into 0 kWh. Meters without D3
    mean a coefficient of 1.
    """
    _expect_len(edt, 4, "coefficient")
    value = _u32(edt, 0)
    if not 1 <= value <= 999_999:
        raise EchonetDecodeError(f"coefficient out of range: {value}")
    return value


_COEFFICIENT_MULTIPLIERS: dict[int, Decimal] = {
    0x00: Decimal(1),
    0x01: Decimal("0.1"),
    0x02: Decimal("0.01"),
    0x03: Decimal("0.001"),
}


def decode_coefficient_multiplier(edt: bytes) -> Decimal:
    """0x028A D4: multiplying factor applied to the coefficient."""
    _expect_len(edt, 1, "coefficient multiplier")
    try:
        return _COEFFICIENT_MULTIPLIERS[edt[0]]
    except KeyError:
        raise EchonetDecodeError(f"unknown coefficient multiplier 0x{edt[0]:02X}") from None


def decode_digits(edt: bytes) -> int:
    """D7 (and 0x028A C4/CC/E5): number of effective digits of the register, 1-8."""
    _expect_len(edt, 1, "effective digits")
    if not 1 <= edt[0] <= 8:
        raise EchonetDecodeError(f"effective digits out of range: {edt[0]}")
    return edt[0]


@dataclass(frozen=True, slots=True)
class FixedTimeReading:
    """EA/EB: register value at the latest 30-minute boundary (naive meter local time)."""

    timestamp: datetime
    raw: int | None


def decode_fixed_time(edt: bytes) -> FixedTimeReading:
    """EA/EB (and 0x028A C3/CA/CB/E2/E3/E4): YYYY MM DD hh mm ss + u32."""
    _expect_len(edt, 11, "fixed-time reading")
    stamp = _datetime(edt, 0, seconds=True, what="fixed-time reading")
    return FixedTimeReading(stamp, _register(_u32(edt, 7)))


@dataclass(frozen=True, slots=True)
class History1:
    """E2/E4: one day of 30-minute register values.

    ``day`` is the E5 selection (0 = today, 1-99 days ago; 0xFF "unset" on some meters);
    ``values[i]`` is the register at 00:00 + i x 30 min, None where the meter has no data.
    """

    day: int
    values: tuple[int | None, ...]

    SLOTS = 48

    def slot_time(self, index: int) -> time:
        """Time of day of slot ``index``."""
        return time(index // 2, 30 * (index % 2))


def decode_history1(edt: bytes) -> History1:
    """E2/E4 (and 0x028A C6/CE/E7): u16 day + 48 x u32."""
    _expect_len(edt, 2 + 4 * History1.SLOTS, "history 1")
    day = int.from_bytes(edt[:2], "big")
    values = tuple(_register(v) for (v,) in struct.iter_unpack(">I", edt[2:]))
    return History1(day, values)


def encode_history1_day(day: int) -> bytes:
    """E5 EDT selecting the day for E2/E4 (0 = today, up to 99 days ago)."""
    if not 0 <= day <= 99:
        raise ValueError(f"history day must be 0-99, got {day}")
    return bytes((day,))


type EnergyPair = tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class History2:
    """EC: (forward, reverse) pairs; pair 0 is at ``start``, each next one 30 min earlier."""

    start: datetime
    values: tuple[EnergyPair, ...]

    STEP = timedelta(minutes=30)
    MAX_PAIRS = 12

    def slots(self) -> Iterator[tuple[datetime, int | None, int | None]]:
        """(timestamp, forward, reverse) for every pair, newest first."""
        for index, (fwd, rev) in enumerate(self.values):
            yield self.start - index * self.STEP, fwd, rev


@dataclass(frozen=True, slots=True)
class History3:
    """EE: (forward, reverse) pairs one minute apart; pair 0 at ``start``, then older.

    Release R data (docs/release-r.md): the collection date/time is the newest minute,
    the pairs go back from it like EC's. ``start`` is None when the meter reports the
    window as unset (all 0xFF date/time); then :meth:`slots` yields nothing.
    """

    start: datetime | None
    values: tuple[EnergyPair, ...]

    STEP = timedelta(minutes=1)
    MAX_PAIRS = 10

    def slots(self) -> Iterator[tuple[datetime, int | None, int | None]]:
        """(timestamp, forward, reverse) for every pair, newest first."""
        if self.start is None:
            return
        for index, (fwd, rev) in enumerate(self.values):
            yield self.start - index * self.STEP, fwd, rev


# YYYY MM DD hh mm all 0xFF: a collection window the meter has not set (seen in a public
# meter emulator and momonga's decoder; the Release R text gives no default).
_UNSET_WINDOW = b"\xff" * 6
# A valid stand-in date/time so an unset window's count and pairs are still checked.
_EPOCH_WINDOW = bytes((0x07, 0xD0, 1, 1, 0, 0))


def _decode_pairs(edt: bytes, max_pairs: int, what: str) -> tuple[datetime, tuple[EnergyPair, ...]]:
    if len(edt) < 7:
        raise EchonetDecodeError(f"{what}: expected at least 7 bytes, got {len(edt)}")
    start = _datetime(edt, 0, seconds=False, what=what)
    count = edt[6]
    if count > max_pairs:
        raise EchonetDecodeError(f"{what}: {count} pairs, at most {max_pairs} allowed")
    _expect_len(edt, 7 + 8 * count, what)
    pairs = tuple(
        (_register(fwd), _register(rev)) for fwd, rev in struct.iter_unpack(">II", edt[7:])
    )
    return start, pairs


def decode_history2(edt: bytes) -> History2:
    """EC: YYYY MM DD hh mm + n + n x (forward u32, reverse u32)."""
    start, pairs = _decode_pairs(edt, History2.MAX_PAIRS, "history 2")
    return History2(start, pairs)


def decode_history3(edt: bytes) -> History3:
    """EE: YYYY MM DD hh mm + n (1-10) + n x (forward u32, reverse u32), newest first."""
    if edt[:6] == _UNSET_WINDOW:
        _, pairs = _decode_pairs(_EPOCH_WINDOW + edt[6:], History3.MAX_PAIRS, "history 3")
        return History3(None, pairs)
    start, pairs = _decode_pairs(edt, History3.MAX_PAIRS, "history 3")
    return History3(start, pairs)


def _encode_window(start: datetime, count: int, max_pairs: int) -> bytes:
    if not 1 <= count <= max_pairs:
        raise ValueError(f"count must be 1-{max_pairs}, got {count}")
    return start.year.to_bytes(2, "big") + bytes(
        (start.month, start.day, start.hour, start.minute, count)
    )


def encode_history2_day(start: datetime, count: int) -> bytes:
    """ED EDT: newest slot (minute 0 or 30, seconds ignored) and 1-12 pairs for EC."""
    if start.minute not in (0, 30):
        raise ValueError(f"EC slots start at minute 0 or 30, got {start.minute}")
    return _encode_window(start, count, History2.MAX_PAIRS)


def decode_history2_day(edt: bytes) -> tuple[datetime, int]:
    """ED EDT back to (start, count)."""
    _expect_len(edt, 7, "history 2 setting")
    return _datetime(edt, 0, seconds=False, what="history 2 setting"), edt[6]


def encode_history3_day(start: datetime, count: int) -> bytes:
    """EF EDT (Set): the newest minute wanted (seconds ignored) and 1-10 pairs for EE."""
    return _encode_window(start, count, History3.MAX_PAIRS)


def decode_history3_day(edt: bytes) -> tuple[datetime | None, int]:
    """EF EDT back to (newest minute, count); the minute is None while the window is unset."""
    _expect_len(edt, 7, "history 3 setting")
    if edt[:6] == _UNSET_WINDOW:
        return None, edt[6]
    return _datetime(edt, 0, seconds=False, what="history 3 setting"), edt[6]


@dataclass(frozen=True, slots=True)
class OneMinuteReading:
    """D0: forward and reverse registers at the meter's latest one-minute boundary.

    Same register, scale (D3 x E1) and wrap (D7) as E0/E3; ``timestamp`` is naive meter
    local time.
    """

    timestamp: datetime
    forward: int | None
    reverse: int | None


def decode_one_minute(edt: bytes) -> OneMinuteReading:
    """D0: YYYY MM DD hh mm ss + forward u32 + reverse u32."""
    _expect_len(edt, 15, "one-minute reading")
    stamp = _datetime(edt, 0, seconds=True, what="one-minute reading")
    return OneMinuteReading(stamp, _register(_u32(edt, 7)), _register(_u32(edt, 11)))


@dataclass(frozen=True, slots=True)
class RouteBIdentifier:
    """C0: the number that identifies this meter within its domain (Release R).

    Layout: byte 0 0x00, bytes 1-3 the maker code, bytes 4-15 maker-defined. Nothing
    public ties it to the 32-digit B-route authentication ID, yet it has the same size
    and one library labels its tail "authentication id", so it is handled like a
    credential: only the maker code and a digest are kept, never the value.
    ``maker_code`` is None for the 8-byte form one public emulator serves.
    """

    maker_code: int | None
    size: int
    digest: bytes = field(repr=False)

    def matches(self, route_b_id: str) -> bool:
        """True if C0 equals this 32-hex-digit string (a hint only: see docs/release-r.md)."""
        text = route_b_id.strip()
        if len(text) != 2 * self.size:
            return False
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            return False
        return hmac.compare_digest(self.digest, _id_digest(raw))

    def fingerprint(self, key: bytes) -> str:
        """Keyed digest to remember "this meter" without storing C0 (compare, never show)."""
        return hmac.new(key, self.digest, hashlib.sha256).hexdigest()[:32]

    def same_meter(self, other: RouteBIdentifier) -> bool:
        """True if both came from the same C0 value."""
        return hmac.compare_digest(self.digest, other.digest)


def _id_digest(raw: bytes) -> bytes:
    return hashlib.sha256(b"broute_meter C0\x00" + raw).digest()


def decode_route_b_id(edt: bytes) -> RouteBIdentifier:
    """C0: 16 bytes (0x00 + maker code + 12 free bytes); 8 bytes accepted without a maker.

    Real meters follow the 16-byte layout; the 8-byte form comes from a public emulator
    (hsakoh/broute-wifi-mqtt) and is still a stable identity, so it is not rejected.
    """
    if len(edt) == 8:
        return RouteBIdentifier(None, 8, _id_digest(edt))
    _expect_len(edt, 16, "B-route identification number")
    return RouteBIdentifier(int.from_bytes(edt[1:4], "big"), 16, _id_digest(edt))


# --- super class and node profile properties ----------------------------------------------


def decode_property_map(edt: bytes) -> frozenset[int]:
    """9D/9E/9F: list form for fewer than 16 EPCs, 16-byte bitmap otherwise.

    In the bitmap, bit b of byte i stands for EPC ``((8 + b) << 4) | i``. The count byte
    of a bitmap is not cross-checked: the bitmap itself is authoritative.
    """
    if not edt:
        raise EchonetDecodeError("property map: empty")
    count = edt[0]
    if count < 16:
        _expect_len(edt, 1 + count, "property map")
        return frozenset(edt[1:])
    _expect_len(edt, 17, "property map")
    return frozenset(
        ((8 + bit) << 4) | index
        for index, byte in enumerate(edt[1:])
        for bit in range(8)
        if byte & (1 << bit)
    )


def encode_property_map(epcs: Iterable[int]) -> bytes:
    """Inverse of :func:`decode_property_map` (EPCs 0x80-0xFF)."""
    unique = sorted(set(epcs))
    if any(not 0x80 <= epc <= 0xFF for epc in unique):
        raise ValueError("property map EPCs must be 0x80-0xFF")
    if len(unique) < 16:
        return bytes((len(unique), *unique))
    bitmap = bytearray(16)
    for epc in unique:
        bitmap[epc & 0x0F] |= 1 << ((epc >> 4) - 8)
    return bytes((len(unique),)) + bytes(bitmap)


def decode_maker_code(edt: bytes) -> int:
    """8A: 3-byte ECHONET manufacturer code (see ``makers.maker_name``)."""
    _expect_len(edt, 3, "manufacturer code")
    return int.from_bytes(edt, "big")


def decode_serial(edt: bytes) -> str:
    """8D: 12-byte production number.

    NUL and space padding is stripped; bytes that are not printable ASCII are kept
    visible as ``\\xNN`` so two different serials never collapse into one string.
    """
    _expect_len(edt, 12, "production number")
    text = edt.strip(b"\x00 ")
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in text)


def decode_release(edt: bytes) -> str | None:
    """82 of a device object: ``00 00 <letter> 00``; None if byte 2 is not a letter A-Z."""
    _expect_len(edt, 4, "standard version")
    letter = edt[2]
    return chr(letter) if ord("A") <= letter <= ord("Z") else None


def decode_date(edt: bytes) -> date:
    """98: YYYY MM DD."""
    _expect_len(edt, 4, "current date")
    try:
        return date(int.from_bytes(edt[:2], "big"), edt[2], edt[3])
    except ValueError as err:
        raise EchonetDecodeError(f"current date: invalid ({err})") from None


def decode_time(edt: bytes) -> time:
    """97: hh mm."""
    _expect_len(edt, 2, "current time")
    try:
        return time(edt[0], edt[1])
    except ValueError as err:
        raise EchonetDecodeError(f"current time: invalid ({err})") from None


def decode_instance_list(edt: bytes) -> tuple[EOJ, ...]:
    """D5/D6: count (0-84) followed by that many 3-byte EOJs."""
    if not edt:
        raise EchonetDecodeError("instance list: empty")
    count = edt[0]
    if count > 84:
        raise EchonetDecodeError(f"instance list: {count} instances, at most 84 allowed")
    _expect_len(edt, 1 + 3 * count, "instance list")
    return tuple((edt[i], edt[i + 1], edt[i + 2]) for i in range(1, 1 + 3 * count, 3))


def decode_operation_status(edt: bytes) -> bool:
    """80: True for ON (0x30), False for OFF (0x31)."""
    _expect_len(edt, 1, "operation status")
    if edt[0] == 0x30:
        return True
    if edt[0] == 0x31:
        return False
    raise EchonetDecodeError(f"operation status: unknown code 0x{edt[0]:02X}")


def decode_fault(edt: bytes) -> bool:
    """88: True when the device reports a fault (0x41), False for none (0x42)."""
    _expect_len(edt, 1, "fault status")
    if edt[0] == 0x41:
        return True
    if edt[0] == 0x42:
        return False
    raise EchonetDecodeError(f"fault status: unknown code 0x{edt[0]:02X}")


# --- scaling ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnergyScale:
    """How raw cumulative registers map to kWh: ``raw x coefficient x unit``.

    The register counts modulo ``10 ** digits`` (D7), so a decrease between two
    readings is a wrap-around, not a drop.
    """

    coefficient: int = 1
    unit: Decimal = Decimal("0.1")
    digits: int = 6

    def __post_init__(self) -> None:
        """Reject scales that would silently produce nonsense."""
        if self.coefficient < 1:
            raise ValueError(f"coefficient must be positive, got {self.coefficient}")
        if self.unit <= 0:
            raise ValueError(f"unit must be positive, got {self.unit}")
        if not 1 <= self.digits <= 8:
            raise ValueError(f"digits must be 1-8, got {self.digits}")

    @property
    def modulus(self) -> int:
        """The register wraps to 0 at this value."""
        return int(10**self.digits)

    def to_kwh(self, raw: int) -> Decimal:
        """Energy of a raw register value (or of a raw delta)."""
        return Decimal(raw) * self.coefficient * self.unit

    def delta(self, previous_raw: int, raw: int) -> int:
        """Raw steps from ``previous_raw`` to ``raw``, counting a decrease as a wrap."""
        return (raw - previous_raw) % self.modulus

    def is_plausible_step(self, previous_raw: int, raw: int, max_step: int) -> bool:
        """True if both values fit the register and ``raw`` is at most ``max_step`` ahead.

        A small decrease (a glitch) shows up as an almost complete wrap and is rejected.
        """
        if not (0 <= previous_raw < self.modulus and 0 <= raw < self.modulus):
            return False
        return self.delta(previous_raw, raw) <= max_step
