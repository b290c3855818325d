"""Meters on the network: the UDP link of an entry, and the high-voltage coordinator.

A 0x0288 meter on its Wi-Fi B-route is polled by the same :class:`BRouteCoordinator`
as over Wi-SUN, over a :class:`MeterConnection` built on a UDP link. A 0x028A meter
(behind the utility's B-route terminal) has its own coordinator here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from . import network_flow
from .broute.client import ClientTiming, EchonetClient
from .broute.connection import MeterConnection
from .broute.errors import (
    BRouteError,
    EchonetDecodeError,
    PropertyNotAvailableError,
    error_translation_key,
)
from .broute.links.udp import NodeAddress, UdpLink, parse_address
from .broute.meters.high_voltage import HighVoltageMeter, HvIdentity, HvReading
from .broute.meters.low_voltage import Direction, HistoryDay
from .const import (
    CONF_ADDRESS,
    CONF_IDENTIFICATION,
    CONF_INTERFACE,
    CONF_METER_CLASS,
    CONF_SCAN_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    ISSUE_METER_NOT_FOUND,
    LOGGER,
    METER_CLASS_HIGH_VOLTAGE,
    METER_NOT_FOUND_GRACE,
)
from .coordinator import (
    _UNREACHABLE_KEYS,
    _UNREACHABLE_SINCE,
    CumulativeRegister,
    FixedTimeEnergy,
    LinkAvailability,
    _as_aware,
    async_forget_unreachable,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from decimal import Decimal

    from .broute.meters.low_voltage import EnergyScale, FixedTimePushed
    from .history import HistoryImporter

# Timing of the ECHONET Lite requests to meters on the network; None = the library's
# defaults. Tests swap in compressed timings here.
CLIENT_TIMING: ClientTiming | None = None

# A meter on the network that cannot be reached raises these as well.
_NETWORK_UNREACHABLE_KEYS = _UNREACHABLE_KEYS | {"network_no_answer", "network_unreachable"}


def is_high_voltage(data: Mapping[str, Any]) -> bool:
    """Whether an entry's data describes a 0x028A meter on the network."""
    return network_flow.is_network_entry(data) and (
        data.get(CONF_METER_CLASS) == METER_CLASS_HIGH_VOLTAGE
    )


def create_udp_link(hass: HomeAssistant, entry: ConfigEntry[Any]) -> UdpLink:
    """The entry's UDP link; a new address found by a repair is stored in the entry."""
    interface: str | None = entry.data.get(CONF_INTERFACE) or None
    address = parse_address(entry.data[CONF_ADDRESS], scope=interface)
    family = network_flow.family_of(address)
    settings = network_flow.SETTINGS
    link = UdpLink(
        address,
        identification=entry.data.get(CONF_IDENTIFICATION),
        local_host=settings.local_hosts.get(family),
        local_port=settings.local_port,
        interface=interface,
        discovery_target=settings.discovery_targets.get(family),
        timing=settings.timing,
    )

    def moved(new: NodeAddress) -> None:
        # Called from the link's repair task, on the event loop.
        if entry.data.get(CONF_ADDRESS) != str(new):
            hass.config_entries.async_update_entry(
                entry, data={**entry.data, CONF_ADDRESS: str(new)}
            )

    link.on_address_change = moved
    return link


def create_network_connection(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    *,
    on_push: Callable[[FixedTimePushed], None] | None = None,
) -> MeterConnection:
    """A low-voltage meter (0x0288) on its Wi-Fi B-route, for :class:`BRouteCoordinator`."""
    return MeterConnection.over_link(
        create_udp_link(hass, entry), timing=CLIENT_TIMING, on_push=on_push
    )


@callback
def note_unreachable(hass: HomeAssistant, entry: ConfigEntry[Any], key: str) -> None:
    """Raise the meter's repair issue once it has been unreachable for a while."""
    if key not in _NETWORK_UNREACHABLE_KEYS:
        return
    since = hass.data.setdefault(_UNREACHABLE_SINCE, {}).setdefault(
        entry.entry_id, dt_util.utcnow()
    )
    if dt_util.utcnow() - since >= METER_NOT_FOUND_GRACE:
        ir.async_create_issue(
            hass,
            DOMAIN,
            f"{ISSUE_METER_NOT_FOUND}_{entry.entry_id}",
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_METER_NOT_FOUND,
            translation_placeholders={"title": entry.title},
        )


# --- high-voltage meters ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TimedReading:
    """A value with the time the meter gives it (end of a 30-minute slot)."""

    timestamp: datetime
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class HvData:
    """One snapshot of a high-voltage meter as the entities show it."""

    energy: float | None = None
    fixed_energy: FixedTimeEnergy | None = None
    demand: TimedReading | None = None
    monthly_max_demand: float | None = None
    cumulative_max_demand: float | None = None
    reactive_energy: float | None = None
    power_factor: float | None = None  # percent
    fault: bool | None = None  # the meter's own fault status


@dataclass(kw_only=True)
class HvRuntimeData:
    """What a loaded high-voltage entry keeps."""

    coordinator: HvCoordinator
    history: HistoryImporter | None = None


class HvHistoryMeter:
    """A high-voltage meter's history as the history job reads 0x0288's.

    The day's cumulative active energy (48 values at the 30-minute boundaries) has the
    shape of the low-voltage forward history, so the same importer folds it into
    hourly statistics. There is no reverse direction, and no clock read: the job then
    goes by Home Assistant's clock.
    """

    def __init__(self, meter: HighVoltageMeter) -> None:
        """Read through ``meter``."""
        self._meter = meter

    async def read_clock(self, *, on_request: Callable[[], None] | None = None) -> datetime | None:
        """Not read (the day's date comes with each history read)."""
        return None

    async def read_history_day(
        self,
        days_ago: int,
        directions: Iterable[Direction],
        *,
        on_request: Callable[[], None] | None = None,
    ) -> HistoryDay | None:
        """The day's active energy as forward history; None if the meter lacks it."""
        if Direction.FORWARD not in directions:
            return None
        try:
            day = await self._meter.read_history_day(days_ago)
        except PropertyNotAvailableError:
            return None
        finally:
            if on_request is not None:
                on_request()
        return HistoryDay(days_ago=days_ago, slots={Direction.FORWARD: day.energy})


type HvConfigEntry = ConfigEntry[HvRuntimeData]


class HvCoordinator(DataUpdateCoordinator[HvData]):
    """Owns the UDP link to one high-voltage meter and polls it."""

    config_entry: HvConfigEntry

    def __init__(self, hass: HomeAssistant, entry: HvConfigEntry) -> None:
        """Set up; the link opens in _async_setup."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=timedelta(
                seconds=entry.options.get(CONF_SCAN_INTERVAL, DEFAULT_SCAN_INTERVAL)
            ),
            always_update=False,
        )
        self.link = create_udp_link(hass, entry)
        self.client = EchonetClient(self.link, timing=CLIENT_TIMING)
        self.hv_meter = HighVoltageMeter(self.client)
        self.meter_info: HvIdentity | None = None
        self._history_meter = HvHistoryMeter(self.hv_meter)
        self._pf_primed = False
        self._energy: CumulativeRegister | None = None
        self._fixed: CumulativeRegister | None = None
        self._reactive: CumulativeRegister | None = None
        self.availability = LinkAvailability(
            self, self.link, ready=lambda: self.meter_info is not None
        )

    @property
    def meter(self) -> HvHistoryMeter:
        """The meter as the history job reads it (its E7 day, like 0x0288's history)."""
        return self._history_meter

    @property
    def scale(self) -> EnergyScale | None:
        """Coefficient, unit and digits of the active energy register, once read."""
        return None if self.meter_info is None else self.meter_info.energy

    @override
    async def _async_setup(self) -> None:
        """Reach the meter and read its scales."""
        try:
            await self.link.open()
            identity = await self.hv_meter.read_identity()
        except BRouteError as err:
            await self._close()
            note_unreachable(self.hass, self.config_entry, error_translation_key(err))
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key=error_translation_key(err)
            ) from err
        except BaseException:
            await self._close()
            raise
        self.meter_info = identity
        self._energy = CumulativeRegister(identity.energy, "active energy")
        self._fixed = CumulativeRegister(identity.energy, "fixed-time active energy")
        if identity.reactive is not None:
            self._reactive = CumulativeRegister(identity.reactive, "reactive energy")

    @override
    async def _async_update_data(self) -> HvData:
        """Read energy, demand, maximum demand and reactive energy in one poll."""
        try:
            reading = await self.hv_meter.read()
        except EchonetDecodeError as err:
            async_forget_unreachable(self.hass, self.config_entry.entry_id)
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key=err.translation_key
            ) from err
        except BRouteError as err:
            note_unreachable(self.hass, self.config_entry, error_translation_key(err))
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key=error_translation_key(err)
            ) from err
        async_forget_unreachable(self.hass, self.config_entry.entry_id)
        if reading.power_factor is None and not self._pf_primed:
            # Once after start-up: the last slot's power factor from today's history,
            # rather than waiting for two 30-minute boundaries.
            self._pf_primed = True
            try:
                primed = await self.hv_meter.prime_power_factor()
            except BRouteError as err:
                LOGGER.debug("The power factor waits for the next boundary: %s", err)
            else:
                reading = replace(reading, power_factor=primed)
        return self._build(reading)

    def _build(self, reading: HvReading) -> HvData:
        assert self._energy is not None
        assert self._fixed is not None
        if reading.energy is not None:
            self._energy.offer(reading.energy.raw)
        fixed: FixedTimeEnergy | None = None
        previous = self.data.fixed_energy if self.data is not None else None
        if reading.fixed_time_energy is not None and self._fixed.offer(
            reading.fixed_time_energy.raw
        ):
            kwh = self._fixed.kwh
            if kwh is not None:
                fixed = FixedTimeEnergy(
                    timestamp=_as_aware(reading.fixed_time_energy.timestamp), kwh=kwh
                )
        else:
            fixed = previous
        reactive: float | None = None
        if self._reactive is not None:
            if reading.reactive is not None:
                self._reactive.offer(reading.reactive.raw)
            reactive = self._reactive.kwh
        demand: TimedReading | None = None
        if reading.demand is not None and reading.demand.value is not None:
            demand = TimedReading(
                timestamp=_as_aware(reading.demand.timestamp), value=float(reading.demand.value)
            )
        pf = reading.power_factor.power_factor if reading.power_factor is not None else None
        return HvData(
            energy=self._energy.kwh,
            fixed_energy=fixed,
            demand=demand,
            monthly_max_demand=_float(reading.monthly_max_demand_kw),
            cumulative_max_demand=_float(reading.cumulative_max_demand_kw),
            reactive_energy=reactive,
            power_factor=None if pf is None else round(pf * 100, 1),
            fault=reading.fault,
        )

    def diagnostics(self) -> dict[str, Any]:
        """Redacted facts about the link and the requests (no address)."""
        return {**self.link.diagnostics(), "requests": self.client.stats.as_dict()}

    async def _close(self) -> None:
        await self.link.close()
        await self.client.aclose()

    @override
    async def async_shutdown(self) -> None:
        """Close the link when the entry unloads or Home Assistant stops."""
        await super().async_shutdown()
        self.availability.stop()
        await self._close()


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
