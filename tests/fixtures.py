"""Fixtures shared by every test that runs the integration against the simulator.

Registered for the whole suite by ``tests/conftest.py``: a simulator factory (socket on
127.0.0.1 or a pty), the config entry the config flow would store for it, the fixed
meter clock and the compressed connection timings.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_DEVICE
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.broute_meter import coordinator as coordinator_module
from custom_components.broute_meter.broute import ConnectionTiming, PanDescriptor
from custom_components.broute_meter.const import (
    CONF_FIRMWARE,
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

# A fixed meter time keeps the simulator's ground truth still while a test compares.
METER_TIME = datetime(2026, 11, 20, 12, 10, 0, tzinfo=JST)

type SimFactory = Callable[..., Awaitable[Simulator]]


@pytest.fixture
def connection_timing(monkeypatch: pytest.MonkeyPatch) -> ConnectionTiming:
    """Connections opened by the integration use compressed timings (tests may replace them)."""
    timing = ConnectionTiming.fast()
    monkeypatch.setattr(coordinator_module, "CONNECTION_TIMING", timing)
    return timing


def short_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests that fail fast: the poll that meets an outage or a refusal is quick."""
    monkeypatch.setattr(
        coordinator_module,
        "CONNECTION_TIMING",
        ConnectionTiming.fast().evolve(request_timeout=0.2, command_timeout=0.3, retries=1),
    )


@pytest.fixture
async def make_simulator(socket_enabled: None) -> AsyncGenerator[SimFactory]:
    """Start simulators on 127.0.0.1 (or a pty); all are stopped at the end."""
    started: list[Simulator] = []

    async def start(
        *,
        model: DongleModel = DongleModel.BP35C2,
        pty: bool = False,
        clock: ManualClock | None = None,
        config: MeterConfig | None = None,
        rbid: str = TEST_RBID,
        password: str = TEST_PASSWORD,
        seed: int = 0,
        **meter: Any,
    ) -> Simulator:
        sim = Simulator(
            model=model,
            meter=config if config is not None else MeterConfig(**meter),
            rbid=rbid,
            password=password,
            timing=TimingModel.fast(),
            clock=clock if clock is not None else ManualClock(METER_TIME),
            seed=seed,
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


@pytest.fixture
async def unload_entries(hass: HomeAssistant, make_simulator: SimFactory) -> AsyncGenerator[None]:
    """Unload every entry before the simulators stop, so no connection outlives a test."""
    yield
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
            await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def ha_clock_follows(monkeypatch: pytest.MonkeyPatch, clock: ManualClock) -> None:
    """Home Assistant's time, as the integration reads it, is the simulated meter's.

    Without it the meter's fixed test time is days away from the real clock: the
    history job postpones itself and no 1-minute reading looks current.
    """
    monkeypatch.setattr(coordinator_module, "CLOCK", lambda: clock.now().astimezone(UTC))


def port_of(sim: Simulator) -> str:
    """The port URL or path the simulator listens on."""
    port = sim.url or sim.path
    assert port is not None
    return port


def entry_for(sim: Simulator, *, with_pan: bool = True, **options: Any) -> MockConfigEntry:
    """A config entry as the config flow would have stored it for this simulator."""
    cfg = sim.config
    data: dict[str, Any] = {
        CONF_DEVICE: port_of(sim),
        CONF_RBID: TEST_RBID,
        CONF_PASSWORD: TEST_PASSWORD,
    }
    if with_pan:
        pan = PanDescriptor(channel=cfg.channel, pan_id=cfg.pan_id, mac=cfg.mac, lqi=cfg.lqi)
        data[CONF_PAN] = pan.as_dict()
    if sim.model.j11:
        # As detected by the config flow; SKSTACK entries keep the pre-detection form
        # (no key), which must keep working.
        data[CONF_FIRMWARE] = "j11"
    return MockConfigEntry(
        domain=DOMAIN,
        title="Simulated meter",
        unique_id=cfg.mac.lower(),
        data=data,
        options={CONF_SCAN_INTERVAL: 10, **options},
    )
