"""Sensors of a high-voltage meter (behind the utility's B-route terminal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfPower
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .broute.makers import maker_name
from .const import DOMAIN, MODEL_HV_METER
from .coordinator_network import HvCoordinator

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .broute.meters.high_voltage import HvIdentity
    from .coordinator_network import HvConfigEntry, HvData

# Kilo-volt-ampere-reactive hours; HA's REACTIVE_ENERGY device class takes varh/kvarh.
KVARH = "kvarh"


@dataclass(frozen=True, kw_only=True)
class HvSensorEntityDescription(SensorEntityDescription):
    """How one sensor reads the snapshot, and whether this meter has it."""

    value_fn: Callable[[HvData], float | datetime | None]
    exists_fn: Callable[[HvIdentity], bool] = lambda _: True


HV_SENSORS: tuple[HvSensorEntityDescription, ...] = (
    HvSensorEntityDescription(
        key="hv_energy",
        translation_key="hv_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        value_fn=lambda data: data.energy,
    ),
    HvSensorEntityDescription(
        key="hv_fixed_time_energy",
        translation_key="hv_fixed_time_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        value_fn=lambda data: data.fixed_energy.kwh if data.fixed_energy else None,
    ),
    HvSensorEntityDescription(
        key="hv_fixed_time_energy_time",
        translation_key="hv_fixed_time_energy_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.fixed_energy.timestamp if data.fixed_energy else None,
    ),
    HvSensorEntityDescription(
        key="hv_demand",
        translation_key="hv_demand",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        value_fn=lambda data: data.demand.value if data.demand else None,
    ),
    HvSensorEntityDescription(
        key="hv_demand_time",
        translation_key="hv_demand_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.demand.timestamp if data.demand else None,
    ),
    HvSensorEntityDescription(
        key="hv_monthly_max_demand",
        translation_key="hv_monthly_max_demand",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        value_fn=lambda data: data.monthly_max_demand,
    ),
    HvSensorEntityDescription(
        key="hv_cumulative_max_demand",
        translation_key="hv_cumulative_max_demand",
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.KILO_WATT,
        value_fn=lambda data: data.cumulative_max_demand,
        exists_fn=lambda info: info.has_cumulative_max_demand,
    ),
    HvSensorEntityDescription(
        key="hv_reactive_energy",
        translation_key="hv_reactive_energy",
        device_class=SensorDeviceClass.REACTIVE_ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=KVARH,
        value_fn=lambda data: data.reactive_energy,
        exists_fn=lambda info: info.has_reactive,
    ),
    HvSensorEntityDescription(
        key="hv_power_factor",
        translation_key="hv_power_factor",
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        value_fn=lambda data: data.power_factor,
        exists_fn=lambda info: info.has_reactive,
    ),
)


async def async_setup_hv_entry(
    entry: HvConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Create the sensors this high-voltage meter supports."""
    coordinator = entry.runtime_data.coordinator
    info = coordinator.meter_info
    assert info is not None  # read in the coordinator's setup
    async_add_entities(
        HvSensor(coordinator, description)
        for description in HV_SENSORS
        if description.exists_fn(info)
    )


class HvSensor(CoordinatorEntity[HvCoordinator], SensorEntity):
    """A value of a high-voltage meter."""

    _attr_has_entity_name = True
    entity_description: HvSensorEntityDescription

    def __init__(self, coordinator: HvCoordinator, description: HvSensorEntityDescription) -> None:
        """Attach the entity to the meter's device, identified by its identification number."""
        super().__init__(coordinator)
        self.entity_description = description
        unique_id = coordinator.config_entry.unique_id
        assert unique_id is not None  # set by the config flow, always
        self._attr_unique_id = f"{unique_id}_{description.key}"
        info = coordinator.meter_info
        maker = maker_name(info.maker_code) if info and info.maker_code is not None else None
        release = info.release if info else None
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, unique_id)},
            manufacturer=maker,
            model=MODEL_HV_METER,
            serial_number=info.serial if info else None,
            hw_version=f"ECHONET Lite Appendix Release {release}" if release else None,
        )

    @property
    def native_value(self) -> float | datetime | None:
        """The current value."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def available(self) -> bool:
        """Available while the meter answers and the value is known."""
        return super().available and self.native_value is not None
