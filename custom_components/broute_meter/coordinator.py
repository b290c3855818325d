"""The coordinator: one B-route session per config entry, polled and pushed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_DEVICE
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .broute.echonet import (
    EPC,
    EnergyScale,
    FixedTimeReading,
    Frame,
    decode_coefficient,
    decode_cumulative,
    decode_digits,
    decode_fault,
    decode_fixed_time,
    decode_instantaneous_current,
    decode_instantaneous_power,
    decode_maker_code,
    decode_property_map,
    decode_release,
    decode_serial,
    decode_unit,
)
from .broute.errors import (
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
    SessionUnavailableError,
    TransmitLimitError,
)
from .broute.makers import maker_name
from .broute.session import MeterSession, PanDescriptor, SessionTiming, lqi_to_rssi
from .const import (
    CONF_PAN,
    CONF_PASSWORD,
    CONF_RBID,
    CONF_SCAN_INTERVAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    FIXED_TIME_MAX_AGE,
    ISSUE_METER_NOT_FOUND,
    LOGGER,
    METER_NOT_FOUND_GRACE,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from .history import HistoryImporter

type BRouteConfigEntry = ConfigEntry[BRouteRuntimeData]

# Failures on the radio side (the meter cannot be reached or will not talk). When they
# last, the utilities' own checklist applies, which the repair issue carries.
_UNREACHABLE_ERRORS: Final = (
    MeterNotFoundError,
    JoinError,
    MeterTimeoutError,
    SessionUnavailableError,
)

# Japan has no daylight saving time: a fixed offset is exact and needs no tz database.
JST: Final = timezone(timedelta(hours=9), "JST")

# When the meter first became unreachable, per entry. Kept outside the coordinator
# because a failing setup is retried with a fresh coordinator.
_UNREACHABLE_SINCE: HassKey[dict[str, datetime]] = HassKey(f"{DOMAIN}_unreachable_since")


# Timing of every session this integration opens; None = the library's real-world
# defaults. Tests swap in compressed timings here.
SESSION_TIMING: SessionTiming | None = None


def create_session(
    device: str,
    rbid: str,
    password: str,
    *,
    pan: PanDescriptor | None = None,
    on_notification: Callable[[Frame], None] | None = None,
) -> MeterSession:
    """Create (not open) a session to the meter behind the dongle at ``device``."""
    return MeterSession(
        device,
        rbid,
        password,
        pan=pan,
        on_notification=on_notification,
        timing=SESSION_TIMING,
    )


def error_translation_key(err: BaseException) -> str:
    """Map a library error to the translation key of its user-facing message."""
    for cls, key in (
        (PortNotFoundError, "port_not_found"),
        (PortPermissionError, "port_permission"),
        (PortBusyError, "port_busy"),
        (PortConnectError, "cannot_connect"),
        (PortNotReadyError, "port_not_ready"),
        (DongleNotRespondingError, "dongle_not_responding"),
        (MeterNotFoundError, "meter_not_found"),
        (AuthenticationError, "invalid_auth"),
        (JoinError, "join_failed"),
        (MeterTimeoutError, "meter_timeout"),
        (SessionUnavailableError, "session_unavailable"),
        (TransmitLimitError, "transmit_limit"),
        (EchonetDecodeError, "decode_error"),
    ):
        if isinstance(err, cls):
            return key
    return "communication_error"


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterInfo:
    """What the meter says about itself; read once per session."""

    maker_code: int | None
    manufacturer: str | None
    serial_number: str | None
    release: str | None
    get_map: frozenset[int] | None
    single_phase: bool
    reverse_metering: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for diagnostics."""
        return {
            "maker_code": None if self.maker_code is None else f"{self.maker_code:06X}",
            "manufacturer": self.manufacturer,
            "serial_number": self.serial_number,
            "release": self.release,
            "get_map": None
            if self.get_map is None
            else [f"{epc:02X}" for epc in sorted(self.get_map)],
            "single_phase": self.single_phase,
            "reverse_metering": self.reverse_metering,
        }


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
    """Owns the meter session of one config entry and polls it."""

    config_entry: BRouteConfigEntry

    def __init__(self, hass: HomeAssistant, entry: BRouteConfigEntry) -> None:
        """Set up the coordinator; the session opens in _async_setup."""
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
        self.session = create_session(
            entry.data[CONF_DEVICE],
            entry.data[CONF_RBID],
            entry.data[CONF_PASSWORD],
            pan=PanDescriptor.from_dict(pan_data) if pan_data else None,
            on_notification=self._handle_notification,
        )
        self.scale: EnergyScale | None = None
        self.meter_info: MeterInfo | None = None
        self._import = CumulativeRegister(EnergyScale(), "forward energy")
        self._export = CumulativeRegister(EnergyScale(), "reverse energy")
        self._fixed_import = CumulativeRegister(EnergyScale(), "fixed-time forward")
        self._fixed_export = CumulativeRegister(EnergyScale(), "fixed-time reverse")
        self._fixed_times: dict[int, datetime] = {}
        self._fixed_seen: dict[int, datetime] = {}
        self._poll_epcs: tuple[int, ...] = ()
        # Release letter and phase layout still to be learnt from the first poll.
        self._identified = False

    # --- setup ----------------------------------------------------------------------

    @override
    async def _async_setup(self) -> None:
        """Join the meter and read what does not change."""
        try:
            await self.session.connect()
            # Six EPCs, one frame: the release letter and the phase layout come with
            # the first poll, so a restart shows values after the join + 2 round trips.
            values = await self.session.get(
                EPC.COEFFICIENT,
                EPC.UNIT,
                EPC.DIGITS,
                EPC.MAKER_CODE,
                EPC.SERIAL_NUMBER,
                EPC.GET_PROPERTY_MAP,
            )
        except AuthenticationError as err:
            await self.session.close()
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except PortNotReadyError as err:
            await self.session.close()
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN, translation_key="port_not_ready"
            ) from err
        except BRouteError as err:
            await self.session.close()
            self._note_failure(err)
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key=error_translation_key(err)
            ) from err
        except BaseException:
            await self.session.close()
            raise

        self._persist_pan()
        try:
            self._apply_static(values)
        except EchonetDecodeError as err:
            await self.session.close()
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="decode_error") from err

    def _apply_static(self, values: Mapping[int, bytes]) -> None:
        """Derive the scale, the device identity and what to poll."""
        # D3 is optional (1 when absent); E1 and D7 are mandatory, so a meter that
        # does not answer them gets the library's defaults rather than a failed setup.
        scale: dict[str, Any] = {}
        if EPC.COEFFICIENT in values:
            scale["coefficient"] = decode_coefficient(values[EPC.COEFFICIENT])
        if EPC.UNIT in values:
            scale["unit"] = decode_unit(values[EPC.UNIT])
        if EPC.DIGITS in values:
            scale["digits"] = decode_digits(values[EPC.DIGITS])
        self.scale = EnergyScale(**scale)
        for register in (self._import, self._export, self._fixed_import, self._fixed_export):
            register.scale = self.scale

        maker = decode_maker_code(values[EPC.MAKER_CODE]) if EPC.MAKER_CODE in values else None
        get_map = (
            frozenset(decode_property_map(values[EPC.GET_PROPERTY_MAP]))
            if EPC.GET_PROPERTY_MAP in values
            else None
        )
        self.meter_info = MeterInfo(
            maker_code=maker,
            # A maker missing from the table is still named by its ECHONET code.
            manufacturer=None
            if maker is None
            else maker_name(maker) or f"ECHONET maker 0x{maker:06X}",
            serial_number=(
                decode_serial(values[EPC.SERIAL_NUMBER]) if EPC.SERIAL_NUMBER in values else None
            )
            or None,
            release=None,
            get_map=get_map,
            single_phase=False,
            reverse_metering=get_map is not None and EPC.REVERSE_ENERGY in get_map,
        )
        wanted = [
            EPC.INSTANTANEOUS_POWER,
            EPC.INSTANTANEOUS_CURRENT,
            EPC.FORWARD_ENERGY,
            EPC.REVERSE_ENERGY,
            EPC.FAULT_STATUS,
        ]
        if get_map is None:
            # No map to go by: ask for the mandatory ones only.
            wanted.remove(EPC.REVERSE_ENERGY)
        else:
            wanted = [epc for epc in wanted if epc in get_map]
        self._poll_epcs = tuple(wanted)

    # --- polling --------------------------------------------------------------------

    @override
    async def _async_update_data(self) -> MeterData:
        """Read the live values in one request."""
        epcs = list(self._poll_epcs)
        if not self._identified:
            # First poll: the release letter fits in the same frame as the live values.
            # EA/EB wait for the next poll (or the meter's own half-hourly push), so the
            # first values need one round trip.
            if self._offers(EPC.RELEASE):
                epcs.append(EPC.RELEASE)
        else:
            epcs.extend(epc for epc in self._fixed_time_epcs() if self._fixed_time_stale(epc))
        try:
            values = await self.session.get(*epcs)
        except AuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except BRouteError as err:
            self._note_failure(err)
            raise UpdateFailed(
                translation_domain=DOMAIN, translation_key=error_translation_key(err)
            ) from err
        self._note_success()
        self._persist_pan()
        return self._build(values)

    def _offers(self, epc: int) -> bool:
        """Whether the meter's Get map lists ``epc`` (assumed when it has no map)."""
        get_map = self.meter_info.get_map if self.meter_info else None
        return get_map is None or epc in get_map

    def _fixed_time_epcs(self) -> list[int]:
        epcs = [EPC.FIXED_TIME_FORWARD_ENERGY]
        if self.meter_info is not None and self.meter_info.reverse_metering:
            epcs.append(EPC.FIXED_TIME_REVERSE_ENERGY)
        return [epc for epc in epcs if self._offers(epc)]

    def _learn_from_first_poll(self, values: Mapping[int, bytes]) -> None:
        """Complete the meter's identity with what the first poll brought."""
        if self.meter_info is None:
            return
        release = decode_release(values[EPC.RELEASE]) if EPC.RELEASE in values else None
        # Single-phase two-wire meters report "no data" for the T phase.
        single_phase = (
            EPC.INSTANTANEOUS_CURRENT in values
            and decode_instantaneous_current(values[EPC.INSTANTANEOUS_CURRENT])[1] is None
        )
        self.meter_info = replace(self.meter_info, release=release, single_phase=single_phase)
        self._identified = True

    def _fixed_time_stale(self, epc: int) -> bool:
        # Judged by when the reading arrived, not by the meter's own timestamp: a
        # meter clock that is off must not turn every poll into two requests.
        seen = self._fixed_seen.get(epc)
        return seen is None or dt_util.utcnow() - seen > FIXED_TIME_MAX_AGE

    def _build(self, values: Mapping[int, bytes]) -> MeterData:
        """Decode a Get answer into a new snapshot.

        Power and current describe this moment: left out of the answer (Get_SNA), they
        are unknown rather than the previous poll's. Registers keep their last value.
        """
        previous = self.data or MeterData()
        power: int | None = None
        current_r: float | None = None
        current_t: float | None = None
        fault = previous.fault
        try:
            if not self._identified:
                self._learn_from_first_poll(values)
            if EPC.INSTANTANEOUS_POWER in values:
                power = decode_instantaneous_power(values[EPC.INSTANTANEOUS_POWER])
            if EPC.INSTANTANEOUS_CURRENT in values:
                current_r, current_t = decode_instantaneous_current(
                    values[EPC.INSTANTANEOUS_CURRENT]
                )
            if EPC.FORWARD_ENERGY in values:
                self._import.offer(decode_cumulative(values[EPC.FORWARD_ENERGY]))
            if EPC.REVERSE_ENERGY in values:
                self._export.offer(decode_cumulative(values[EPC.REVERSE_ENERGY]))
            if EPC.FAULT_STATUS in values:
                fault = decode_fault(values[EPC.FAULT_STATUS])
        except EchonetDecodeError as err:
            raise UpdateFailed(translation_domain=DOMAIN, translation_key="decode_error") from err
        self._apply_fixed_time(values)
        pan = self.session.pan
        lqi = self.session.lqi
        return MeterData(
            power=power,
            current_r=current_r,
            current_t=current_t,
            energy_import=self._import.kwh,
            energy_export=self._export.kwh,
            fixed_import=self._fixed_energy(EPC.FIXED_TIME_FORWARD_ENERGY, self._fixed_import),
            fixed_export=self._fixed_energy(EPC.FIXED_TIME_REVERSE_ENERGY, self._fixed_export),
            fault=fault,
            rssi=lqi_to_rssi(lqi) if lqi is not None else None,
            channel=pan.channel if pan is not None else None,
            pan_id=pan.pan_id if pan is not None else None,
        )

    def _apply_fixed_time(self, values: Mapping[int, bytes]) -> None:
        """Take EA/EB readings; a newer one also advances the live register."""
        for epc, register, live in (
            (EPC.FIXED_TIME_FORWARD_ENERGY, self._fixed_import, self._import),
            (EPC.FIXED_TIME_REVERSE_ENERGY, self._fixed_export, self._export),
        ):
            if epc not in values:
                continue
            try:
                reading: FixedTimeReading = decode_fixed_time(values[epc])
            except EchonetDecodeError:
                LOGGER.debug("Ignoring a malformed fixed-time reading (EPC %02X)", epc)
                continue
            if reading.raw is None:
                continue
            self._fixed_seen[epc] = dt_util.utcnow()
            if not register.offer(reading.raw):
                continue
            self._fixed_times[epc] = _as_aware(reading.timestamp)
            if live.raw is None or reading.raw > live.raw:
                live.offer(reading.raw)

    def _fixed_energy(self, epc: int, register: CumulativeRegister) -> FixedTimeEnergy | None:
        kwh = register.kwh
        stamp = self._fixed_times.get(epc)
        if kwh is None or stamp is None:
            return None
        return FixedTimeEnergy(timestamp=stamp, kwh=kwh)

    @callback
    def _handle_notification(self, frame: Frame) -> None:
        """Take the meter's own 30-minute notification (INF of EA/EB)."""
        properties = frame.values()
        if self.data is None or self.meter_info is None:
            # Not set up yet: the first poll reads EA/EB itself.
            return
        if not {EPC.FIXED_TIME_FORWARD_ENERGY, EPC.FIXED_TIME_REVERSE_ENERGY} & properties.keys():
            return
        self._apply_fixed_time(properties)
        if not self.last_update_success:
            # Publishing now would mark the last poll's power and current valid again
            # although that poll failed; the next successful poll shows the readings.
            return
        self.async_set_updated_data(
            replace(
                self.data,
                energy_import=self._import.kwh,
                energy_export=self._export.kwh,
                fixed_import=self._fixed_energy(EPC.FIXED_TIME_FORWARD_ENERGY, self._fixed_import),
                fixed_export=self._fixed_energy(EPC.FIXED_TIME_REVERSE_ENERGY, self._fixed_export),
            )
        )

    # --- bookkeeping ----------------------------------------------------------------

    def _persist_pan(self) -> None:
        """Store a PAN the session found by rescanning, so a restart joins directly."""
        pan = self.session.pan
        if pan is None:
            return
        pan_dict = pan.as_dict()
        if self.config_entry.data.get(CONF_PAN) != pan_dict:
            self.hass.config_entries.async_update_entry(
                self.config_entry, data={**self.config_entry.data, CONF_PAN: pan_dict}
            )

    def _note_failure(self, err: BRouteError) -> None:
        """Raise the repair issue once the meter has been unreachable for a while."""
        if not isinstance(err, _UNREACHABLE_ERRORS):
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
        """Close the session when the entry unloads or Home Assistant stops."""
        await super().async_shutdown()
        await self.session.close()


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
