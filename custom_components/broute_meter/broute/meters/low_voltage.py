"""The low-voltage smart electric energy meter (class 0x0288) as typed readings.

Everything that names an EPC of this class or calls a codec for it lives here, so an
application (the Home Assistant integration, the probe command) asks for an identity,
a live reading, the meter's clock or one history day, and gets dataclasses back.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from decimal import Decimal
import enum
import time as monotonic_time
from typing import TYPE_CHECKING, Any, ClassVar

from ..echonet import (
    EPC,
    LV_METER_EOJ,
    EnergyScale,
    FixedTimeReading,
    RouteBIdentifier,
    decode_coefficient,
    decode_cumulative,
    decode_date,
    decode_digits,
    decode_fault,
    decode_fixed_time,
    decode_history1,
    decode_history3,
    decode_instantaneous_current,
    decode_instantaneous_power,
    decode_one_minute,
    decode_release,
    decode_route_b_id,
    decode_time,
    decode_unit,
    encode_history1_day,
    encode_history3_day,
)
from ..errors import EchonetDecodeError, PropertyNotAvailableError
from .base import IDENTITY_EPCS, DeviceIdentity, EchonetMeter, decode_identity

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ..client import EchonetClient
    from ..echonet import EOJ, Frame

SLOTS_PER_DAY = 48
#: How far back the meter keeps its 30-minute history (E5 = 0 … 99).
MAX_DAYS_AGO = 99


class Direction(enum.StrEnum):
    """Which way energy flows through a register."""

    FORWARD = "forward"  # bought from the grid
    REVERSE = "reverse"  # sold to the grid


_CUMULATIVE = {Direction.FORWARD: EPC.FORWARD_ENERGY, Direction.REVERSE: EPC.REVERSE_ENERGY}
_FIXED_TIME = {
    Direction.FORWARD: EPC.FIXED_TIME_FORWARD_ENERGY,
    Direction.REVERSE: EPC.FIXED_TIME_REVERSE_ENERGY,
}
_HISTORY = {Direction.FORWARD: EPC.HISTORY1_FORWARD, Direction.REVERSE: EPC.HISTORY1_REVERSE}
#: What a poll asks for, in this order, when the Get map lists it.
_LIVE_EPCS = (
    EPC.INSTANTANEOUS_POWER,
    EPC.INSTANTANEOUS_CURRENT,
    EPC.FORWARD_ENERGY,
    EPC.REVERSE_ENERGY,
    EPC.FAULT_STATUS,
)
#: With the 1-minute registers (D0, Release R) in the Get map, D0 takes the place of
#: E0 and E3 in the poll: it carries both registers and the meter's minute.
_LIVE_EPCS_ONE_MINUTE = (
    EPC.INSTANTANEOUS_POWER,
    EPC.INSTANTANEOUS_CURRENT,
    EPC.ONE_MINUTE_CUMULATIVE,
    EPC.FAULT_STATUS,
)
#: The longest gap the 1-minute history (EE) is read back for: one EE read.
MAX_FILL_MINUTES = 10
_MINUTE = timedelta(minutes=1)
#: After an unusable D0 answer, polls read E0/E3 for this long before trying D0 again.
ONE_MINUTE_RETRY_SECONDS = 600.0
#: How far D0's minute may be behind / ahead of the meter's expected time: a stamp
#: outside is no current 1-minute reading (a stuck register, a wrong stamp).
ONE_MINUTE_MAX_BEHIND = timedelta(minutes=5)
ONE_MINUTE_MAX_AHEAD = timedelta(minutes=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterIdentity(DeviceIdentity):
    """What a low-voltage meter says about itself, read once per connection.

    ``release`` and ``single_phase`` are only known after the first live reading
    (``complete``), which carries them in the same frame as the live values.
    """

    scale: EnergyScale = field(default_factory=EnergyScale)
    single_phase: bool = False
    reverse_metering: bool = False
    complete: bool = False

    @property
    def one_minute(self) -> bool:
        """Whether the meter offers the 1-minute registers (D0, Release R and later)."""
        return self.get_map is not None and EPC.ONE_MINUTE_CUMULATIVE in self.get_map

    @property
    def minute_history(self) -> bool:
        """Whether the last minutes can be read back (EE in the Get map).

        EF's Set is mandatory with EE and the identity frame has no room for the Set
        map, so a refused EF shows in :meth:`read_minutes` (None) instead.
        """
        if self.get_map is None or EPC.HISTORY3 not in self.get_map:
            return False
        return self.set_map is None or EPC.HISTORY3_SETTING in self.set_map

    @property
    def fixed_time_directions(self) -> tuple[Direction, ...]:
        """The 30-minute registers (EA/EB) this meter offers."""
        wanted = [Direction.FORWARD]
        if self.reverse_metering:
            wanted.append(Direction.REVERSE)
        return tuple(d for d in wanted if self.offers(_FIXED_TIME[d]))

    def completed_by(self, reading: LiveReading) -> MeterIdentity:
        """The identity with what the first live reading brought."""
        return replace(
            self, release=reading.release, single_phase=reading.single_phase, complete=True
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for diagnostics."""
        return {
            **DeviceIdentity.as_dict(self),
            "single_phase": self.single_phase,
            "reverse_metering": self.reverse_metering,
        }

    def to_store(self) -> dict[str, Any]:
        """Everything, JSON-friendly, for a restart to skip the identity frame."""
        maps = {
            name: None if epcs is None else sorted(epcs)
            for name, epcs in (
                ("get_map", self.get_map),
                ("set_map", self.set_map),
                ("status_change_map", self.status_change_map),
            )
        }
        return {
            "maker_code": self.maker_code,
            "manufacturer": self.manufacturer,
            "serial_number": self.serial_number,
            "release": self.release,
            **maps,
            "scale": [self.scale.coefficient, str(self.scale.unit), self.scale.digits],
            "single_phase": self.single_phase,
            "reverse_metering": self.reverse_metering,
            "complete": self.complete,
        }

    @classmethod
    def from_store(cls, data: Mapping[str, Any]) -> MeterIdentity:
        """The identity :meth:`to_store` wrote; KeyError/TypeError/ValueError if it is not."""

        def epcs(name: str) -> frozenset[int] | None:
            value = data[name]
            return None if value is None else frozenset(int(epc) for epc in value)

        coefficient, unit, digits = data["scale"]
        return cls(
            maker_code=data["maker_code"],
            manufacturer=data["manufacturer"],
            serial_number=data["serial_number"],
            release=data["release"],
            get_map=epcs("get_map"),
            set_map=epcs("set_map"),
            status_change_map=epcs("status_change_map"),
            scale=EnergyScale(int(coefficient), Decimal(unit), int(digits)),
            single_phase=bool(data["single_phase"]),
            reverse_metering=bool(data["reverse_metering"]),
            complete=bool(data["complete"]),
        )

    def same_meter(self, other: MeterIdentity) -> bool:
        """Whether ``other`` (read fresh) describes this meter with the same static facts."""
        fields_ = ("maker_code", "serial_number", "get_map", "scale", "reverse_metering")
        return all(getattr(self, f) == getattr(other, f) for f in fields_)


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveReading:
    """One poll: this moment's values and the registers, raw (scale them with the identity).

    A value the meter left out (Get_SNA) is None: power and current then are unknown.
    """

    power_w: int | None = None
    current_r_a: float | None = None
    current_t_a: float | None = None
    registers: dict[Direction, int | None] = field(default_factory=dict)
    #: The meter's minute (naive, Japan time) the registers describe, when they came
    #: from the 1-minute reading (D0); None when they are this moment's E0/E3.
    registers_at: datetime | None = None
    #: D0 was asked for but its answer was unusable (no data, Get_SNA, malformed).
    one_minute_failed: bool = False
    fault: bool | None = None
    #: Well-formed 30-minute readings that came along (stale ones were asked for).
    fixed_time: dict[Direction, FixedTimeReading] = field(default_factory=dict)
    release: str | None = None
    single_phase: bool = False


@dataclass(frozen=True, slots=True)
class FixedTimePushed:
    """The meter's own half-hourly notification of its 30-minute registers (INF of EA/EB)."""

    readings: dict[Direction, FixedTimeReading]


@dataclass(frozen=True, slots=True)
class MinuteRegisters:
    """The raw registers at one minute boundary (naive meter time); None: no data."""

    minute: datetime
    registers: dict[Direction, int | None]


@dataclass(frozen=True, slots=True)
class HistoryDay:
    """One day of 30-minute register readings (00:00 … 23:30 of the meter's day)."""

    days_ago: int
    #: 48 raw register values (None: no reading) per direction the meter returned.
    slots: dict[Direction, tuple[int | None, ...]]


class LowVoltageMeter(EchonetMeter):
    """A low-voltage smart electric energy meter (0x0288) over an ECHONET Lite client."""

    eoj: ClassVar[EOJ] = LV_METER_EOJ

    async def read_identity(self) -> MeterIdentity:
        """Scale (D3/E1/D7), maker, serial and Get map: six EPCs, one frame.

        The release letter and the phase layout come with the first live reading, so a
        restart shows values after the join and two round trips.
        """
        values = await self._get((EPC.COEFFICIENT, EPC.UNIT, EPC.DIGITS, *IDENTITY_EPCS))
        return self.decode_identity(values)

    @staticmethod
    def decode_identity(values: Mapping[int, bytes]) -> MeterIdentity:
        """Build the identity from a Get answer; EchonetDecodeError if a value is bad."""
        # D3 is optional (1 when absent); E1 and D7 are mandatory, so a meter that
        # does not answer them gets the defaults rather than a failed setup.
        scale: dict[str, Any] = {}
        if EPC.COEFFICIENT in values:
            scale["coefficient"] = decode_coefficient(values[EPC.COEFFICIENT])
        if EPC.UNIT in values:
            scale["unit"] = decode_unit(values[EPC.UNIT])
        if EPC.DIGITS in values:
            scale["digits"] = decode_digits(values[EPC.DIGITS])
        common = decode_identity(values)
        get_map: frozenset[int] | None = common.get("get_map")
        return MeterIdentity(
            **common,
            scale=EnergyScale(**scale),
            reverse_metering=get_map is not None and EPC.REVERSE_ENERGY in get_map,
        )

    def __init__(self, client: EchonetClient) -> None:
        """Attach to ``client``; D0 is used while it gives usable answers."""
        super().__init__(client)
        #: Monotonic time before which polls read E0/E3 instead of an unusable D0.
        self._one_minute_retry_at: float | None = None

    @staticmethod
    def live_epcs(
        identity: MeterIdentity,
        fixed_time: Iterable[Direction] = (),
        *,
        one_minute: bool = True,
    ) -> tuple[int, ...]:
        """What one poll asks for: at most six EPCs, so one frame.

        The first poll also asks for the release letter; the 30-minute registers wait
        for a later poll (or the meter's own push), so the first values need one trip.
        A meter with D0 in its map gets D0 in place of E0/E3 unless ``one_minute`` is
        False (the fallback after an unusable D0).
        """
        epcs: list[int]
        if identity.get_map is None:
            # No map to go by: ask for the mandatory ones only.
            epcs = [epc for epc in _LIVE_EPCS if epc != EPC.REVERSE_ENERGY]
        elif one_minute and identity.one_minute:
            epcs = [epc for epc in _LIVE_EPCS_ONE_MINUTE if epc in identity.get_map]
        else:
            epcs = [epc for epc in _LIVE_EPCS if epc in identity.get_map]
        if not identity.complete:
            if identity.offers(EPC.RELEASE):
                epcs.append(EPC.RELEASE)
        else:
            epcs.extend(_FIXED_TIME[d] for d in fixed_time)
        return tuple(epcs)

    def retry_one_minute(self) -> None:
        """Ask for D0 again at the next poll (the caller's time estimate changed)."""
        self._one_minute_retry_at = None

    async def read_live(
        self,
        identity: MeterIdentity,
        fixed_time: Iterable[Direction] = (),
        *,
        meter_now: datetime | None = None,
    ) -> LiveReading:
        """One poll (see :meth:`live_epcs`), with the 30-minute registers of ``fixed_time``.

        Still one frame: an unusable D0 leaves this poll's registers out (the caller
        keeps the last ones) and the next polls read E0/E3 for
        :data:`ONE_MINUTE_RETRY_SECONDS` before D0 is tried again. ``meter_now`` is the
        caller's estimate of the meter's time (naive Japan time): a D0 stamped more
        than :data:`ONE_MINUTE_MAX_BEHIND` before it or :data:`ONE_MINUTE_MAX_AHEAD`
        after it counts as unusable.
        """
        now = monotonic_time.monotonic()
        retry_at = self._one_minute_retry_at
        use_d0 = retry_at is None or now >= retry_at
        epcs = self.live_epcs(identity, fixed_time, one_minute=use_d0)
        values = await self._get(epcs)
        reading = self.decode_live(values)
        if EPC.ONE_MINUTE_CUMULATIVE not in epcs:
            return reading
        stamp = reading.registers_at
        if stamp is not None and meter_now is not None:
            expected = meter_now.replace(tzinfo=None)
            if not expected - ONE_MINUTE_MAX_BEHIND <= stamp <= expected + ONE_MINUTE_MAX_AHEAD:
                reading = replace(reading, registers={}, registers_at=None)
        if reading.registers_at is None:
            # Left out (Get_SNA), empty, malformed, without a value or mis-stamped.
            self._one_minute_retry_at = now + ONE_MINUTE_RETRY_SECONDS
            return replace(reading, one_minute_failed=True)
        self._one_minute_retry_at = None
        return reading

    @staticmethod
    def decode_live(values: Mapping[int, bytes]) -> LiveReading:
        """Decode a poll's answer; EchonetDecodeError for a malformed live value."""
        power = current_r = current_t = fault = None
        if EPC.INSTANTANEOUS_POWER in values:
            power = decode_instantaneous_power(values[EPC.INSTANTANEOUS_POWER])
        if EPC.INSTANTANEOUS_CURRENT in values:
            current_r, current_t = decode_instantaneous_current(values[EPC.INSTANTANEOUS_CURRENT])
        registers = {
            direction: decode_cumulative(values[epc])
            for direction, epc in _CUMULATIVE.items()
            if epc in values
        }
        registers_at: datetime | None = None
        one_minute_failed = False
        if EPC.ONE_MINUTE_CUMULATIVE in values:
            minute = _one_minute(values[EPC.ONE_MINUTE_CUMULATIVE])
            if minute is None:
                one_minute_failed = True
            else:
                registers_at, minute_registers = minute
                registers = minute_registers
        if EPC.FAULT_STATUS in values:
            fault = decode_fault(values[EPC.FAULT_STATUS])
        release = decode_release(values[EPC.RELEASE]) if EPC.RELEASE in values else None
        return LiveReading(
            power_w=power,
            current_r_a=current_r,
            current_t_a=current_t,
            registers=registers,
            registers_at=registers_at,
            one_minute_failed=one_minute_failed,
            fault=fault,
            fixed_time=_fixed_time(values),
            release=release,
            # Single-phase two-wire meters report "no data" for the T phase.
            single_phase=EPC.INSTANTANEOUS_CURRENT in values and current_t is None,
        )

    @staticmethod
    def decode_push(frame: Frame) -> FixedTimePushed | None:
        """The typed event of a notification from the meter, or None if it is not one."""
        values = frame.values()
        if not {EPC.FIXED_TIME_FORWARD_ENERGY, EPC.FIXED_TIME_REVERSE_ENERGY} & values.keys():
            return None
        return FixedTimePushed(_fixed_time(values))

    async def read_clock(self, *, on_request: Callable[[], None] | None = None) -> datetime | None:
        """The meter's date and time (naive, Japan time); None if it does not offer them."""
        try:
            values = await self._get((EPC.CURRENT_DATE, EPC.CURRENT_TIME), on_request)
        except PropertyNotAvailableError:
            return None
        if not values.get(EPC.CURRENT_DATE) or not values.get(EPC.CURRENT_TIME):
            return None
        clock = decode_time(values[EPC.CURRENT_TIME])
        return datetime.combine(
            decode_date(values[EPC.CURRENT_DATE]), time(clock.hour, clock.minute)
        )

    async def read_history_day(
        self,
        days_ago: int,
        directions: Iterable[Direction],
        *,
        on_request: Callable[[], None] | None = None,
    ) -> HistoryDay | None:
        """Select a day with E5 and read its history (E2/E4); None if the meter lacks it.

        Two round trips. EchonetDecodeError when the meter answers for another day or
        with other than 48 slots.
        """
        try:
            await self._set(EPC.HISTORY1_DAY, encode_history1_day(days_ago), on_request)
        except PropertyNotAvailableError:
            return None
        wanted = tuple(directions)
        try:
            values = await self._get((_HISTORY[d] for d in wanted), on_request)
        except PropertyNotAvailableError:
            return None
        slots: dict[Direction, tuple[int | None, ...]] = {}
        for direction in wanted:
            edt = values.get(_HISTORY[direction])
            if not edt:
                continue
            history = decode_history1(edt)
            if history.day != days_ago:
                raise EchonetDecodeError(f"history for day {history.day} instead of {days_ago}")
            if len(history.values) != SLOTS_PER_DAY:
                raise EchonetDecodeError("history day without 48 slots")
            slots[direction] = tuple(history.values)
        return HistoryDay(days_ago, slots)

    async def read_route_b_id(self, identity: MeterIdentity) -> RouteBIdentifier | None:
        """C0, the meter's B-route identification number, as a digest only (one frame).

        None when the Get map does not list it or the meter leaves it out. The value
        itself is never returned or kept: compare ``fingerprint(key)`` across setups.
        EchonetDecodeError for a size other than 16 (or the emulators' 8) bytes.
        """
        if identity.get_map is None or EPC.ROUTE_B_ID not in identity.get_map:
            return None
        try:
            values = await self._get((EPC.ROUTE_B_ID,))
        except PropertyNotAvailableError:
            return None
        edt = values.get(EPC.ROUTE_B_ID)
        return decode_route_b_id(edt) if edt else None

    async def read_hour_ends(
        self, previous: datetime, latest: MinuteRegisters
    ) -> list[MinuteRegisters]:
        """The registers at the hour boundaries after minute ``previous`` up to ``latest``.

        ``previous`` and ``latest`` are 1-minute readings (D0 or EE) of this meter, in
        meter time. The energy up to a boundary belongs to the hour before it, so
        these let a caller close that hour exactly. No request when ``latest`` itself
        is the only boundary (or there is none); one EE read (two frames) when a
        boundary lies inside a gap of at most :data:`MAX_FILL_MINUTES`; nothing for a
        longer gap, a refused window, or an EE whose newest pair differs from
        ``latest`` (the same register read twice must agree).
        """
        start = previous.replace(second=0, microsecond=0, tzinfo=None)
        end = latest.minute.replace(second=0, microsecond=0, tzinfo=None)
        count = (end - start) // _MINUTE
        if count < 1:
            return []
        if (end - _MINUTE).hour == start.hour and (end - _MINUTE).date() == start.date():
            # Every minute of the gap is in one hour: at most ``latest`` ends it.
            return [latest] if end.minute == 0 else []
        if count > MAX_FILL_MINUTES:
            return []
        minutes = await self.read_minutes(end, count)
        if not minutes:
            return []
        newest = minutes[-1]
        if newest.minute != end or any(
            newest.registers.get(d) != raw for d, raw in latest.registers.items() if raw is not None
        ):
            return []
        return [m for m in minutes if m.minute > start and m.minute.minute == 0]

    async def read_minutes(
        self,
        newest: datetime,
        count: int,
        *,
        on_request: Callable[[], None] | None = None,
    ) -> list[MinuteRegisters] | None:
        """The 1-minute registers of ``count`` (1-10) minutes up to ``newest``, oldest first.

        ``newest`` is meter time (naive or Japan time; seconds are dropped).

        SetC EF then Get EE (two round trips). None when the meter lacks them, refuses
        the window (older than it keeps) or reports it unset. Minutes without data are
        left out. EchonetDecodeError when EE answers for another minute.
        """
        wanted = newest.replace(second=0, microsecond=0, tzinfo=None)
        try:
            await self._set(EPC.HISTORY3_SETTING, encode_history3_day(wanted, count), on_request)
            values = await self._get((EPC.HISTORY3,), on_request)
        except PropertyNotAvailableError:
            return None
        edt = values.get(EPC.HISTORY3)
        if not edt:
            return None
        history = decode_history3(edt)
        if history.start is None:
            return None
        if history.start != wanted:
            raise EchonetDecodeError("1-minute history for another minute")
        out = [
            MinuteRegisters(minute, {Direction.FORWARD: forward, Direction.REVERSE: reverse})
            for minute, forward, reverse in history.slots()
            if forward is not None or reverse is not None
        ]
        out.reverse()
        return out


def _one_minute(edt: bytes) -> tuple[datetime, dict[Direction, int | None]] | None:
    """D0 as (minute, registers); None when it is empty, malformed or holds no value."""
    if not edt:
        return None
    try:
        reading = decode_one_minute(edt)
    except EchonetDecodeError:
        return None
    if reading.forward is None and reading.reverse is None:
        return None
    registers = {Direction.FORWARD: reading.forward, Direction.REVERSE: reading.reverse}
    return reading.timestamp, {d: raw for d, raw in registers.items() if raw is not None}


def _fixed_time(values: Mapping[int, bytes]) -> dict[Direction, FixedTimeReading]:
    """The well-formed EA/EB readings with a value; a malformed one is left out."""
    readings: dict[Direction, FixedTimeReading] = {}
    for direction, epc in _FIXED_TIME.items():
        if epc not in values:
            continue
        try:
            reading = decode_fixed_time(values[epc])
        except EchonetDecodeError:
            continue
        if reading.raw is not None:
            readings[direction] = reading
    return readings


__all__ = [
    "MAX_DAYS_AGO",
    "MAX_FILL_MINUTES",
    "ONE_MINUTE_MAX_AHEAD",
    "ONE_MINUTE_MAX_BEHIND",
    "ONE_MINUTE_RETRY_SECONDS",
    "SLOTS_PER_DAY",
    "Direction",
    "EnergyScale",
    "FixedTimePushed",
    "FixedTimeReading",
    "HistoryDay",
    "LiveReading",
    "LowVoltageMeter",
    "MeterIdentity",
    "MinuteRegisters",
    "RouteBIdentifier",
]
