"""Fixtures of the Home Assistant integration tests: a simulated dongle and meter.

The integration runs unchanged against the simulator, reached through serialx on
``socket://127.0.0.1:PORT`` (or a pty), so every test crosses the real byte protocol.
Only the timings are compressed: the simulator's and the session's.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension

from custom_components.broute_meter import coordinator as coordinator_module
from custom_components.broute_meter.broute import ConnectionTiming, PanDescriptor
from custom_components.broute_meter.const import (
    CONF_PAN,
    CONF_PASSWORD,
    CONF_RBID,
    CONF_SCAN_INTERVAL,
    DOMAIN,
)
from simulator import (
    JST,
    TEST_PASSWORD,
    TEST_RBID,
    DongleModel,
    ManualClock,
    MeterConfig,
    Simulator,
    TimingModel,
)

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant
    from syrupy.assertion import SnapshotAssertion
    from syrupy.location import PyTestLocation

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


# A fixed meter time keeps the simulator's ground truth still while a test compares.
METER_TIME = datetime(2026, 11, 20, 12, 10, 0, tzinfo=JST)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """Load this repository's integration; the recorder first (manifest dependency)."""


@pytest.fixture(autouse=True)
def fast_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions opened by the integration use compressed timings."""
    monkeypatch.setattr(coordinator_module, "CONNECTION_TIMING", ConnectionTiming.fast())


type SimFactory = Callable[..., Awaitable[Simulator]]


@pytest.fixture
async def make_simulator(socket_enabled: None) -> AsyncGenerator[SimFactory]:
    """Start simulators on 127.0.0.1 (or a pty); all are stopped at the end."""
    started: list[Simulator] = []

    async def start(
        *,
        model: DongleModel = DongleModel.BP35C2,
        pty: bool = False,
        clock: ManualClock | None = None,
        **meter: Any,
    ) -> Simulator:
        sim = Simulator(
            model=model,
            meter=MeterConfig(**meter),
            rbid=TEST_RBID,
            password=TEST_PASSWORD,
            timing=TimingModel.fast(),
            clock=clock if clock is not None else ManualClock(METER_TIME),
        )
        started.append(sim)
        if pty:
            await sim.start_pty()
        else:
            await sim.start_socket()
        return sim

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture(autouse=True)
async def unload_entries(hass: HomeAssistant, make_simulator: SimFactory) -> AsyncGenerator[None]:
    """Unload every entry before the simulators stop, so no session outlives a test."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def simulator(make_simulator: SimFactory) -> Simulator:
    """A BP35C2 with a three-wire meter that meters both directions."""
    return await make_simulator()


def port_of(sim: Simulator) -> str:
    """The port URL or path the simulator listens on."""
    port = sim.url or sim.path
    assert port is not None
    return port


def entry_for(sim: Simulator, **options: Any) -> MockConfigEntry:
    """A config entry as the config flow would have stored it for this simulator."""
    cfg = sim.config
    pan = PanDescriptor(channel=cfg.channel, pan_id=cfg.pan_id, mac=cfg.mac, lqi=cfg.lqi)
    return MockConfigEntry(
        domain=DOMAIN,
        title="Simulated meter",
        unique_id=cfg.mac.lower(),
        data={
            CONF_DEVICE: port_of(sim),
            CONF_RBID: TEST_RBID,
            CONF_PASSWORD: TEST_PASSWORD,
            CONF_PAN: pan.as_dict(),
        },
        options={CONF_SCAN_INTERVAL: 10, **options},
    )


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
