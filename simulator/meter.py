"""The simulated low-voltage smart meter (class 0x0288): load model, registers, ECHONET.

Time semantics
--------------
The meter lives on *meter time* = ``clock.now() + clock_skew`` (Asia/Tokyo). Every
accessor takes a meter-time datetime (``at=None`` means "meter now"). The load model
is a sequence of one-minute intervals, each with a constant integer power in watts,
starting at ``history_start`` (midnight). Registers are exact integer functions of it:

    forward_raw(t) = (initial_forward_raw + floor(import_Ws(t) / Ws_per_raw)) mod 10**digits

where ``import_Ws(t)`` is the integral of the positive part of the power from
``history_start`` to ``t`` (whole seconds) and ``Ws_per_raw = coefficient × unit ×
3.6e6`` (an integer for every unit in the E1 table). The reverse register does the
same with the negative part. Before ``history_start`` or ``service_start`` registers
are "no data" (``None`` here, 0xFFFFFFFE on the air) and power is 0.

``load_override_w`` only fixes what E7/E8 report; registers keep following the model.

Release R properties (C0, D0, EE/EF; docs/release-r.md) are offered when the release
letter is R or later, or when ``release_r_properties`` says so. D0 and EE are the same
registers sampled at whole minutes: ``minute_registers(t)`` is exactly
``forward_raw``/``reverse_raw`` at the minute ``t`` falls in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
import math
import random
from typing import TYPE_CHECKING, Literal

from .echonet import (
    CONTROLLER_EOJ,
    INF,
    METER_EOJ,
    NO_DATA_S16,
    NO_DATA_S32,
    NO_DATA_U32,
    NODE_PROFILE_EOJ,
    Frame,
    node_profile,
    refuse,
    serve,
    superclass_property,
)
from .timing import JST, half_hour_floor

if TYPE_CHECKING:
    from .timing import Clock

Direction = Literal["forward", "reverse"]

UNIT_KWH: dict[int, Decimal] = {
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

SLOT = timedelta(minutes=30)
MINUTE = timedelta(minutes=1)
MINUTES_PER_DAY = 1440
EE_MAX_PAIRS = 10


@dataclass
class MeterConfig:
    """Static description of the simulated meter (fields marked mutable may change live)."""

    coefficient: int | None = 1  # D3; None: D3 not offered (clients assume 1)
    unit_code: int = 0x01  # E1: 0.1 kWh
    digits: int = 6  # D7: registers wrap at 10**digits
    single_phase: bool = False  # 2-wire: E8 T current = 0x7FFE
    reverse_metering: bool = True  # solar export; False: no E3/E4/EB
    initial_forward_raw: int = 12_345  # registers at history_start (or service_start)
    initial_reverse_raw: int = 678
    retention_days: int = 44  # E5 beyond it → SetC_SNA
    history_start: datetime | None = None  # default: midnight retention_days + 2 days ago
    service_start: datetime | None = None  # no data before it
    max_epcs_per_get: int = 6  # further EPCs get PDC=0 in a Get_SNA
    latency: float | None = None  # reply latency in real seconds; None: from TimingModel
    channel: int = 0x21
    pan_id: int = 0x8888
    mac: str = "001D129012345678"
    maker_code: int = 0x000016
    serial: str = "SIM00000001"  # 8D, NUL-padded to 12 bytes
    release: str = "J"  # 82
    # C0/D0/EE/EF in the maps; None: offered from release letter R on.
    release_r_properties: bool | None = None
    route_b_id: bytes | None = None  # C0; None: 00 + maker code + serial (12 bytes, NUL-padded)
    minute_retention: int = 10  # minutes of 1-minute data EE keeps (EF older → SetC_SNA)
    supports_ec_ed: bool = True
    session_lifetime: float | None = None  # PANA lifetime in real seconds; None: forever
    auto_reauth: bool = True  # at expiry EVENT 29 is followed by EVENT 25
    seed: int = 1  # load profile
    load_override_w: float | None = None  # mutable: fixes what E7/E8 report
    clock_skew: float = 0.0  # mutable: seconds added to the clock (a wrong meter clock)
    # mutable: seconds after a :00/:30 boundary before its reading is filed (E2/E4, EA/EB,
    # EC); real meters file it a moment late, so history may lag the minute registers.
    slot_delay: float = 0.0
    d0_stamp_skew: float = 0.0  # mutable: seconds added to D0's timestamp only (a bad stamp)
    fault: bool = False  # mutable: what 88 (fault status) reports
    min_scan_duration: int = 6  # shorter SKSCAN durations do not find the meter
    lqi: int = 0xE1

    @property
    def ipv6(self) -> str:
        return mac_to_ipv6(self.mac)


def mac_to_ipv6(mac: str) -> str:
    """EUI-64 link-local address with the U/L bit flipped, expanded and upper case."""
    raw = bytearray(bytes.fromhex(mac))
    raw[0] ^= 0x02
    groups = [raw[i : i + 2].hex().upper() for i in range(0, 8, 2)]
    return "FE80:0000:0000:0000:" + ":".join(groups)


class _Day:
    __slots__ = ("export_prefix", "import_prefix", "powers")

    def __init__(self, powers: list[int]) -> None:
        self.powers = powers
        imp = [0]
        exp = [0]
        for p in powers:
            imp.append(imp[-1] + (p * 60 if p > 0 else 0))
            exp.append(exp[-1] + (-p * 60 if p < 0 else 0))
        self.import_prefix = imp
        self.export_prefix = exp


class SimulatedMeter:
    """Ground truth and ECHONET behaviour of one meter."""

    def __init__(self, config: MeterConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        unit = UNIT_KWH.get(config.unit_code)
        if unit is None:
            raise ValueError(f"unknown unit code {config.unit_code:#x}")
        self.kwh_per_raw: Decimal = unit * (config.coefficient or 1)
        ws = self.kwh_per_raw * 3_600_000
        if ws != ws.to_integral_value() or ws <= 0:
            raise ValueError("coefficient × unit must be a whole number of watt-seconds")
        self._ws_per_raw = int(ws)
        self.modulus: int = int(10**config.digits)
        if config.history_start is not None:
            start = config.history_start.astimezone(JST)
        else:
            start = self.now() - timedelta(days=config.retention_days + 2)
        self.history_start = start.replace(hour=0, minute=0, second=0, microsecond=0)
        self._days: list[_Day] = []
        self._day_import_base: list[int] = [0]
        self._day_export_base: list[int] = [0]
        self.reset_state()

    # --- volatile ECHONET state (lost on reboot) ---------------------------------------

    def reset_state(self) -> None:
        self.tid = 0
        self.history_day_selected = 0
        self.ec_window: tuple[datetime, int] | None = None
        self.ef_window: tuple[datetime, int] | None = None
        self.installation_location = 0x61

    def next_tid(self) -> int:
        tid = self.tid
        self.tid = (self.tid + 1) & 0xFFFF
        return tid

    # --- time ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now().astimezone(JST) + timedelta(seconds=self.config.clock_skew)

    def _at(self, at: datetime | None) -> datetime:
        return self.now() if at is None else at.astimezone(JST)

    # --- load model ----------------------------------------------------------------------

    def _generate_day(self, index: int) -> list[int]:
        cfg = self.config
        rng = random.Random(f"{cfg.seed}:{index}")
        base = rng.uniform(180, 320)
        morning = rng.uniform(500, 1100)
        evening = rng.uniform(900, 2000)
        sun = rng.uniform(0.25, 1.0) * 3800 if cfg.reverse_metering else 0.0
        appliances = [0.0] * MINUTES_PER_DAY  # kettle, microwave, dryer... switched on at random
        for _ in range(rng.randint(4, 9)):
            start, length, watts = (
                rng.randrange(MINUTES_PER_DAY),
                rng.randint(3, 25),
                rng.uniform(600, 1400),
            )
            for m in range(start, min(start + length, MINUTES_PER_DAY)):
                appliances[m] += watts
        powers: list[int] = []
        for m in range(MINUTES_PER_DAY):
            h = m / 60
            load = base
            load += morning * math.exp(-(((h - 7.2) / 0.9) ** 2))
            load += evening * math.exp(-(((h - 19.5) / 1.8) ** 2))
            load += appliances[m]
            load *= rng.uniform(0.93, 1.07)
            solar = 0.0
            if sun and 6.0 < h < 18.0:
                solar = sun * math.sin(math.pi * (h - 6.0) / 12.0) ** 1.5 * rng.uniform(0.85, 1.0)
            powers.append(round(load - solar))
        return powers

    def _day(self, index: int) -> _Day:
        while len(self._days) <= index:
            day = _Day(self._generate_day(len(self._days)))
            self._days.append(day)
            self._day_import_base.append(self._day_import_base[-1] + day.import_prefix[-1])
            self._day_export_base.append(self._day_export_base[-1] + day.export_prefix[-1])
        return self._days[index]

    def _live(self, at: datetime) -> bool:
        if at < self.history_start:
            return False
        start = self.config.service_start
        return start is None or at >= start

    def _energy_ws(self, at: datetime) -> tuple[int, int]:
        """(import, export) watt-seconds since the register started counting."""
        imp, exp = self._cumulative_ws(at)
        start = self.config.service_start
        if start is not None and start.astimezone(JST) > self.history_start:
            s_imp, s_exp = self._cumulative_ws(start.astimezone(JST))
            imp, exp = imp - s_imp, exp - s_exp
        return imp, exp

    def _cumulative_ws(self, at: datetime) -> tuple[int, int]:
        """(import, export) watt-seconds of the model from ``history_start`` (whole seconds)."""
        seconds = int((at - self.history_start).total_seconds())
        day_index, rest = divmod(seconds, 86_400)
        minute, sec = divmod(rest, 60)
        day = self._day(day_index)
        p = day.powers[minute]
        imp = self._day_import_base[day_index] + day.import_prefix[minute] + max(p, 0) * sec
        exp = self._day_export_base[day_index] + day.export_prefix[minute] + max(-p, 0) * sec
        return imp, exp

    # --- ground-truth accessors (contract) ----------------------------------------------

    def model_power_w(self, at: datetime | None = None) -> int:
        """Power of the load model, ignoring ``load_override_w``."""
        t = self._at(at)
        if not self._live(t):
            return 0
        seconds = int((t - self.history_start).total_seconds())
        day_index, rest = divmod(seconds, 86_400)
        return self._day(day_index).powers[rest // 60]

    def power_w(self, at: datetime | None = None) -> int:
        """Instantaneous power (W, negative = export) as E7 reports it."""
        if at is None and self.config.load_override_w is not None:
            return round(self.config.load_override_w)
        return self.model_power_w(at)

    def currents_a(self, at: datetime | None = None) -> tuple[float, float | None]:
        """(R, T) in amperes at 0.1 A resolution; T is None on a single-phase meter."""
        r, t = self._currents_deci(self.power_w(at))
        return r / 10, (None if t is None else t / 10)

    def _currents_deci(self, power: int) -> tuple[int, int | None]:
        # 100 V legs: single-phase 3-wire splits 60/40 between R and T.
        if self.config.single_phase:
            return _clamp16(round(power * 0.1)), None
        return _clamp16(round(power * 0.06)), _clamp16(round(power * 0.04))

    def forward_raw(self, at: datetime | None = None) -> int | None:
        t = self._at(at)
        if not self._live(t):
            return None
        imp, _ = self._energy_ws(t)
        return (self.config.initial_forward_raw + imp // self._ws_per_raw) % self.modulus

    def reverse_raw(self, at: datetime | None = None) -> int | None:
        if not self.config.reverse_metering:
            return None
        t = self._at(at)
        if not self._live(t):
            return None
        _, exp = self._energy_ws(t)
        return (self.config.initial_reverse_raw + exp // self._ws_per_raw) % self.modulus

    def forward_kwh(self, at: datetime | None = None) -> Decimal | None:
        raw = self.forward_raw(at)
        return None if raw is None else raw * self.kwh_per_raw

    def reverse_kwh(self, at: datetime | None = None) -> Decimal | None:
        raw = self.reverse_raw(at)
        return None if raw is None else raw * self.kwh_per_raw

    def slot_raw(self, direction: Direction, slot_start: datetime) -> int | None:
        """Register at a half-hour boundary; None for no data or a boundary in the future."""
        t = slot_start.astimezone(JST)
        if t.minute % 30 or t.second or t.microsecond:
            raise ValueError("slot_start must be on a half-hour boundary")
        if t > self.now() - timedelta(seconds=self.config.slot_delay):
            return None
        return self.forward_raw(t) if direction == "forward" else self.reverse_raw(t)

    def history_day(self, days_ago: int, direction: Direction = "forward") -> list[int | None]:
        """The 48 slot values E2 (or E4 for reverse) returns for ``days_ago``."""
        day0 = self.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
            days=days_ago
        )
        return [self.slot_raw(direction, _add_slots(day0, i)) for i in range(48)]

    def latest_boundary(self) -> datetime:
        return half_hour_floor(self.now())

    # --- Release R ground truth ----------------------------------------------------------

    @property
    def release_r(self) -> bool:
        """True when C0, D0, EE and EF are offered."""
        flag = self.config.release_r_properties
        if flag is not None:
            return flag
        return (self.config.release[:1] or "J").upper() >= "R"

    def route_b_id(self) -> bytes:
        """The C0 value."""
        cfg = self.config
        if cfg.route_b_id is not None:
            return cfg.route_b_id
        serial = cfg.serial.encode("ascii")[:12].ljust(12, b"\x00")
        return b"\x00" + cfg.maker_code.to_bytes(3, "big") + serial

    def latest_minute(self) -> datetime:
        """The meter's latest one-minute boundary (what D0 is stamped with)."""
        return self.now().replace(second=0, microsecond=0)

    def minute_registers(
        self, at: datetime | None = None
    ) -> tuple[datetime, int | None, int | None]:
        """(minute, forward, reverse): the registers at the minute boundary ``at`` falls in."""
        minute = self._at(at).replace(second=0, microsecond=0)
        return minute, self.forward_raw(minute), self.reverse_raw(minute)

    def minute_history(
        self, newest: datetime, count: int
    ) -> list[tuple[datetime, int | None, int | None]]:
        """What EE returns for an EF window: newest first, None outside the retention."""
        latest = self.latest_minute()
        oldest = latest - MINUTE * (self.config.minute_retention - 1)
        out: list[tuple[datetime, int | None, int | None]] = []
        for i in range(count):
            minute = newest.astimezone(JST) - MINUTE * i
            if oldest <= minute <= latest:
                out.append(self.minute_registers(minute))
            else:
                out.append((minute, None, None))
        return out

    # --- property encoding ---------------------------------------------------------------

    def get_epcs(self) -> list[int]:
        cfg = self.config
        epcs = [0x80, 0x81, 0x82, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F]
        if cfg.coefficient is not None:
            epcs.append(0xD3)
        epcs += [0xD7, 0xE0, 0xE1, 0xE2]
        if cfg.reverse_metering:
            epcs += [0xE3, 0xE4]
        epcs += [0xE5, 0xE7, 0xE8, 0xEA]
        if cfg.reverse_metering:
            epcs.append(0xEB)
        if cfg.supports_ec_ed:
            epcs += [0xEC, 0xED]
        if self.release_r:
            epcs += [0xC0, 0xD0, 0xEE, 0xEF]
        return epcs

    def set_epcs(self) -> list[int]:
        epcs = [0x81, 0xE5] + ([0xED] if self.config.supports_ec_ed else [])
        return epcs + ([0xEF] if self.release_r else [])

    def read_meter(self, epc: int) -> bytes | None:
        """EDT of one meter property, or None when the meter does not offer it."""
        if epc not in self.get_epcs():
            return None
        cfg = self.config
        now = self.now()
        common = superclass_property(epc, cfg, now, self.get_epcs(), self.set_epcs())
        if common is not None:
            return common
        match epc:
            case 0x81:
                return bytes([self.installation_location])
            case 0x82:
                return bytes([0, 0, ord(cfg.release[:1] or "J"), 0])
            case 0xD3:
                return (cfg.coefficient or 1).to_bytes(4, "big")
            case 0xD7:
                return bytes([cfg.digits])
            case 0xE0:
                return _u32(self.forward_raw())
            case 0xE1:
                return bytes([cfg.unit_code])
            case 0xE2 | 0xE4:
                direction: Direction = "forward" if epc == 0xE2 else "reverse"
                values = self.history_day(self.history_day_selected, direction)
                return self.history_day_selected.to_bytes(2, "big") + b"".join(
                    _u32(v) for v in values
                )
            case 0xE3:
                return _u32(self.reverse_raw())
            case 0xE5:
                return bytes([self.history_day_selected])
            case 0xE7:
                return _s32(self.power_w())
            case 0xE8:
                r, t = self._currents_deci(self.power_w())
                return _s16(r) + _s16(NO_DATA_S16 if t is None else t, raw=t is None)
            case 0xEA | 0xEB:
                boundary = self.latest_boundary()
                direction = "forward" if epc == 0xEA else "reverse"
                return _datetime7(boundary) + _u32(self.slot_raw(direction, boundary))
            case 0xEC:
                when, count = self._ec_window()
                out = bytearray(_datetime5(when) + bytes([count]))
                for i in range(count):
                    slot = when - SLOT * i
                    out += _u32(self.slot_raw("forward", slot))
                    out += _u32(self.slot_raw("reverse", slot))
                return bytes(out)
            case 0xED:
                when, count = self._ec_window()
                return _datetime5(when) + bytes([count])
            case 0xC0:
                return self.route_b_id()
            case 0xD0:
                minute, fwd, rev = self.minute_registers()
                stamp = minute + timedelta(seconds=cfg.d0_stamp_skew)
                return _datetime7(stamp) + _u32(fwd) + _u32(rev)
            case 0xEE:
                newest, count = self._ef_window()
                out = bytearray(_datetime5(newest) + bytes([count]))
                for _, fwd, rev in self.minute_history(newest, count):
                    out += _u32(fwd) + _u32(rev)
                return bytes(out)
            case 0xEF:
                newest, count = self._ef_window()
                return _datetime5(newest) + bytes([count])
        return None

    def _ec_window(self) -> tuple[datetime, int]:
        # Never set: the latest boundary, 12 segments (our choice; documented in README).
        return self.ec_window or (self.latest_boundary(), 12)

    def _ef_window(self) -> tuple[datetime, int]:
        # Never set: the latest minute, 10 pairs (our choice, like ED's default).
        return self.ef_window or (self.latest_minute(), EE_MAX_PAIRS)

    def write_meter(self, epc: int, edt: bytes) -> bool:
        """Apply a Set; False when the EPC is not settable or the value is refused."""
        if epc not in self.set_epcs():
            return False
        if epc == 0x81:
            if len(edt) != 1:
                return False
            self.installation_location = edt[0]
            return True
        if epc == 0xE5:
            # Beyond the retention period the meter refuses the day (SetC_SNA).
            if len(edt) != 1 or edt[0] > self.config.retention_days:
                return False
            self.history_day_selected = edt[0]
            return True
        if epc == 0xED:
            if len(edt) != 7:
                return False
            when = _parse_datetime5(edt)
            if when is None:
                return False
            count = edt[6]
            oldest = self.latest_boundary() - timedelta(days=self.config.retention_days)
            if when.minute not in (0, 30) or not 1 <= count <= 12:
                return False
            if when > self.latest_boundary() or when < oldest:
                return False
            self.ec_window = (when, count)
            return True
        if epc == 0xEF:
            return self._set_ef(edt)
        return False

    def _set_ef(self, edt: bytes) -> bool:
        if len(edt) != 7:
            return False
        when = _parse_datetime5(edt)
        if when is None:
            return False
        count = edt[6]
        latest = self.latest_minute()
        oldest = latest - MINUTE * (self.config.minute_retention - 1)
        # A future minute or one the meter no longer keeps is refused (SetC_SNA).
        if not 1 <= count <= EE_MAX_PAIRS or not oldest <= when <= latest:
            return False
        self.ef_window = (when, count)
        return True

    def read_node_profile(self, epc: int) -> bytes | None:
        maker = self.config.maker_code
        return node_profile(
            epc,
            release=0x0D,
            identification=b"\xfe"
            + maker.to_bytes(3, "big")
            + bytes.fromhex(self.config.mac)
            + bytes(5),
            maker=maker,
            eoj=METER_EOJ,
        )

    # --- ECHONET service handling -------------------------------------------------------

    def instance_list_inf(self) -> Frame:
        """The D5 notification multicast after a successful join (§B.3)."""
        edt = self.read_node_profile(0xD5)
        assert edt is not None
        return Frame(self.next_tid(), NODE_PROFILE_EOJ, NODE_PROFILE_EOJ, INF, [(0xD5, edt)])

    def fixed_time_inf(self) -> Frame:
        """The half-hourly EA(/EB) notification to the controller (§B.4)."""
        props: list[tuple[int, bytes]] = []
        for epc in (0xEA, 0xEB):
            edt = self.read_meter(epc)
            if edt is not None:
                props.append((epc, edt))
        return Frame(self.next_tid(), METER_EOJ, CONTROLLER_EOJ, INF, props)

    def handle(self, request: Frame) -> list[tuple[Frame, bool]]:
        """Answer one request: a list of (frame, multicast?)."""
        deoj = request.deoj
        if deoj[:2] == METER_EOJ[:2] and deoj[2] in (0, 1):
            return serve(
                request,
                METER_EOJ,
                self.read_meter,
                self.write_meter,
                max_get=self.config.max_epcs_per_get,
            )
        if deoj[:2] == NODE_PROFILE_EOJ[:2] and deoj[2] in (0, 1, 2):
            return serve(request, NODE_PROFILE_EOJ, self.read_node_profile, refuse)
        return []  # no such object: stay silent


def _add_slots(day0: datetime, index: int) -> datetime:
    # Wall-clock arithmetic in JST (no DST in Japan, so this is exact).
    return day0 + SLOT * index


def _clamp16(value: int) -> int:
    return max(-0x7FFF, min(0x7FFD, value))


def _u32(value: int | None) -> bytes:
    return (NO_DATA_U32 if value is None else value).to_bytes(4, "big")


def _s32(value: int) -> bytes:
    value = max(-0x7FFFFFFF, min(0x7FFFFFFD, value))
    return value.to_bytes(4, "big", signed=True) if value != NO_DATA_S32 else b"\x7f\xff\xff\xfe"


def _s16(value: int, *, raw: bool = False) -> bytes:
    if raw:
        return value.to_bytes(2, "big")
    return value.to_bytes(2, "big", signed=True)


def _datetime7(dt: datetime) -> bytes:
    return dt.year.to_bytes(2, "big") + bytes([dt.month, dt.day, dt.hour, dt.minute, dt.second])


def _parse_datetime5(edt: bytes) -> datetime | None:
    """The JST minute of a 7-byte ED/EF EDT (year, month, day, hour, minute, count)."""
    try:
        return datetime(int.from_bytes(edt[0:2], "big"), edt[2], edt[3], edt[4], edt[5], tzinfo=JST)
    except ValueError:
        return None


def _datetime5(dt: datetime) -> bytes:
    return dt.year.to_bytes(2, "big") + bytes([dt.month, dt.day, dt.hour, dt.minute])
