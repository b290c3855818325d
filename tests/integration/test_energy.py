"""The Energy dashboard accepts the meter as the grid connection."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.energy import data, validate
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry

IMPORT = "sensor.simulated_meter_energy_import"
EXPORT = "sensor.simulated_meter_energy_export"
POWER = "sensor.simulated_meter_power"


async def compile_statistics(hass: HomeAssistant) -> None:
    """Let the recorder compile the 5-minute statistics covering the states so far."""
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    do_adhoc_statistics(
        hass, start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
    )
    await async_wait_recording_done(hass)


async def validate_grid(hass: HomeAssistant, **stats: str | None) -> dict[str, object]:
    """Set the grid source of the Energy dashboard and run its validation."""
    assert await async_setup_component(hass, "energy", {})
    await compile_statistics(hass)
    manager = await data.async_get_manager(hass)
    await manager.async_update(
        {
            "energy_sources": [
                {
                    "type": "grid",
                    "stat_cost": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                    "stat_compensation": None,
                    "entity_energy_price_export": None,
                    "number_energy_price_export": None,
                    "cost_adjustment_day": 0,
                    **stats,
                }
            ]
        }
    )
    result = await validate.async_validate(hass)
    return result.as_dict()


async def test_grid_connection_validates(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """Forward energy as grid import, reverse as export, power as grid power: no issues."""
    result = await validate_grid(
        hass, stat_energy_from=IMPORT, stat_energy_to=EXPORT, stat_rate=POWER
    )
    assert result == {
        "energy_sources": [[]],
        "device_consumption": [],
        "device_consumption_water": [],
    }


async def test_a_wrong_sensor_is_flagged(
    hass: HomeAssistant, loaded_entry: MockConfigEntry
) -> None:
    """The check above can fail: power offered as grid import is reported."""
    result = await validate_grid(hass, stat_energy_from=POWER, stat_energy_to=None)
    assert result["energy_sources"] != [[]]
