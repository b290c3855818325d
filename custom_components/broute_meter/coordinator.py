"""The coordinator: one meter connection per config entry, polled and pushed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
import hmac
import secrets
from typing import TYPE_CHECKING, Any, Final, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_DEVICE, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    ConfigEntryNotReady,
)
from homeassistant.helpers import entity_registry as er, issue_registry as ir, restore_state
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .broute.connection import ConnectionTiming, MeterConnection
from .broute.errors import (
    AuthenticationError,
    BRouteError,
    EchonetDecodeError,
    PortNotReadyError,
    error_translation_key,
)
from .broute.links.detect import Firmware
from .broute.links.wisun import PanDescriptor
from .broute.meters.low_voltage import (
    Direction,
    EnergyScale,
    FixedTimePushed,
    FixedTimeReading,
    LiveReading,
    LowVoltageMeter,
    MeterIdentity,
    MinuteRegisters,
    RouteBIdentifier,
)
from .const import (
    CONF_CONNECTION,
    CONF_FIRMWARE,
    CONF_IDENTITY,
    CONF_METER_FINGERPRINT,
    CONF_METER_KEY,
    CONF_PAN,
    CONF_PASSWORD,
    CONF_RBID,
    CONF_SCAN_INTERVAL,
    CONNECTION_NETWORK,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    FIXED_TIME_MAX_AGE,
    ISSUE_METER_NOT_FOUND,
    LOGGER,
    METER_NOT_FOUND_GRACE,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .broute.link import Link, LinkStatus
    from .handoff import ProbeHandoff
    from .history import HistoryImporter

type BRouteConfigEntry = ConfigEntry[BRouteRuntimeData]

# Failures on the radio side (the meter cannot be reached or will not talk). When they
# last, the utilities' own checklist applies, which the repair issue carries.
_UNREACHABLE_KEYS: Final = frozenset(
    {"meter_not_found", "join_failed", "meter_timeout", "session_unavailable"}
)

# Japan has no daylight saving time: a fixed offset is exact and needs no tz database.
JST: Final = timezone(timedelta(hours=9), "JST")

# When the meter first became unreachable, per entry. Kept outside the coordinator
# because a failing setup is retried with a fresh coordinator.
_UNREACHABLE_SINCE: HassKey[dict[str, datetime]] = HassKey(f"{DOMAIN}_unreachable_since")


# Timing of every connection this integration opens; None = the library's real-world
# defaults. Tests swap in compressed timings here.
CONNECTION_TIMING: ConnectionTiming | None = None

# Home Assistant's clock for what this integration files by time (the history job, the
# meter-time estimate); None = dt_util.utcnow. Tests put the simulated meter's clock
# here: freezegun would also stop the event loop the simulator runs on.
CLOCK: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    """Home Assistant's time as this integration reads it."""
    return dt_util.utcnow() if CLOCK is None else CLOCK()


# After a start from the stored identity, how long the identity check waits: the first
# values and the entities come first, the check's frame after them.
IDENTITY_CHECK_DELAY = 10.0

# What the entities know about the meter (maker, serial, maps, scale, phase layout).
type MeterInfo = MeterIdentity


class LinkAvailability:
    """Let a link's state drive a coordinator's availability, not its next poll.

    A known loss marks the data failed at once (Home Assistant logs it once and the
    entities go unavailable), so no pre-fault value stays shown as current while the
    link repairs. HELD (a transparent re-authentication, a transmit-limit pause) is not
    a loss. When the link is back after a loss, the coordinator polls at once.
    """

    def __init__(
        self,
        coordinator: DataUpdateCoordinator[Any],
        link: Link,
        *,
        ready: Callable[[], bool],
    ) -> None:
        """Listen to ``link``; ``ready()`` is False while setting up (setup reports its
        own failure)."""
        self._coordinator = coordinator
        self._link = link
        self._ready = ready
        self._lost = False
        #: Whether a refresh after a repair is running (only one at a time).
        self.refresh_pending = False
        self._unsub = link.add_status_listener(self._on_status)

    def stop(self) -> None:
        """Stop listening."""
        self._unsub()

    @callback
    def _on_status(self, status: LinkStatus) -> None:
        coordinator = self._coordinator
        if not self._ready():
            return
        if status.lost:
            self._lost = True
            err = self._link.unavailable_error()
            coordinator.async_set_update_error(
                UpdateFailed(translation_domain=DOMAIN, translation_key=error_translation_key(err))
            )
        elif status.up and self._lost:
            self._lost = False
            # Only when it polls on its own: whoever drives the polls otherwise (tests,
            # the soak) must not get an extra refresh between theirs.
            if (
                not coordinator.last_update_success
                and coordinator.update_interval is not None
                and not self.refresh_pending
                and coordinator.config_entry is not None
            ):
                self.refresh_pending = True
                coordinator.config_entry.async_create_background_task(
                    coordinator.hass, self._refresh(), f"{DOMAIN} refresh after repair"
                )

    async def _refresh(self) -> None:
        # A direct refresh: async_request_refresh's debouncer would add its cooldown.
        # async_refresh runs under the debouncer's lock, so it never overlaps a timer
        # poll; the flag keeps repairs in quick succession from queueing several.
        try:
            await self._coordinator.async_refresh()
        finally:
            self.refresh_pending = False


def create_connection(
    device: str,
    rbid: str,
    password: str,
    *,
    pan: PanDescriptor | None = None,
    firmware: Firmware | str = Firmware.SKSTACK,
    on_push: Callable[[FixedTimePushed], None] | None = None,
) -> MeterConnection:
    """Create (not open) a connection to the meter behind the dongle at ``device``."""
    return MeterConnection(
        device,
        rbid,
        password,
        pan=pan,
        timing=CONNECTION_TIMING,
        firmware=firmware,
        on_push=on_push,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class FixedTimeEnergy:
    """A cumulative reading the meter took at a 30-minute boundary."""

    timestamp: datetime
    kwh: float


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterData:
    """One snapshot of the meter as the entities show it."""

    power: int | None = None
    current_r: float | None = None
    current_t: float | None = None
    energy_import: float | None = None
    energy_export: float | None = None
    #: The meter's minute the energy registers describe (1-minute readings only).
    energy_time: datetime | None = None
    fixed_import: FixedTimeEnergy | None = None
    fixed_export: FixedTimeEnergy | None = None
    fault: bool | None = None
    rssi: float | None = None
    channel: int | None = None
    pan_id: int | None = None


@dataclass(kw_only=True)
class BRouteRuntimeData:
    """What a loaded entry keeps: the coordinator and the history job."""

    coordinator: BRouteCoordinator
    history: HistoryImporter | None = None


class CumulativeRegister:
    """The last valid value of one cumulative energy register.

    The single place where a register value is judged: a value is published only if
    it is a real reading (no "no data" sentinel), and never lower than the last one,
    unless the register wrapped at 10^D7. A decrease counts as a wrap when the
    wrap-aware increase it implies is under a tenth of the register's range; anything
    else (a meter glitch, a stale frame) is dropped and the last value stays. After a
    wrap the published kWh drops, which a TOTAL_INCREASING sensor treats as the start
    of a new cycle, so long-term statistics keep counting correctly.
    """

    def __init__(self, scale: EnergyScale, name: str) -> None:
        """Start with nothing known."""
        self.scale = scale
        self._name = name
        self.raw: int | None = None

    def offer(self, raw: int | None) -> bool:
        """Take a new register value if it is valid; return whether it was taken."""
        if raw is None:
            return False
        if self.raw is None:
            self.raw = raw
            return True
        if raw >= self.raw:
            # Just behind across the wrap: a reading taken before the register wrapped
            # (a late or repeated 30-minute one), not an increase by nearly 10^D7.
            if 0 < self.scale.delta(raw, self.raw) < self.scale.modulus // 10:
                LOGGER.debug("Ignoring a %s reading from before the wrap", self._name)
                return False
            self.raw = raw
            return True
        if self.scale.delta(self.raw, raw) < self.scale.modulus // 10:
            LOGGER.info("The %s register wrapped around at its digit limit", self._name)
            self.raw = raw
            return True
        LOGGER.debug(
            "Ignoring a %s reading lower than the last one (%s < %s)",
            self._name,
            raw,
            self.raw,
        )
        return False

    @property
    def kwh(self) -> float | None:
        """The last valid value in kWh."""
        return None if self.raw is None else float(self.scale.to_kwh(self.raw))


class BRouteCoordinator(DataUpdateCoordinator[MeterData]):
    """Owns the meter connection of one config entry and polls it."""

    config_entry: BRouteConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: BRouteConfigEntry,
        *,
        handoff: ProbeHandoff | None = None,
    ) -> None:
        """Set up the coordinator; the connection opens in _async_setup.

        ``handoff``: the config flow's probe connection for this entry, taken with
        :func:`.handoff.async_take`, already joined, with the identity the probe read;
        it is adopted instead of joining again.
        """
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            # The title, not the device path or a credential, names it in logs.
            name=entry.title,
            update_interval=timedelta(
                seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
            ),
            always_update=False,
        )
        pan_data = entry.data.get(CONF_PAN)
        #: What the probe read, until the setup has used it.
        self._handoff = handoff
        if handoff is not None:
            self.connection = handoff.connection
            self.connection.on_push = self._handle_push
        elif entry.data.get(CONF_CONNECTION) == CONNECTION_NETWORK:
            # A 2nd-generation meter on its Wi-Fi B-route: the same meter over UDP.
            from .coordinator_network import create_network_connection

            self.connection = create_network_connection(hass, entry, on_push=self._handle_push)
        else:
            self.connection = create_connection(
                entry.data[CONF_DEVICE],
                entry.data[CONF_RBID],
                entry.data[CONF_PASSWORD],
                pan=PanDescriptor.from_dict(pan_data) if pan_data else None,
                firmware=entry.data.get(CONF_FIRMWARE, Firmware.SKSTACK),
                on_push=self._handle_push,
            )
        self.meter_info: MeterInfo | None = None
        #: What diagnostics may say about C0: booleans only.
        self.route_b_id_facts: dict[str, bool] = {"present": False}
        self._import = CumulativeRegister(EnergyScale(), "forward energy")
        self._export = CumulativeRegister(EnergyScale(), "reverse energy")
        self._fixed = {
            Direction.FORWARD: CumulativeRegister(EnergyScale(), "fixed-time forward"),
            Direction.REVERSE: CumulativeRegister(EnergyScale(), "fixed-time reverse"),
        }
        self._live = {Direction.FORWARD: self._import, Direction.REVERSE: self._export}
        self._fixed_times: dict[Direction, datetime] = {}
        self._energy_time: datetime | None = None
        self._fixed_seen: dict[Direction, datetime] = {}
        #: The last 1-minute registers taken (D0); None once a reading on no minute
        #: (E0/E3) came in between, which starts no chain to an hour boundary.
        self._last_minute: MinuteRegisters | None = None
        #: The history job, once the entry has one: hour ends are handed to it.
        self.history: HistoryImporter | None = None
        self._clock_offset: timedelta | None = None
        self._recheck_identity = False
        self.availability = LinkAvailability(
            self, self.connection.link, ready=lambda: self.meter_info is not None
        )

    @property
    def meter(self) -> LowVoltageMeter:
        """The meter model (for the history job)."""
        return self.connection.meter

    @property
    def scale(self) -> EnergyScale | None:
        """Coefficient, unit and digits of the cumulative registers, once read."""
        return None if self.meter_info is None else self.meter_info.scale

    # --- setup ----------------------------------------------------------------------

    @override
    async def _async_setup(self) -> None:
        """Join the meter and read what does not change."""
        handoff, self._handoff = self._handoff, None
        try:
            if handoff is not None and handoff.identity is not None:
                # Straight after the config flow: joined, identity just read; the
                # first frame is the live poll.
                identity, route_b_id = handoff.identity, handoff.route_b_id
            else:
                if handoff is None:
                    await self.connection.connect()
                # A restart knows the meter already: the first frame after the join is
                # the live poll; the identity is checked again in the background then.
                stored = self._stored_identity()
                identity = stored if stored is not None else await self.meter.read_identity()
                route_b_id = await self.meter.read_route_b_id(identity)
        except AuthenticationError as err:
            await self.connection.close()
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key=err.translation_key
            ) from err
        except PortNotReadyError as err:
            await self.connection.close()
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN, translation_key=err.translation_key
            ) from err
        except BRouteError as err:
            await self.connection.close()
            self._note_failure(err)
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key=err.translation_key
            ) from err
        except BaseException:
            await self.connection.close()
            raise
        try:
            self._check_meter(identity, route_b_id)
        except ConfigEntryError:
            await self.connection.close()
            raise
        self._persist_pan()
        self.meter_info = identity
        for register in (self._import, self._export, *self._fixed.values()):
            register.scale = identity.scale
        self._seed_registers()

    def _seed_registers(self) -> None:
        """Start the energy guard from the values Home Assistant restored.

        Otherwise the first reading after a restart is taken whatever it is, and a
        glitchy low one would be published as a register reset.
        """
        unique_id = self.config_entry.unique_id
        if unique_id is None:
            return
        registry = er.async_get(self.hass)
        last_states = restore_state.async_get(self.hass).last_states
        for key, register in (("energy_import", self._import), ("energy_export", self._export)):
            entity_id = registry.async_get_entity_id(Platform.SENSOR, DOMAIN, f"{unique_id}_{key}")
            stored = last_states.get(entity_id) if entity_id is not None else None
            if stored is None:
                continue
            try:
                raw = Decimal(stored.state.state) / register.scale.to_kwh(1)
            except InvalidOperation:
                continue  # unavailable or unknown when Home Assistant stopped
            # Not a whole count of this scale (the meter's scale changed): no seed.
            if raw == raw.to_integral_value() and 0 <= raw < register.scale.modulus:
                register.raw = int(raw)

    def _check_meter(self, identity: MeterIdentity, route_b_id: RouteBIdentifier | None) -> None:
        """Remember this meter by a keyed C0 fingerprint; a different one is an error.

        Over Wi-SUN wrong credentials already fail PANA (invalid_auth), so C0 adds no
        credential check there; it tells that another meter answers (replaced meter,
        wrong address on the network). The value itself is never stored or logged.
        """
        if route_b_id is None:
            return
        data = self.config_entry.data
        self.route_b_id_facts = {
            "present": True,
            "size_16": route_b_id.size == 16,
            "maker_matches": route_b_id.maker_code == identity.maker_code,
        }
        if (rbid := data.get(CONF_RBID)) is not None:  # none on the network (no PANA)
            self.route_b_id_facts["equals_auth_id"] = route_b_id.matches(rbid)
        key_hex = data.get(CONF_METER_KEY)
        if key_hex is None:
            key = secrets.token_bytes(32)
            self.hass.config_entries.async_update_entry(
                self.config_entry,
                data={
                    **data,
                    CONF_METER_KEY: key.hex(),
                    CONF_METER_FINGERPRINT: route_b_id.fingerprint(key),
                },
            )
            return
        known = str(data.get(CONF_METER_FINGERPRINT, ""))
        if not hmac.compare_digest(route_b_id.fingerprint(bytes.fromhex(key_hex)), known):
            raise ConfigEntryError(translation_domain=DOMAIN, translation_key="meter_changed")

    # --- polling --------------------------------------------------------------------

    @override
    async def _async_update_data(self) -> MeterData:
        """Read the live values in one request."""
        identity = self.meter_info
        assert identity is not None  # set up before the first poll
        # The first poll carries the live values only (one frame, also after a start
        # from the stored identity); the 30-minute registers follow with the next.
        stale = (
            []
            if self.data is None
            else [d for d in identity.fixed_time_directions if self._fixed_time_stale(d)]
        )
        try:
            reading = await self.meter.read_live(identity, stale, meter_now=self._meter_now())
        except AuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key=err.translation_key
            ) from err
        except EchonetDecodeError as err:
            # The meter answered: a garbled value is no sign of a lost radio path.
            self._note_success()
            self._persist_pan()
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key=err.translation_key
            ) from err
        except BRouteError as err:
            self._note_failure(err)
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key=error_translation_key(err)
            ) from err
        self._note_success()
        self._persist_pan()
        if not identity.complete:
            # Release letter and phase layout come with the first poll.
            self.meter_info = identity.completed_by(reading)
            self._persist_identity()
        elif self._recheck_identity:
            self._recheck_identity = False
            self.config_entry.async_create_background_task(
                self.hass, self._check_identity(identity), f"{DOMAIN} identity check"
            )
        return self._build(reading)

    def _meter_now(self) -> datetime:
        """The meter's time as expected: ours in Japan, plus the clock offset measured.

        The history job measures the offset from the meter's own clock; until it has,
        Home Assistant's clock is the estimate. A new measurement lets D0 be tried at
        once again if an estimate without it had refused one.
        """
        offset = None if self.history is None else self.history.clock_offset
        if offset != self._clock_offset:
            self._clock_offset = offset
            self.meter.retry_one_minute()
        now = utcnow() + (offset or timedelta(0))
        return now.astimezone(JST).replace(tzinfo=None)

    def _stored_identity(self) -> MeterIdentity | None:
        data = self.config_entry.data.get(CONF_IDENTITY)
        if data is None:
            return None
        try:
            identity = MeterIdentity.from_store(data)
        except KeyError, TypeError, ValueError:
            LOGGER.debug("Stored meter identity unreadable; reading it from the meter")
            return None
        self._recheck_identity = True
        return identity

    def _persist_identity(self) -> None:
        info = self.meter_info
        if info is None or not info.complete:
            return
        stored = info.to_store()
        if self.config_entry.data.get(CONF_IDENTITY) != stored:
            self.hass.config_entries.async_update_entry(
                self.config_entry, data={**self.config_entry.data, CONF_IDENTITY: stored}
            )

    async def _check_identity(self, stored: MeterIdentity) -> None:
        """Read the identity again (one frame, after the first values are shown).

        Another meter behind the same entry (a swap with the same credentials) or a
        changed scale: forget the stored identity and reload, so the entry sets up from
        what the meter says now.
        """
        await asyncio.sleep(IDENTITY_CHECK_DELAY)
        try:
            fresh = await self.meter.read_identity()
        except BRouteError as err:
            LOGGER.debug("Identity check postponed to the next start: %s", err)
            return
        if stored.same_meter(fresh):
            return
        LOGGER.info("The meter behind %s changed its identity; reloading", self.config_entry.title)
        data = {k: v for k, v in self.config_entry.data.items() if k != CONF_IDENTITY}
        self.hass.config_entries.async_update_entry(self.config_entry, data=data)
        self.hass.config_entries.async_schedule_reload(self.config_entry.entry_id)

    def _fixed_time_stale(self, direction: Direction) -> bool:
        # Judged by when the reading arrived, not by the meter's own timestamp: a
        # meter clock that is off must not turn every poll into two requests.
        seen = self._fixed_seen.get(direction)
        return seen is None or dt_util.utcnow() - seen > FIXED_TIME_MAX_AGE

    def _build(self, reading: LiveReading) -> MeterData:
        """A new snapshot from one poll.

        Power and current describe this moment: left out of the answer (Get_SNA), they
        are unknown rather than the previous poll's. Registers keep their last value.
        """
        previous = self.data or MeterData()
        minute = None if reading.registers_at is None else _as_aware(reading.registers_at)
        # A 1-minute reading counts only if it is newer than the one already held.
        if minute is None or self._energy_time is None or minute > self._energy_time:
            for direction, raw in reading.registers.items():
                self._live[direction].offer(raw)
            if reading.registers:
                # E0/E3 (the D0 fallback) are this moment's values, on no minute.
                self._energy_time = minute
                self._follow_minute(reading)
        self._apply_fixed_time(reading.fixed_time)
        pan = self.connection.pan
        return MeterData(
            power=reading.power_w,
            current_r=reading.current_r_a,
            current_t=reading.current_t_a,
            energy_import=self._import.kwh,
            energy_export=self._export.kwh,
            energy_time=self._energy_time,
            fixed_import=self._fixed_energy(Direction.FORWARD),
            fixed_export=self._fixed_energy(Direction.REVERSE),
            fault=reading.fault if reading.fault is not None else previous.fault,
            rssi=pan.rssi if pan is not None else None,
            channel=pan.channel if pan is not None else None,
            pan_id=pan.pan_id if pan is not None else None,
        )

    def _follow_minute(self, reading: LiveReading) -> None:
        """Close the hour at once when this minute reading is past an hour boundary.

        The registers at the boundary are the D0 itself when it is stamped :00, else
        the meter model reads them back (EE) in the background, so this poll's values
        are not delayed; the history job then writes that hour's row without waiting
        for its next E2/E4 read.
        """
        previous = self._last_minute
        if reading.registers_at is None:
            self._last_minute = None
            return
        latest = MinuteRegisters(reading.registers_at, dict(reading.registers))
        self._last_minute = latest
        if previous is None or self.history is None or self.meter_info is None:
            return
        hour = latest.minute.replace(minute=0, second=0, microsecond=0)
        if hour <= previous.minute:
            return  # no boundary in (previous, latest]
        if latest.minute != hour and not self.meter_info.minute_history:
            return  # the boundary lies inside the gap and cannot be read back
        self.config_entry.async_create_background_task(
            self.hass,
            self._close_hours(self.history, previous.minute, latest),
            f"{DOMAIN} hour ends",
        )

    async def _close_hours(
        self, history: HistoryImporter, previous: datetime, latest: MinuteRegisters
    ) -> None:
        try:
            ends = await self.meter.read_hour_ends(previous, latest)
        except BRouteError as err:
            # The history job fills the hour from E2/E4 later.
            LOGGER.debug("Hour ends not read back: %s", err)
            return
        if ends:
            await history.async_add_hour_ends(ends)

    def _apply_fixed_time(self, readings: Mapping[Direction, FixedTimeReading]) -> None:
        """Take EA/EB readings; a newer one also advances the live register."""
        for direction, reading in readings.items():
            if reading.raw is None:
                continue
            self._fixed_seen[direction] = dt_util.utcnow()
            if not self._fixed[direction].offer(reading.raw):
                continue
            self._fixed_times[direction] = _as_aware(reading.timestamp)
            live = self._live[direction]
            if live.raw is None or reading.raw > live.raw:
                live.offer(reading.raw)

    def _fixed_energy(self, direction: Direction) -> FixedTimeEnergy | None:
        kwh = self._fixed[direction].kwh
        stamp = self._fixed_times.get(direction)
        if kwh is None or stamp is None:
            return None
        return FixedTimeEnergy(timestamp=stamp, kwh=kwh)

    @callback
    def _handle_push(self, event: FixedTimePushed) -> None:
        """Take the meter's own 30-minute notification (INF of EA/EB)."""
        if self.data is None or self.meter_info is None:
            # Not set up yet: the first poll reads EA/EB itself.
            return
        self._apply_fixed_time(event.readings)
        if not self.last_update_success:
            # Publishing now would mark the last poll's power and current valid again
            # although that poll failed; the next successful poll shows the readings.
            return
        self.async_set_updated_data(
            replace(
                self.data,
                energy_import=self._import.kwh,
                energy_export=self._export.kwh,
                fixed_import=self._fixed_energy(Direction.FORWARD),
                fixed_export=self._fixed_energy(Direction.REVERSE),
            )
        )

    # --- bookkeeping ----------------------------------------------------------------

    def _persist_pan(self) -> None:
        """Store a PAN the link found by rescanning, so a restart joins directly."""
        pan = self.connection.pan
        if pan is None:
            return
        pan_dict = pan.as_dict()
        if self.config_entry.data.get(CONF_PAN) != pan_dict:
            self.hass.config_entries.async_update_entry(
                self.config_entry, data={**self.config_entry.data, CONF_PAN: pan_dict}
            )

    def _note_failure(self, err: BRouteError) -> None:
        """Raise the repair issue once the meter has been unreachable for a while."""
        if err.translation_key not in _UNREACHABLE_KEYS:
            return
        since = self.hass.data.setdefault(_UNREACHABLE_SINCE, {}).setdefault(
            self.config_entry.entry_id, dt_util.utcnow()
        )
        if dt_util.utcnow() - since >= METER_NOT_FOUND_GRACE:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"{ISSUE_METER_NOT_FOUND}_{self.config_entry.entry_id}",
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=ISSUE_METER_NOT_FOUND,
                translation_placeholders={"title": self.config_entry.title},
            )

    def _note_success(self) -> None:
        async_forget_unreachable(self.hass, self.config_entry.entry_id)

    @override
    async def async_shutdown(self) -> None:
        """Close the connection when the entry unloads or Home Assistant stops."""
        await super().async_shutdown()
        self.availability.stop()
        await self.connection.close()


@callback
def async_forget_unreachable(hass: HomeAssistant, entry_id: str) -> None:
    """The meter answers again (or its entry is gone): drop the repair issue."""
    if hass.data.get(_UNREACHABLE_SINCE, {}).pop(entry_id, None) is not None:
        ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_METER_NOT_FOUND}_{entry_id}")


def _as_aware(timestamp: datetime) -> datetime:
    """Meters keep Japan time without a zone; make the timestamp explicit."""
    if timestamp.tzinfo is None:
        return timestamp.replace(tzinfo=JST)
    return timestamp
