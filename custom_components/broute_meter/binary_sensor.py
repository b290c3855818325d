"""Binary sensor: the meter's own fault status (low- and high-voltage meters)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from homeassistant.components.binary_sensor import (
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory

from .coordinator import BRouteCoordinator
from .coordinator_network import HvCoordinator, is_high_voltage
from .entity import MeterEntity

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

    from .coordinator import BRouteConfigEntry
    from .coordinator_network import HvConfigEntry

PARALLEL_UPDATES = 0

FAULT = BinarySensorEntityDescription(
    key="fault",
    translation_key="fault",
    device_class=BinarySensorDeviceClass.PROBLEM,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BRouteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Create the fault sensor."""
    if is_high_voltage(entry.data):
        hv = cast("HvConfigEntry", entry).runtime_data.coordinator
        assert hv.meter_info is not None  # read in the coordinator's setup
        if hv.meter_info.has_fault_status:
            async_add_entities([FaultSensor(hv, FAULT)])
        return
    async_add_entities([FaultSensor(entry.runtime_data.coordinator, FAULT)])


class FaultSensor[CoordinatorT: BRouteCoordinator | HvCoordinator](
    MeterEntity[CoordinatorT], BinarySensorEntity
):
    """On when the meter reports a fault."""

    @property
    def is_on(self) -> bool | None:
        """Whether the meter reports a fault."""
        return self.coordinator.data.fault

    @property
    def available(self) -> bool:
        """Available while the meter answers and reports its status."""
        return super().available and self.coordinator.data.fault is not None
