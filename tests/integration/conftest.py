"""Fixtures of the Home Assistant integration tests: a simulated dongle and meter.

The integration runs unchanged against the simulator, reached through serialx on
``socket://127.0.0.1:PORT`` (or a pty), so every test crosses the real byte protocol.
Only the timings are compressed: the simulator's and the connection's. The simulator,
entry, clock and timing fixtures are the suite's shared ones (``tests/fixtures.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension

from tests.fixtures import METER_TIME, SimFactory, entry_for, port_of

__all__ = ["METER_TIME", "SimFactory", "entry_for", "port_of"]

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from pytest_homeassistant_custom_component.common import MockConfigEntry
    from syrupy.assertion import SnapshotAssertion
    from syrupy.location import PyTestLocation

    from custom_components.broute_meter.broute import ConnectionTiming
    from simulator import (
        Simulator,
    )

SNAPSHOTS = Path(__file__).parent.parent / "snapshots"


class _SnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's serializer, stored in tests/snapshots/."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOTS)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's serializer (states, registry entries)."""
    return snapshot.use_extension(_SnapshotExtension)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """Load this repository's integration; the recorder first (manifest dependency)."""


@pytest.fixture(autouse=True)
def fast_session(connection_timing: ConnectionTiming) -> None:
    """Connections opened by the integration use compressed timings."""


@pytest.fixture(autouse=True)
async def _unload_entries(auto_enable_custom_integrations: None, unload_entries: None) -> None:
    """Unload every entry before the simulators stop, so no connection outlives a test.

    After the recorder (which must exist before ``hass``): hence the first argument.
    """


@pytest.fixture
async def simulator(make_simulator: SimFactory) -> Simulator:
    """A BP35C2 with a three-wire meter that meters both directions."""
    return await make_simulator()


@pytest.fixture
async def loaded_entry(hass: HomeAssistant, simulator: Simulator) -> MockConfigEntry:
    """The default simulator's entry, set up and polled once more.

    The first poll carries only the live values; the second one also reads the
    fixed-time registers (EA/EB), so every entity has a value.
    """
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    return entry
