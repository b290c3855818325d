"""Base entity: one device per meter, values from the coordinator."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.components.sensor import SensorEntityDescription
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .broute.makers import maker_name
from .const import DOMAIN, MODEL_HV_METER, MODEL_LV_METER
from .coordinator import BRouteCoordinator
from .coordinator_network import HvCoordinator

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from homeassistant.helpers.entity import EntityDescription


@dataclass(frozen=True, kw_only=True)
class MeterSensorDescription[DataT, InfoT](SensorEntityDescription):
    """How one sensor reads the coordinator's snapshot, and whether this meter has it."""

    value_fn: Callable[[DataT], float | int | datetime | None]
    exists_fn: Callable[[InfoT], bool] = lambda _: True


class MeterEntity[CoordinatorT: BRouteCoordinator | HvCoordinator](CoordinatorEntity[CoordinatorT]):
    """An entity of the meter behind one config entry (low- or high-voltage)."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: CoordinatorT, description: EntityDescription) -> None:
        """Attach the entity to the meter's device, identified by the entry's unique ID."""
        super().__init__(coordinator)
        self.entity_description = description
        unique_id = coordinator.config_entry.unique_id
        assert unique_id is not None  # set by the config flow, always
        self._attr_unique_id = f"{unique_id}_{description.key}"
        self._attr_device_info = _device_info(coordinator, unique_id)


def _device_info(coordinator: BRouteCoordinator | HvCoordinator, unique_id: str) -> DeviceInfo:
    if isinstance(coordinator, HvCoordinator):
        hv = coordinator.meter_info
        maker = maker_name(hv.maker_code) if hv and hv.maker_code is not None else None
        hv_release = hv.release if hv else None
        return DeviceInfo(
            identifiers={(DOMAIN, unique_id)},
            manufacturer=maker,
            model=MODEL_HV_METER,
            serial_number=hv.serial if hv else None,
            hw_version=f"ECHONET Lite Appendix Release {hv_release}" if hv_release else None,
        )
    info = coordinator.meter_info
    release = info.release if info else None
    return DeviceInfo(
        identifiers={(DOMAIN, unique_id)},
        manufacturer=info.manufacturer if info else None,
        model=MODEL_LV_METER,
        serial_number=info.serial_number if info else None,
        # The ECHONET Lite Appendix release the meter implements: its software's
        # protocol version, not a hardware revision.
        sw_version=f"ECHONET Lite Release {release}" if release else None,
    )


class MeterValueEntity[CoordinatorT: BRouteCoordinator | HvCoordinator](MeterEntity[CoordinatorT]):
    """An entity whose state is its description's ``value_fn`` of the snapshot."""

    entity_description: MeterSensorDescription[Any, Any]

    @property
    def native_value(self) -> float | int | datetime | None:
        """The current value."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    def available(self) -> bool:
        """Available while the meter answers and the value is known."""
        return super().available and self.native_value is not None
