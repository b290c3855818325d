"""Diagnostics: what the meter and the session look like, without secrets."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import async_redact_data

from .const import CONF_PAN, CONF_PASSWORD, CONF_RBID, CONF_USB_SERIAL

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

    from .coordinator import BRouteConfigEntry

# The credentials, and everything that identifies the household's meter: its MAC
# (also the entry's unique ID and inside the PAN descriptor), its IPv6 address, the
# pairing ID (the tail of the B-route ID) and its serial number.
TO_REDACT = {
    CONF_RBID,
    CONF_PASSWORD,
    CONF_USB_SERIAL,
    "unique_id",
    "mac",
    "ipv6",
    "pair_id",
    "serial_number",
    "title",
}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BRouteConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    coordinator = entry.runtime_data.coordinator
    session = coordinator.session
    history = entry.runtime_data.history
    data = coordinator.data
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "unique_id": entry.unique_id,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "meter": coordinator.meter_info.as_dict() if coordinator.meter_info else None,
            "scale": {
                "coefficient": coordinator.scale.coefficient,
                "unit_kwh": str(coordinator.scale.unit),
                "digits": coordinator.scale.digits,
            }
            if coordinator.scale
            else None,
            "session": {
                "dialect": str(session.dialect) if session.dialect is not None else None,
                "dongle_version": session.dongle_version,
                "connected": session.connected,
                "lqi": session.lqi,
                CONF_PAN: session.pan.as_dict() if session.pan else None,
                "stats": session.stats.as_dict(),
                "last_error": repr(session.last_error) if session.last_error else None,
            },
            "coordinator": {
                "last_update_success": coordinator.last_update_success,
                "last_exception": repr(coordinator.last_exception)
                if coordinator.last_exception
                else None,
                "update_interval": str(coordinator.update_interval),
            },
            "data": _jsonable(asdict(data)) if data is not None else None,
            "history": history.status.as_dict() if history is not None else None,
        },
        TO_REDACT,
    )


def _jsonable(value: Any) -> Any:
    """Datetimes as ISO strings, the rest as is."""
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
