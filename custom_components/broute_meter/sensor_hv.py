"""Sensors of a high-voltage meter (behind the utility's B-route terminal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfPower

from .broute.meters.high_voltage import HvIdentity
from .coordinator_network import HvCoordinator, HvData
from .entity import MeterSensorDescription, MeterValueEntity

if TYPE_CHECKING:
    from .coordinator_network import HvConfigEntry

# Kilo-volt-ampere-reactive hours; HA's REACTIVE_ENERGY device class takes varh/kvarh.
KVARH = "kvarh"


@dataclass(frozen=True, kw_only=True)
class HvSensorEntityDescription(MeterSensorDescription[HvData, HvIdentity]):
    """How one sensor reads a high-voltage meter's snapshot, and whether the meter has it."""


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


def hv_sensors(entry: HvConfigEntry) -> list[SensorEntity]:
    """The value sensors this high-voltage meter supports."""
    coordinator = entry.runtime_data.coordinator
    info = coordinator.meter_info
    assert info is not None  # read in the coordinator's setup
    return [
        HvSensor(coordinator, description)
        for description in HV_SENSORS
        if description.exists_fn(info)
    ]


class HvSensor(MeterValueEntity[HvCoordinator], SensorEntity):
    """A value of a high-voltage meter."""

    entity_description: HvSensorEntityDescription
