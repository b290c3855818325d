"""Sensors: power, currents, energy registers and link quality."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
    EntityCategory,
    UnitOfElectricCurrent,
    UnitOfEnergy,
    UnitOfPower,
)

from .coordinator import BRouteCoordinator, MeterData, MeterInfo
from .coordinator_network import HvCoordinator, is_high_voltage
from .entity import MeterEntity, MeterSensorDescription, MeterValueEntity
from .network_flow import is_network_entry
from .sensor_hv import hv_sensors

if TYPE_CHECKING:
    from datetime import datetime

    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import BRouteConfigEntry
    from .coordinator_network import HvConfigEntry
    from .history import HistoryImporter

# Every value comes from the coordinator; entities never talk to the meter.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class BRouteSensorEntityDescription(MeterSensorDescription[MeterData, MeterInfo]):
    """How one sensor reads a low-voltage meter's snapshot, and whether the meter has it."""

    #: A property of the Wi-SUN radio path: no such entity for a meter on the network.
    radio: bool = False


SENSORS: tuple[BRouteSensorEntityDescription, ...] = (
    BRouteSensorEntityDescription(
        key="power",
        translation_key="power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        value_fn=lambda data: data.power,
    ),
    BRouteSensorEntityDescription(
        key="current_r",
        translation_key="current_r",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        value_fn=lambda data: data.current_r,
    ),
    BRouteSensorEntityDescription(
        key="current_t",
        translation_key="current_t",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        value_fn=lambda data: data.current_t,
        # Single-phase two-wire meters have no T phase.
        exists_fn=lambda info: not info.single_phase,
    ),
    BRouteSensorEntityDescription(
        key="energy_import",
        translation_key="energy_import",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        value_fn=lambda data: data.energy_import,
    ),
    BRouteSensorEntityDescription(
        key="energy_export",
        translation_key="energy_export",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        value_fn=lambda data: data.energy_export,
        exists_fn=lambda info: info.reverse_metering,
    ),
    # The meter's minute the energy entities show (Release R 1-minute readings): a
    # diagnostic sensor, not an attribute of the energy entities, so the energy
    # states keep one shared attribute row in the recorder.
    BRouteSensorEntityDescription(
        key="energy_reading_time",
        translation_key="energy_reading_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.energy_time,
        exists_fn=lambda info: info.one_minute,
    ),
    BRouteSensorEntityDescription(
        key="fixed_time_energy_import",
        translation_key="fixed_time_energy_import",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        value_fn=lambda data: data.fixed_import.kwh if data.fixed_import else None,
    ),
    BRouteSensorEntityDescription(
        key="fixed_time_energy_import_time",
        translation_key="fixed_time_energy_import_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.fixed_import.timestamp if data.fixed_import else None,
    ),
    BRouteSensorEntityDescription(
        key="fixed_time_energy_export",
        translation_key="fixed_time_energy_export",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        value_fn=lambda data: data.fixed_export.kwh if data.fixed_export else None,
        exists_fn=lambda info: info.reverse_metering,
    ),
    BRouteSensorEntityDescription(
        key="fixed_time_energy_export_time",
        translation_key="fixed_time_energy_export_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.fixed_export.timestamp if data.fixed_export else None,
        exists_fn=lambda info: info.reverse_metering,
    ),
    BRouteSensorEntityDescription(
        key="rssi",
        translation_key="rssi",
        radio=True,
        device_class=SensorDeviceClass.SIGNAL_STRENGTH,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=SIGNAL_STRENGTH_DECIBELS_MILLIWATT,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda data: data.rssi,
    ),
    BRouteSensorEntityDescription(
        key="channel",
        translation_key="channel",
        radio=True,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=lambda data: data.channel,
    ),
)


# How far the hourly long-term statistics reach: the history job's progress. Disabled
# by default: a timestamp has no unit, so each top-up (every day read during a
# backfill) would be an entry in the Activity panel; diagnostics show it too.
HISTORY_SENSOR = SensorEntityDescription(
    key="history_imported_until",
    translation_key="history_imported_until",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BRouteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the sensors this meter supports."""
    if is_high_voltage(entry.data):
        hv_entry = cast("HvConfigEntry", entry)
        hv_entities = hv_sensors(hv_entry)
        if hv_entry.runtime_data.history is not None:
            hv_entities.append(
                HistorySensor(hv_entry.runtime_data.coordinator, hv_entry.runtime_data.history)
            )
        async_add_entities(hv_entities)
        return
    coordinator = entry.runtime_data.coordinator
    info = coordinator.meter_info
    assert info is not None  # read in the coordinator's setup
    on_network = is_network_entry(entry.data)
    entities: list[SensorEntity] = [
        BRouteSensor(coordinator, description)
        for description in SENSORS
        if description.exists_fn(info) and not (on_network and description.radio)
    ]
    if entry.runtime_data.history is not None:
        entities.append(HistorySensor(coordinator, entry.runtime_data.history))
    async_add_entities(entities)


class BRouteSensor(MeterValueEntity[BRouteCoordinator], RestoreSensor):
    """A value of the meter; its last state is kept so a restart can seed the energy guard."""

    entity_description: BRouteSensorEntityDescription


class HistorySensor[CoordinatorT: BRouteCoordinator | HvCoordinator](
    MeterEntity[CoordinatorT], SensorEntity
):
    """End of the newest hour in the long-term statistics (history job progress)."""

    def __init__(self, coordinator: CoordinatorT, history: HistoryImporter) -> None:
        """Follow the history job rather than the polls."""
        super().__init__(coordinator, HISTORY_SENSOR)
        self._history = history

    async def async_added_to_hass(self) -> None:
        """Write the state whenever the history job makes progress."""
        await super().async_added_to_hass()
        self.async_on_remove(self._history.async_add_listener(self.async_write_ha_state))

    @property
    def native_value(self) -> datetime | None:
        """The end of the newest imported hour."""
        return self._history.status.imported_until

    @property
    def available(self) -> bool:
        """Imported statistics stay valid while the radio is down."""
        return self.native_value is not None
