"""The high-voltage smart electric energy meter (class 0x028A) over an EchonetClient.

High-voltage customers reach it through the utility's B-route terminal on Ethernet
(see ``links/udp.py``). Everything here is typed: no caller names an EPC.

Scaling (ECHONET Appendix, 0x028A; project reference §D): every register is multiplied
by the coefficient D3 (1 if absent) and its multiplying factor D4, then by its own unit:
E6 for active energy (kWh, E5 digits), C5 for demand (kW, C4 digits), C7 for the
cumulative maximum demand, CD for lagging reactive energy (kvarh, CC digits). The
result is one :class:`~..echonet.EnergyScale` per quantity (D4 folded into the unit),
so the 0x0288 wrap-around arithmetic applies unchanged.

A poll is one Get frame of at most six properties (E2, E3, C3, C1 and, when offered,
CA and CB, then 88 and C2 while there is room). The fault status (88) and C2
(cumulative maximum demand, which moves once a month) that do not fit are read at most
once per 30-minute slot, in a second frame.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
import math
from typing import TYPE_CHECKING, Any

from ..echonet import (
    EPC,
    HV_METER_EOJ,
    MAX_EPCS_PER_REQUEST,
    NODE_PROFILE_EOJ,
    EnergyScale,
    FixedTimeReading,
    HvEPC,
    decode_coefficient,
    decode_coefficient_multiplier,
    decode_cumulative,
    decode_date,
    decode_digits,
    decode_fault,
    decode_fixed_time,
    decode_history1,
    decode_maker_code,
    decode_property_map,
    decode_release,
    decode_serial,
    decode_unit,
    encode_history1_day,
)
from ..errors import EchonetDecodeError, PropertyNotAvailableError

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..client import EchonetClient
    from ..echonet import EOJ

SLOT = timedelta(minutes=30)
SLOTS_PER_DAY = 48


# --- what the meter is ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HvIdentity:
    """What a 0x028A meter says about itself (read once at set-up)."""

    eoj: EOJ
    identification: str | None  # node profile 0x83, hex: the config entry's unique ID
    maker_code: int | None
    serial: str | None
    release: str | None
    get_map: frozenset[int] = field(repr=False)
    set_map: frozenset[int] = field(repr=False)
    energy: EnergyScale  # kWh per step: D3 x D4 x E6, E5 digits
    demand: EnergyScale  # kW per step: D3 x D4 x C5, C4 digits
    cumulative_demand: EnergyScale | None  # C2: D3 x D4 x C7 (None: C2 not offered)
    reactive: EnergyScale | None  # kvarh per step: D3 x D4 x CD, CC digits (None: no CA..)
    billing_day: int | None  # E0: day of the month the meter closes the billing month

    @property
    def has_reactive(self) -> bool:
        """Whether lagging reactive energy (and so the power factor) is offered."""
        return self.reactive is not None

    @property
    def has_cumulative_max_demand(self) -> bool:
        """Whether C2 (cumulative maximum demand) is offered."""
        return self.cumulative_demand is not None

    @property
    def has_fault_status(self) -> bool:
        """Whether 88 (fault status) is offered."""
        return EPC.FAULT_STATUS in self.get_map

    @property
    def has_demand_history(self) -> bool:
        """Whether C6 (30-minute demand history) is offered."""
        return HvEPC.DEMAND_HISTORY in self.get_map

    def diagnostics(self) -> dict[str, Any]:
        """Facts for diagnostics (no identification number, no serial)."""
        return {
            "class": "0x028A",
            "maker_code": None if self.maker_code is None else f"{self.maker_code:06X}",
            "release": self.release,
            "energy_kwh_per_step": str(self.energy.coefficient * self.energy.unit),
            "energy_digits": self.energy.digits,
            "demand_kw_per_step": str(self.demand.coefficient * self.demand.unit),
            "reactive": self.has_reactive,
            "cumulative_max_demand": self.has_cumulative_max_demand,
            "demand_history": self.has_demand_history,
            "billing_day": self.billing_day,
            "get_map": sorted(f"{epc:02X}" for epc in self.get_map),
        }


# --- what the meter measures ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimedValue:
    """A register with its timestamp (naive meter local time) and its physical value."""

    timestamp: datetime
    raw: int | None
    value: Decimal | None  # kWh, kW or kvarh; None for "no data"


@dataclass(frozen=True, slots=True)
class SlotPowerFactor:
    """Power factor of one 30-minute slot from its active and reactive energy."""

    slot_end: datetime  # naive meter local time
    active_kwh: Decimal
    reactive_kvarh: Decimal

    @property
    def power_factor(self) -> float | None:
        """kWh / sqrt(kWh² + kvarh²); None for a slot without any energy."""
        return power_factor(self.active_kwh, self.reactive_kvarh)


def power_factor(active_kwh: Decimal, reactive_kvarh: Decimal) -> float | None:
    """PF = P / sqrt(P² + Q²) over one interval; None when both are zero."""
    p, q = float(active_kwh), float(reactive_kvarh)
    if p < 0 or q < 0 or (p == 0 and q == 0):
        return None
    return p / math.hypot(p, q)


@dataclass(frozen=True, slots=True)
class HvReading:
    """One poll of a 0x028A meter; fields are None when not offered or "no data"."""

    energy: TimedValue | None  # E2: cumulative active energy, kWh
    fixed_time_energy: TimedValue | None  # E3: at the latest 30-minute boundary
    demand: TimedValue | None  # C3: 30-minute average demand (kW) of the slot ending then
    monthly_max_demand_kw: Decimal | None  # C1
    cumulative_max_demand_kw: Decimal | None  # C2
    reactive: TimedValue | None  # CA: cumulative lagging reactive energy, kvarh
    fixed_time_reactive: TimedValue | None  # CB: at the latest 30-minute boundary
    power_factor: SlotPowerFactor | None  # of the latest complete slot, once known
    fault: bool | None = None  # 88: the meter reports a fault (None: not offered or unread)


@dataclass(frozen=True, slots=True)
class HvHistoryDay:
    """One day of 30-minute values (E7, and C6/CE when offered) chosen with E1.

    ``energy[i]`` (and ``reactive[i]``) is the register at 00:00 + i x 30 min of
    ``day``; ``demand[i]`` is the average demand of the slot ending then (C6, read the
    way C3 is stamped). None where the meter has no data.
    """

    days_ago: int
    day: date
    energy: tuple[int | None, ...]
    demand: tuple[int | None, ...] | None
    reactive: tuple[int | None, ...] | None
    energy_scale: EnergyScale
    demand_scale: EnergyScale
    reactive_scale: EnergyScale | None

    def slot_time(self, index: int) -> datetime:
        """Naive meter local time of slot ``index``."""
        return datetime(self.day.year, self.day.month, self.day.day) + SLOT * index

    def energy_kwh(self) -> list[tuple[datetime, Decimal | None]]:
        """The cumulative register (kWh) at each boundary of the day."""
        return [
            (self.slot_time(i), None if raw is None else self.energy_scale.to_kwh(raw))
            for i, raw in enumerate(self.energy)
        ]

    def slot_energy_kwh(self) -> list[tuple[datetime, Decimal | None]]:
        """Energy of each slot (start time, kWh) from consecutive registers, wrap-aware."""
        return _deltas(self, self.energy, self.energy_scale)

    def slot_reactive_kvarh(self) -> list[tuple[datetime, Decimal | None]]:
        """Reactive energy of each slot (start time, kvarh); empty without CE."""
        if self.reactive is None or self.reactive_scale is None:
            return []
        return _deltas(self, self.reactive, self.reactive_scale)

    def demand_kw(self) -> list[tuple[datetime, Decimal | None]]:
        """C6: (slot end, kW) for each boundary of the day; empty without C6."""
        if self.demand is None:
            return []
        return [
            (self.slot_time(i), None if raw is None else self.demand_scale.to_kwh(raw))
            for i, raw in enumerate(self.demand)
        ]

    def hourly_energy_kwh(
        self, next_day: HvHistoryDay | None = None
    ) -> list[tuple[datetime, Decimal | None]]:
        """Energy of each hour (start, kWh) for hourly statistics, wrap-aware.

        Hour 23 needs the next day's 00:00 register: pass ``next_day`` (the day after
        this one) to get it, otherwise it is None.
        """
        values = [*self.energy, _first(next_day, "energy")]
        scale = self.energy_scale
        out: list[tuple[datetime, Decimal | None]] = []
        for hour in range(24):
            a, b = values[2 * hour], values[2 * hour + 2]
            kwh = None if a is None or b is None else scale.to_kwh(scale.delta(a, b))
            out.append((self.slot_time(2 * hour), kwh))
        return out

    def hourly_demand_kw(
        self, next_day: HvHistoryDay | None = None
    ) -> list[tuple[datetime, Decimal | None, Decimal | None]]:
        """(hour start, mean kW, max kW) of each hour from its two C6 slots.

        The slots of hour H end at H:30 and H+1:00, so hour 23 needs ``next_day``'s
        first value. Empty without C6.
        """
        if self.demand is None:
            return []
        values = [*self.demand, _first(next_day, "demand")]
        out: list[tuple[datetime, Decimal | None, Decimal | None]] = []
        for hour in range(24):
            a, b = values[2 * hour + 1], values[2 * hour + 2]
            if a is None or b is None:
                out.append((self.slot_time(2 * hour), None, None))
                continue
            kw_a, kw_b = self.demand_scale.to_kwh(a), self.demand_scale.to_kwh(b)
            out.append((self.slot_time(2 * hour), (kw_a + kw_b) / 2, max(kw_a, kw_b)))
        return out

    def power_factors(self) -> list[tuple[datetime, float | None]]:
        """(slot start, PF) of each slot with active and reactive energy; empty without CE."""
        reactive = dict(self.slot_reactive_kvarh())
        out: list[tuple[datetime, float | None]] = []
        for start, kwh in self.slot_energy_kwh():
            kvarh = reactive.get(start)
            pf = None if kwh is None or kvarh is None else power_factor(kwh, kvarh)
            out.append((start, pf))
        return out if reactive else []


def _first(day: HvHistoryDay | None, series: str) -> int | None:
    if day is None:
        return None
    values: tuple[int | None, ...] | None = getattr(day, series)
    return values[0] if values else None


def _deltas(
    day: HvHistoryDay, values: tuple[int | None, ...], scale: EnergyScale
) -> list[tuple[datetime, Decimal | None]]:
    out: list[tuple[datetime, Decimal | None]] = []
    for i in range(len(values) - 1):
        a, b = values[i], values[i + 1]
        out.append(
            (day.slot_time(i), None if a is None or b is None else scale.to_kwh(scale.delta(a, b)))
        )
    return out


# --- the model -------------------------------------------------------------------------------


def _scale(coefficient: int, multiplier: Decimal, unit: Decimal, digits: int) -> EnergyScale:
    return EnergyScale(coefficient=coefficient, unit=unit * multiplier, digits=digits)


def _timed(edt: bytes | None, scale: EnergyScale | None) -> TimedValue | None:
    if edt is None or scale is None:
        return None
    try:
        reading: FixedTimeReading = decode_fixed_time(edt)
    except EchonetDecodeError:
        return None
    raw = reading.raw
    if raw is not None and raw >= scale.modulus:
        raw = None  # more digits than the meter declared: not a reading
    value = None if raw is None else scale.to_kwh(raw)
    return TimedValue(reading.timestamp, raw, value)


def _register(edt: bytes | None, scale: EnergyScale | None) -> Decimal | None:
    if edt is None or scale is None:
        return None
    try:
        raw = decode_cumulative(edt)
    except EchonetDecodeError:
        return None
    return None if raw is None else scale.to_kwh(raw)


class HighVoltageMeter:
    """Typed reads of one 0x028A meter; call :meth:`read_identity` once, then poll."""

    def __init__(self, client: EchonetClient, eoj: EOJ = HV_METER_EOJ) -> None:
        """Read through ``client``; ``eoj`` is the meter object (instance from discovery)."""
        self.client = client
        self.eoj = eoj
        self.identity: HvIdentity | None = None
        self._last_fixed: tuple[datetime, int, int] | None = None  # slot end, E3, CB
        self._power_factor: SlotPowerFactor | None = None
        # C2 and 88 when they do not fit the poll frame: their last EDTs, and the slot
        # (fixed-time boundary) they were read in.
        self._slow: dict[int, bytes | None] = {}
        self._slow_read = False
        self._slow_boundary: datetime | None = None
        # E1 selects the day for every later history Get: one selection+read at a time.
        self._history_lock = asyncio.Lock()

    async def read_identity(self) -> HvIdentity:
        """Maker, serial, identification number, release, maps and every scale."""
        node = await self.client.get(NODE_PROFILE_EOJ, [EPC.IDENTIFICATION_NUMBER])
        ident = node.get(EPC.IDENTIFICATION_NUMBER)
        first = await self.client.get(
            self.eoj,
            [
                EPC.MAKER_CODE,
                EPC.SERIAL_NUMBER,
                EPC.RELEASE,
                EPC.GET_PROPERTY_MAP,
                EPC.SET_PROPERTY_MAP,
                HvEPC.COEFFICIENT,
            ],
        )
        get_map = _map(first.get(EPC.GET_PROPERTY_MAP))
        wanted = [
            HvEPC.COEFFICIENT_MULTIPLIER,
            HvEPC.ACTIVE_DIGITS,
            HvEPC.ACTIVE_UNIT,
            HvEPC.DEMAND_DIGITS,
            HvEPC.DEMAND_UNIT,
            HvEPC.BILLING_DAY,
        ]
        optional = [
            HvEPC.CUMULATIVE_MAX_DEMAND_UNIT,
            HvEPC.REACTIVE_LAG_DIGITS,
            HvEPC.REACTIVE_LAG_UNIT,
        ]
        wanted += [epc for epc in optional if epc in get_map]
        values = await self.client.get(self.eoj, wanted)
        values.update(first)

        def need(epc: int) -> bytes:
            edt = values.get(epc)
            if edt is None:
                raise PropertyNotAvailableError(f"the meter did not give EPC 0x{epc:02X}")
            return edt

        coefficient = 1
        if (edt := values.get(HvEPC.COEFFICIENT)) is not None:
            coefficient = decode_coefficient(edt)
        multiplier = Decimal(1)
        if (edt := values.get(HvEPC.COEFFICIENT_MULTIPLIER)) is not None:
            multiplier = decode_coefficient_multiplier(edt)
        energy = _scale(
            coefficient,
            multiplier,
            decode_unit(need(HvEPC.ACTIVE_UNIT)),
            decode_digits(need(HvEPC.ACTIVE_DIGITS)),
        )
        demand_digits = decode_digits(need(HvEPC.DEMAND_DIGITS))
        demand = _scale(
            coefficient, multiplier, decode_unit(need(HvEPC.DEMAND_UNIT)), demand_digits
        )
        cumulative: EnergyScale | None = None
        if HvEPC.CUMULATIVE_MAX_DEMAND in get_map:
            unit_edt = values.get(HvEPC.CUMULATIVE_MAX_DEMAND_UNIT) or need(HvEPC.DEMAND_UNIT)
            # C2 sums monthly maxima: it may use all eight digits whatever C4 says.
            cumulative = _scale(coefficient, multiplier, decode_unit(unit_edt), 8)
        reactive: EnergyScale | None = None
        if HvEPC.REACTIVE_LAG in get_map:
            q_unit = values.get(HvEPC.REACTIVE_LAG_UNIT)
            q_digits = values.get(HvEPC.REACTIVE_LAG_DIGITS)
            if q_unit is not None and q_digits is not None:
                reactive = _scale(
                    coefficient, multiplier, decode_unit(q_unit), decode_digits(q_digits)
                )
        billing_day: int | None = None
        if (edt := values.get(HvEPC.BILLING_DAY)) is not None and len(edt) == 1:
            billing_day = edt[0] if 1 <= edt[0] <= 31 else None
        identity = HvIdentity(
            eoj=self.eoj,
            identification=None if not ident else ident.hex().upper(),
            maker_code=_maybe(decode_maker_code, values.get(EPC.MAKER_CODE)),
            serial=_maybe(decode_serial, values.get(EPC.SERIAL_NUMBER)),
            release=_maybe(decode_release, values.get(EPC.RELEASE)),
            get_map=get_map,
            set_map=_map(values.get(EPC.SET_PROPERTY_MAP)),
            energy=energy,
            demand=demand,
            cumulative_demand=cumulative,
            reactive=reactive,
            billing_day=billing_day,
        )
        self.identity = identity
        return identity

    def _offered(self, epc: int) -> bool:
        identity = self.identity
        return identity is not None and (not identity.get_map or epc in identity.get_map)

    async def read(self) -> HvReading:
        """One poll: energy, demand, maximum demand, reactive energy, power factor."""
        identity = self.identity or await self.read_identity()
        epcs: list[int] = [
            HvEPC.CUMULATIVE_ACTIVE,
            HvEPC.FIXED_TIME_ACTIVE,
            HvEPC.FIXED_TIME_DEMAND,
            HvEPC.MONTHLY_MAX_DEMAND,
        ]
        if identity.reactive is not None:
            epcs += [HvEPC.REACTIVE_LAG, HvEPC.FIXED_TIME_REACTIVE_LAG]
        c2_scale = identity.cumulative_demand
        # C2 (moves once a month) and the fault status (rarely changes) go in the poll
        # frame when there is room, else in a second frame only on the first poll and
        # once per 30-minute slot.
        slow: list[int] = []
        if identity.has_fault_status:
            slow.append(EPC.FAULT_STATUS)
        if c2_scale is not None:
            slow.append(HvEPC.CUMULATIVE_MAX_DEMAND)
        room = max(0, MAX_EPCS_PER_REQUEST - len(epcs))
        inline, deferred = slow[:room], slow[room:]
        epcs += inline
        values = await self.client.get(self.eoj, epcs)
        fixed_energy = _timed(values.get(HvEPC.FIXED_TIME_ACTIVE), identity.energy)
        boundary = None if fixed_energy is None else fixed_energy.timestamp
        if deferred and (not self._slow_read or self._slow_boundary != boundary):
            values.update(await self.client.get(self.eoj, deferred))
            self._slow_read, self._slow_boundary = True, boundary
            self._slow.update({epc: values.get(epc) for epc in deferred})
        self._slow.update({epc: values.get(epc) for epc in inline})
        c2 = (
            None
            if c2_scale is None
            else _register(self._slow.get(HvEPC.CUMULATIVE_MAX_DEMAND), c2_scale)
        )
        fixed_reactive = _timed(values.get(HvEPC.FIXED_TIME_REACTIVE_LAG), identity.reactive)
        self._track_power_factor(identity, fixed_energy, fixed_reactive)
        return HvReading(
            energy=_timed(values.get(HvEPC.CUMULATIVE_ACTIVE), identity.energy),
            fixed_time_energy=fixed_energy,
            demand=_timed(values.get(HvEPC.FIXED_TIME_DEMAND), identity.demand),
            monthly_max_demand_kw=_register(values.get(HvEPC.MONTHLY_MAX_DEMAND), identity.demand),
            cumulative_max_demand_kw=c2,
            reactive=_timed(values.get(HvEPC.REACTIVE_LAG), identity.reactive),
            fixed_time_reactive=fixed_reactive,
            power_factor=self._power_factor,
            fault=_maybe(decode_fault, self._slow.get(EPC.FAULT_STATUS)),
        )

    def _track_power_factor(
        self,
        identity: HvIdentity,
        energy: TimedValue | None,
        reactive: TimedValue | None,
    ) -> None:
        """Power factor of the slot between two consecutive fixed-time readings (E3, CB)."""
        if identity.reactive is None or energy is None or reactive is None:
            return
        if energy.raw is None or reactive.raw is None or energy.timestamp != reactive.timestamp:
            return
        last = self._last_fixed
        now = (energy.timestamp, energy.raw, reactive.raw)
        if last is not None and last[0] == now[0]:
            return
        if last is not None and now[0] - last[0] == SLOT:
            self._power_factor = SlotPowerFactor(
                slot_end=now[0],
                active_kwh=identity.energy.to_kwh(identity.energy.delta(last[1], now[1])),
                reactive_kvarh=identity.reactive.to_kwh(identity.reactive.delta(last[2], now[2])),
            )
        elif last is not None:
            self._power_factor = None  # a gap: the previous value belongs to an older slot
        self._last_fixed = now

    async def prime_power_factor(self) -> SlotPowerFactor | None:
        """Power factor of the latest complete slot from today's history (E7/CE).

        A poll alone needs two consecutive 30-minute boundaries (up to 30 minutes after
        a restart); call this once after :meth:`read` to have it at once. Costs one
        Set and one Get; None without reactive energy or in the first slot of the day.
        """
        identity = self.identity or await self.read_identity()
        last = self._last_fixed
        if identity.reactive is None or last is None or self._power_factor is not None:
            return self._power_factor
        boundary = last[0]
        index = boundary.hour * 2 + boundary.minute // 30
        if index == 0:
            return None
        day = await self.read_history_day(0, today=boundary.date())
        if day.reactive is None:
            return None
        p0, p1 = day.energy[index - 1], day.energy[index]
        q0, q1 = day.reactive[index - 1], day.reactive[index]
        if p0 is None or p1 is None or q0 is None or q1 is None:
            return None
        if self._power_factor is None and self._last_fixed == last:
            self._power_factor = SlotPowerFactor(
                slot_end=boundary,
                active_kwh=identity.energy.to_kwh(identity.energy.delta(p0, p1)),
                reactive_kvarh=identity.reactive.to_kwh(identity.reactive.delta(q0, q1)),
            )
        return self._power_factor

    async def read_history_day(self, days_ago: int, *, today: date | None = None) -> HvHistoryDay:
        """Select the day with E1, then read E7 (and C6, CE when offered) in one frame.

        ``today`` is the meter's local date; read from 0x98 when not given.
        """
        identity = self.identity or await self.read_identity()
        async with self._history_lock:
            return await self._read_history_day(identity, days_ago, today)

    async def _read_history_day(
        self, identity: HvIdentity, days_ago: int, today: date | None
    ) -> HvHistoryDay:
        await self.client.set(self.eoj, HvEPC.HISTORY_DAY, encode_history1_day(days_ago))
        epcs: list[int] = [HvEPC.ACTIVE_HISTORY]
        if self._offered(HvEPC.DEMAND_HISTORY):
            epcs.append(HvEPC.DEMAND_HISTORY)
        if identity.reactive is not None and self._offered(HvEPC.REACTIVE_LAG_HISTORY):
            epcs.append(HvEPC.REACTIVE_LAG_HISTORY)
        if today is None:
            epcs.append(EPC.CURRENT_DATE)
        values = await self.client.get(self.eoj, epcs)
        if today is None:
            edt = values.get(EPC.CURRENT_DATE)
            if edt is None:
                raise PropertyNotAvailableError("the meter did not give its date (0x98)")
            today = decode_date(edt)
        energy_edt = values.get(HvEPC.ACTIVE_HISTORY)
        if energy_edt is None:
            raise PropertyNotAvailableError("the meter did not give its energy history (E7)")
        energy = decode_history1(energy_edt)
        if energy.day != days_ago:
            raise EchonetDecodeError(f"asked for day {days_ago}, the meter sent day {energy.day}")

        def series(epc: int) -> tuple[int | None, ...] | None:
            edt = values.get(epc)
            if edt is None:
                return None
            try:
                history = decode_history1(edt)
            except EchonetDecodeError:
                return None
            return history.values if history.day == days_ago else None

        return HvHistoryDay(
            days_ago=days_ago,
            day=today - timedelta(days=days_ago),
            energy=_fit(energy.values, identity.energy),
            demand=series(HvEPC.DEMAND_HISTORY),
            reactive=None if identity.reactive is None else series(HvEPC.REACTIVE_LAG_HISTORY),
            energy_scale=identity.energy,
            demand_scale=identity.demand,
            reactive_scale=identity.reactive,
        )


def _fit(values: tuple[int | None, ...], scale: EnergyScale) -> tuple[int | None, ...]:
    return tuple(None if v is None or v >= scale.modulus else v for v in values)


def _map(edt: bytes | None) -> frozenset[int]:
    if not edt:
        return frozenset()
    try:
        return decode_property_map(edt)
    except EchonetDecodeError:
        return frozenset()


def _maybe[T](decode: Callable[[bytes], T], edt: bytes | None) -> T | None:
    if edt is None:
        return None
    try:
        return decode(edt)
    except EchonetDecodeError:
        return None


__all__ = [
    "HighVoltageMeter",
    "HvHistoryDay",
    "HvIdentity",
    "HvReading",
    "SlotPowerFactor",
    "TimedValue",
    "power_factor",
]
