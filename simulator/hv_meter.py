"""The simulated high-voltage smart electric energy meter (class 0x028A).

A shop/office load: one-minute intervals of constant active power (W) and lagging
reactive power (var), deterministic from the seed. Registers are exact integer
functions of that model, as in ``meter.py``:

    energy_raw(t)   = (initial_energy_raw + floor(active_Ws(t) / Ws_per_raw)) mod 10**E5
    reactive_raw(t) = (initial_reactive_raw + floor(reactive_vars(t) / Ws_per_raw_q)) mod 10**CC
    demand_raw(b)   = floor(active_Ws of the slot ending at boundary b / (1800 s x W per raw))

with ``kWh per raw = D3 x D4 x E6`` (kW per raw = D3 x D4 x C5, kvarh per raw =
D3 x D4 x CD). Property layouts follow the ECHONET Appendix for 0x028A as summarised
in the project's protocol reference (§D); what the reference leaves open is chosen here
and written down in ``simulator/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
import math
import random
from typing import TYPE_CHECKING

from .echonet import (
    INF,
    NO_DATA_U32,
    NODE_PROFILE_EOJ,
    Frame,
    node_profile,
    refuse,
    serve,
    superclass_property,
)
from .meter import UNIT_KWH
from .timing import JST, half_hour_floor

if TYPE_CHECKING:
    from collections.abc import Callable

    from .timing import Clock

HV_METER_EOJ = bytes.fromhex("028A01")
MULTIPLIERS: dict[int, Decimal] = {
    0x00: Decimal(1),
    0x01: Decimal("0.1"),
    0x02: Decimal("0.01"),
    0x03: Decimal("0.001"),
}
SLOT = timedelta(minutes=30)
SLOT_SECONDS = 1800
MINUTES_PER_DAY = 1440


@dataclass
class HvMeterConfig:
    """Static description of the simulated high-voltage meter."""

    coefficient: int = 40  # D3 (synthetic transformation ratio)
    multiplier_code: int = 0x02  # D4: x 0.01
    energy_unit_code: int = 0x01  # E6: 0.1
    energy_digits: int = 8  # E5
    demand_unit_code: int = 0x01  # C5: 0.1
    demand_digits: int = 6  # C4
    cumulative_max_demand: bool = True  # C2/C7 offered
    reactive: bool = True  # CA-CE offered
    reactive_unit_code: int = 0x01  # CD
    reactive_digits: int = 8  # CC
    initial_energy_raw: int = 1_234_567
    initial_reactive_raw: int = 345_678
    billing_day: int = 1  # E0
    retention_days: int = 44  # E1 beyond it -> SetC_SNA
    history_start: datetime | None = None  # default: midnight retention_days + 2 days ago
    maker_code: int = 0x000016
    serial: str = "SIMHV0000001"
    release: str = "M"
    seed: int = 7
    clock_skew: float = 0.0  # mutable: seconds added to the clock
    fault: bool = False  # mutable: 88

    def scale(self, unit_code: int) -> Decimal:
        """Value of one register step for a unit code: D3 x D4 x unit."""
        return Decimal(self.coefficient) * MULTIPLIERS[self.multiplier_code] * UNIT_KWH[unit_code]


class _Day:
    __slots__ = ("active", "active_prefix", "reactive", "reactive_prefix")

    def __init__(self, active: list[int], reactive: list[int]) -> None:
        self.active = active
        self.reactive = reactive
        self.active_prefix = [0]
        self.reactive_prefix = [0]
        for p, q in zip(active, reactive, strict=True):
            self.active_prefix.append(self.active_prefix[-1] + p * 60)
            self.reactive_prefix.append(self.reactive_prefix[-1] + q * 60)


class SimulatedHvMeter:
    """Ground truth and ECHONET Lite behaviour of one high-voltage meter."""

    def __init__(self, config: HvMeterConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.kwh_per_raw = config.scale(config.energy_unit_code)
        self.kw_per_raw = config.scale(config.demand_unit_code)
        self.kvarh_per_raw = config.scale(config.reactive_unit_code)
        self._ws_per_raw = _whole(self.kwh_per_raw * 3_600_000, "energy")
        self._demand_ws_per_raw = _whole(self.kw_per_raw * 1000 * SLOT_SECONDS, "demand")
        self._vars_per_raw = _whole(self.kvarh_per_raw * 3_600_000, "reactive")
        if config.history_start is not None:
            start = config.history_start.astimezone(JST)
        else:
            start = self.now() - timedelta(days=config.retention_days + 2)
        self.history_start = start.replace(hour=0, minute=0, second=0, microsecond=0)
        self._days: list[_Day] = []
        self._active_base = [0]
        self._reactive_base = [0]
        self.reset_state()

    # --- volatile state (lost on reboot) ---------------------------------------------------

    def reset_state(self) -> None:
        self.tid = 0
        self.history_day_selected = 0

    def next_tid(self) -> int:
        tid = self.tid
        self.tid = (self.tid + 1) & 0xFFFF
        return tid

    def now(self) -> datetime:
        return self.clock.now().astimezone(JST) + timedelta(seconds=self.config.clock_skew)

    def latest_boundary(self) -> datetime:
        return half_hour_floor(self.now())

    # --- load model --------------------------------------------------------------------------

    def _generate_day(self, index: int) -> tuple[list[int], list[int]]:
        rng = random.Random(f"hv:{self.config.seed}:{index}")
        weekday = (self.history_start + timedelta(days=index)).weekday() < 5
        base = rng.uniform(15_000, 25_000)
        peak = rng.uniform(60_000, 150_000) if weekday else rng.uniform(5_000, 20_000)
        pf_by_slot = [rng.uniform(0.85, 0.99) for _ in range(48)]
        active: list[int] = []
        reactive: list[int] = []
        for m in range(MINUTES_PER_DAY):
            h = m / 60
            load = base
            if 8.0 <= h < 19.0:
                load += peak * math.sin(math.pi * (h - 8.0) / 11.0) ** 0.6
            load *= rng.uniform(0.95, 1.05)
            p = round(load)
            pf = pf_by_slot[m // 30]
            active.append(p)
            reactive.append(round(p * math.tan(math.acos(pf))))
        return active, reactive

    def _day(self, index: int) -> _Day:
        while len(self._days) <= index:
            day = _Day(*self._generate_day(len(self._days)))
            self._days.append(day)
            self._active_base.append(self._active_base[-1] + day.active_prefix[-1])
            self._reactive_base.append(self._reactive_base[-1] + day.reactive_prefix[-1])
        return self._days[index]

    def _integrals(self, at: datetime) -> tuple[int, int]:
        """(active W-s, reactive var-s) of the model from ``history_start`` to ``at``."""
        seconds = int((at.astimezone(JST) - self.history_start).total_seconds())
        if seconds <= 0:
            return 0, 0
        day_index, rest = divmod(seconds, 86_400)
        minute, sec = divmod(rest, 60)
        day = self._day(day_index)
        active = self._active_base[day_index] + day.active_prefix[minute]
        active += day.active[minute] * sec
        reactive = self._reactive_base[day_index] + day.reactive_prefix[minute]
        reactive += day.reactive[minute] * sec
        return active, reactive

    # --- ground truth (raw registers and their physical values) --------------------------------

    def power_w(self, at: datetime | None = None) -> int:
        """Active power of the model at ``at`` (W)."""
        t = self._t(at)
        if t < self.history_start:
            return 0
        seconds = int((t - self.history_start).total_seconds())
        day_index, rest = divmod(seconds, 86_400)
        return self._day(day_index).active[rest // 60]

    def energy_raw(self, at: datetime | None = None) -> int | None:
        t = self._t(at)
        if t < self.history_start:
            return None
        active, _ = self._integrals(t)
        modulus: int = 10**self.config.energy_digits
        return (self.config.initial_energy_raw + active // self._ws_per_raw) % modulus

    def energy_kwh(self, at: datetime | None = None) -> Decimal | None:
        """Cumulative active energy E2 (kWh) as the meter reports it."""
        raw = self.energy_raw(at)
        return None if raw is None else raw * self.kwh_per_raw

    def reactive_raw(self, at: datetime | None = None) -> int | None:
        if not self.config.reactive:
            return None
        t = self._t(at)
        if t < self.history_start:
            return None
        _, reactive = self._integrals(t)
        modulus: int = 10**self.config.reactive_digits
        return (self.config.initial_reactive_raw + reactive // self._vars_per_raw) % modulus

    def reactive_kvarh(self, at: datetime | None = None) -> Decimal | None:
        """Cumulative lagging reactive energy CA (kvarh) as the meter reports it."""
        raw = self.reactive_raw(at)
        return None if raw is None else raw * self.kvarh_per_raw

    def demand_raw(self, boundary: datetime) -> int | None:
        """30-minute average demand of the slot ending at ``boundary`` (raw)."""
        b = boundary.astimezone(JST)
        if b.minute % 30 or b.second or b.microsecond:
            raise ValueError("boundary must be on a half-hour")
        if b - SLOT < self.history_start or b > self.now():
            return None
        end, _ = self._integrals(b)
        start, _ = self._integrals(b - SLOT)
        limit: int = 10**self.config.demand_digits - 1
        return min((end - start) // self._demand_ws_per_raw, limit)

    def demand_kw(self, boundary: datetime | None = None) -> Decimal | None:
        """C3: 30-minute average demand (kW) at ``boundary`` (default the latest one)."""
        raw = self.demand_raw(boundary or self.latest_boundary())
        return None if raw is None else raw * self.kw_per_raw

    def billing_month_start(self, at: datetime | None = None) -> datetime:
        """Midnight of the latest billing day (E0) at or before ``at``."""
        t = self._t(at)
        day = self.config.billing_day
        start = t.replace(day=min(day, _days_in_month(t)), hour=0, minute=0, second=0)
        start = start.replace(microsecond=0)
        if start > t:
            previous = t.replace(day=1) - timedelta(days=1)
            start = previous.replace(day=min(day, _days_in_month(previous)), hour=0, minute=0)
            start = start.replace(second=0, microsecond=0)
        return start

    def max_demand_raw(self, since: datetime, until: datetime) -> int | None:
        """Highest slot demand with a boundary in (since, until]."""
        best: int | None = None
        b = half_hour_floor(until.astimezone(JST))
        while b > since:
            value = self.demand_raw(b)
            if value is not None and (best is None or value > best):
                best = value
            b -= SLOT
        return best

    def monthly_max_demand_raw(self) -> int | None:
        """C1: the highest demand of the current billing month."""
        now = self.now()
        return self.max_demand_raw(self.billing_month_start(now), now)

    def monthly_max_demand_kw(self) -> Decimal | None:
        raw = self.monthly_max_demand_raw()
        return None if raw is None else raw * self.kw_per_raw

    def cumulative_max_demand_raw(self) -> int:
        """C2: sum of the monthly maxima of the billing months that ended (since start)."""
        total = 0
        end = self.billing_month_start()
        while end > self.history_start:
            begin = self.billing_month_start(end - timedelta(seconds=1))
            total += self.max_demand_raw(max(begin, self.history_start), end) or 0
            end = begin
        return total

    def cumulative_max_demand_kw(self) -> Decimal:
        return self.cumulative_max_demand_raw() * self.kw_per_raw

    def _boundaries(self, days_ago: int) -> list[datetime]:
        day0 = self.now().replace(hour=0, minute=0, second=0, microsecond=0)
        day0 -= timedelta(days=days_ago)
        return [day0 + SLOT * i for i in range(48)]

    def _at_boundary(self, fn: Callable[[datetime], int | None], b: datetime) -> int | None:
        return None if b > self.now() else fn(b)

    def history_day(self, days_ago: int) -> list[int | None]:
        """E7: the energy register at 00:00 + i x 30 min of the day ``days_ago``."""
        return [self._at_boundary(self.energy_raw, b) for b in self._boundaries(days_ago)]

    def demand_history_day(self, days_ago: int) -> list[int | None]:
        """C6: demand of the slot ending at 00:00 + i x 30 min (our reading of C6)."""
        return [self._at_boundary(self.demand_raw, b) for b in self._boundaries(days_ago)]

    def reactive_history_day(self, days_ago: int) -> list[int | None]:
        """CE: the reactive register at 00:00 + i x 30 min."""
        return [self._at_boundary(self.reactive_raw, b) for b in self._boundaries(days_ago)]

    def slot_power_factor(self, boundary: datetime) -> float | None:
        """Power factor of the slot ending at ``boundary``, from the registers' deltas."""
        b = boundary.astimezone(JST)
        if b > self.now():
            return None
        p0, p1 = self.energy_raw(b - SLOT), self.energy_raw(b)
        q0, q1 = self.reactive_raw(b - SLOT), self.reactive_raw(b)
        if p0 is None or p1 is None or q0 is None or q1 is None:
            return None
        kwh = float(((p1 - p0) % 10**self.config.energy_digits) * self.kwh_per_raw)
        kvarh = float(((q1 - q0) % 10**self.config.reactive_digits) * self.kvarh_per_raw)
        if kwh == 0 and kvarh == 0:
            return None
        return kwh / math.hypot(kwh, kvarh)

    def _t(self, at: datetime | None) -> datetime:
        return self.now() if at is None else at.astimezone(JST)

    # --- properties ----------------------------------------------------------------------------

    @property
    def identification(self) -> bytes:
        """Node profile 0x83: 0xFE, maker code, 13 bytes of the serial."""
        serial = self.config.serial.encode("ascii")[:13].ljust(13, b"\x00")
        return b"\xfe" + self.config.maker_code.to_bytes(3, "big") + serial

    def get_epcs(self) -> list[int]:
        cfg = self.config
        epcs = [0x80, 0x81, 0x82, 0x83, 0x88, 0x8A, 0x8D, 0x97, 0x98, 0x9D, 0x9E, 0x9F]
        epcs += [0xC1, 0xC3, 0xC4, 0xC5, 0xC6]
        if cfg.cumulative_max_demand:
            epcs += [0xC2, 0xC7]
        if cfg.reactive:
            epcs += [0xCA, 0xCB, 0xCC, 0xCD, 0xCE]
        epcs += [0xD3, 0xD4, 0xE0, 0xE1, 0xE2, 0xE3, 0xE5, 0xE6, 0xE7]
        return epcs

    def set_epcs(self) -> list[int]:
        return [0xE1]

    def read_meter(self, epc: int) -> bytes | None:
        """EDT of one meter property, or None when the meter does not offer it."""
        if epc not in self.get_epcs():
            return None
        cfg = self.config
        now = self.now()
        boundary = self.latest_boundary()
        common = superclass_property(epc, cfg, now, self.get_epcs(), self.set_epcs())
        if common is not None:
            return common
        match epc:
            case 0x81:
                return b"\x00"
            case 0x82:
                return bytes([0, 0, ord(cfg.release[:1] or "M"), 0])
            case 0x83:
                return self.identification
            case 0xC1:
                return _u32(self.monthly_max_demand_raw())
            case 0xC2:
                return _u32(self.cumulative_max_demand_raw())
            case 0xC3:
                return _datetime7(boundary) + _u32(self.demand_raw(boundary))
            case 0xC4:
                return bytes([cfg.demand_digits])
            case 0xC5 | 0xC7:
                return bytes([cfg.demand_unit_code])
            case 0xC6:
                return self._history(self.demand_history_day)
            case 0xCA:
                return _datetime7(now) + _u32(self.reactive_raw(now))
            case 0xCB:
                return _datetime7(boundary) + _u32(self.reactive_raw(boundary))
            case 0xCC:
                return bytes([cfg.reactive_digits])
            case 0xCD:
                return bytes([cfg.reactive_unit_code])
            case 0xCE:
                return self._history(self.reactive_history_day)
            case 0xD3:
                return cfg.coefficient.to_bytes(4, "big")
            case 0xD4:
                return bytes([cfg.multiplier_code])
            case 0xE0:
                return bytes([cfg.billing_day])
            case 0xE1:
                return bytes([self.history_day_selected])
            case 0xE2:
                return _datetime7(now) + _u32(self.energy_raw(now))
            case 0xE3:
                return _datetime7(boundary) + _u32(self.energy_raw(boundary))
            case 0xE5:
                return bytes([cfg.energy_digits])
            case 0xE6:
                return bytes([cfg.energy_unit_code])
            case 0xE7:
                return self._history(self.history_day)
        return None

    def _history(self, fn: Callable[[int], list[int | None]]) -> bytes:
        day = self.history_day_selected
        return day.to_bytes(2, "big") + b"".join(_u32(v) for v in fn(day))

    def write_meter(self, epc: int, edt: bytes) -> bool:
        if epc == 0xE1 and len(edt) == 1 and edt[0] <= self.config.retention_days:
            self.history_day_selected = edt[0]
            return True
        return False

    def read_node_profile(self, epc: int) -> bytes | None:
        return node_profile(
            epc,
            release=0x0E,
            identification=self.identification,
            maker=self.config.maker_code,
            eoj=HV_METER_EOJ,
        )

    # --- ECHONET Lite services -------------------------------------------------------------------

    def instance_list_inf(self) -> Frame:
        """The D5 announcement a node multicasts when it starts."""
        edt = self.read_node_profile(0xD5)
        assert edt is not None
        return Frame(self.next_tid(), NODE_PROFILE_EOJ, NODE_PROFILE_EOJ, INF, [(0xD5, edt)])

    def handle(self, request: Frame) -> list[tuple[Frame, bool]]:
        """Answer one request: a list of (frame, multicast?)."""
        deoj = request.deoj
        if deoj[:2] == HV_METER_EOJ[:2] and deoj[2] in (0, 1):
            return serve(request, HV_METER_EOJ, self.read_meter, self.write_meter)
        if deoj[:2] == NODE_PROFILE_EOJ[:2] and deoj[2] in (0, 1, 2):
            return serve(request, NODE_PROFILE_EOJ, self.read_node_profile, refuse)
        return []


def _whole(value: Decimal, what: str) -> int:
    if value != value.to_integral_value() or value <= 0:
        raise ValueError(f"the {what} scale must be a whole number of (W|var)-seconds per step")
    return int(value)


def _days_in_month(dt: datetime) -> int:
    following = (dt.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (following - timedelta(days=1)).day


def _u32(value: int | None) -> bytes:
    return (NO_DATA_U32 if value is None else value).to_bytes(4, "big")


def _datetime7(dt: datetime) -> bytes:
    return dt.year.to_bytes(2, "big") + bytes([dt.month, dt.day, dt.hour, dt.minute, dt.second])
