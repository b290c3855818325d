"""Base entity: one device per meter, values from the coordinator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MODEL_LV_METER
from .coordinator import BRouteCoordinator

if TYPE_CHECKING:
    from homeassistant.helpers.entity import EntityDescription


class BRouteEntity(CoordinatorEntity[BRouteCoordinator]):
    """An entity of the meter behind one config entry."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: BRouteCoordinator, description: EntityDescription) -> None:
        """Attach the entity to the meter's device, identified by its MAC."""
        super().__init__(coordinator)
        self.entity_description = description
        unique_id = coordinator.config_entry.unique_id
        assert unique_id is not None  # set by the config flow, always
        self._attr_unique_id = f"{unique_id}_{description.key}"
        info = coordinator.meter_info
        release = info.release if info else None
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, unique_id)},
            manufacturer=info.manufacturer if info else None,
            model=MODEL_LV_METER,
            serial_number=info.serial_number if info else None,
            # The ECHONET Lite Appendix release the meter implements: its software's
            # protocol version, not a hardware revision.
            sw_version=f"ECHONET Lite Release {release}" if release else None,
        )
