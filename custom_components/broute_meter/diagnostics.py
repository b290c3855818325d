"""Diagnostics: what the meter and the link look like, without secrets."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any, cast

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_DEVICE

from .const import (
    CONF_ADDRESS,
    CONF_IDENTIFICATION,
    CONF_IDENTITY,
    CONF_INTERFACE,
    CONF_METER_FINGERPRINT,
    CONF_METER_KEY,
    CONF_PASSWORD,
    CONF_RBID,
    CONF_USB_SERIAL,
)
from .coordinator_network import is_high_voltage

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

    from .coordinator import BRouteConfigEntry
    from .coordinator_network import HvConfigEntry

# The credentials, and everything that identifies the household's meter: its MAC
# (also the entry's unique ID and inside the PAN descriptor), its IPv6 address, the
# pairing ID (the tail of the B-route ID) and its serial number; and the port, whose
# /dev/serial/by-id/ path holds the dongle's USB serial and a socket:// URL a host.
TO_REDACT = {
    CONF_DEVICE,
    CONF_RBID,
    CONF_PASSWORD,
    CONF_USB_SERIAL,
    CONF_METER_KEY,
    CONF_METER_FINGERPRINT,
    "unique_id",
    "mac",
    "ipv6",
    "pair_id",
    "serial_number",
    "title",
    # A meter on the network: its address, interface and identification number.
    CONF_ADDRESS,
    CONF_INTERFACE,
    CONF_IDENTIFICATION,
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BRouteConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    if is_high_voltage(entry.data):
        return _hv_diagnostics(cast("HvConfigEntry", entry))
    coordinator = entry.runtime_data.coordinator
    connection = coordinator.connection
    history = entry.runtime_data.history
    data = coordinator.data
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "unique_id": entry.unique_id,
                # The stored identity is the "meter" section below, redacted there.
                "data": {k: v for k, v in entry.data.items() if k != CONF_IDENTITY},
                "options": dict(entry.options),
            },
            "meter": coordinator.meter_info.as_dict() if coordinator.meter_info else None,
            "route_b_id": dict(coordinator.route_b_id_facts),
            "scale": {
                "coefficient": coordinator.scale.coefficient,
                "unit_kwh": str(coordinator.scale.unit),
                "digits": coordinator.scale.digits,
            }
            if coordinator.scale
            else None,
            "link": connection.diagnostics(),
            "coordinator": _coordinator_facts(coordinator),
            "data": _jsonable(asdict(data)) if data is not None else None,
            "history": history.status.as_dict() if history is not None else None,
        },
        TO_REDACT,
    )


def _hv_diagnostics(entry: HvConfigEntry) -> dict[str, Any]:
    """A high-voltage meter: identity facts (billing day, scales), link, last snapshot."""
    coordinator = entry.runtime_data.coordinator
    data = coordinator.data
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "meter": coordinator.meter_info.diagnostics() if coordinator.meter_info else None,
            "link": coordinator.diagnostics(),
            "coordinator": _coordinator_facts(coordinator),
            "data": _jsonable(asdict(data)) if data is not None else None,
        },
        TO_REDACT,
    )


def _coordinator_facts(coordinator: DataUpdateCoordinator[Any]) -> dict[str, Any]:
    """How the polls go: the last outcome and the interval."""
    return {
        "last_update_success": coordinator.last_update_success,
        "last_exception": repr(coordinator.last_exception) if coordinator.last_exception else None,
        "update_interval": str(coordinator.update_interval),
    }


def _jsonable(value: Any) -> Any:
    """Datetimes as ISO strings, the rest as is."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
