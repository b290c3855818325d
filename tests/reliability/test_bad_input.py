"""Bad input and hostile surroundings: ports that fail, foreign meters, odd meters.

The config flow's own form checks live in ``tests/integration/test_config_flow.py``;
here are the paths around it: the library refusing credentials that could inject
dongle commands, a set-up entry whose port is missing, locked or refusing (it must
retry quietly and come back by itself), and meters that are not quite what we expect.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import fcntl
import logging
import os
import socket
from typing import TYPE_CHECKING

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE, STATE_UNAVAILABLE
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.broute_meter.broute import ConnectionTiming, MeterConnection
from custom_components.broute_meter.broute.echonet import LV_METER_EOJ
from custom_components.broute_meter.broute.errors import (
    MeterNotFoundError,
    PropertyNotAvailableError,
)
from custom_components.broute_meter.const import CONF_PAN, CONF_PASSWORD, CONF_RBID, DOMAIN
from simulator import TEST_PASSWORD, TEST_RBID, DongleModel

from ..helpers import finish_probe, poll_until_reauth
from .conftest import SimFactory, entry_for, port_of

if TYPE_CHECKING:
    from homeassistant.core import HomeAssistant

pytestmark = pytest.mark.usefixtures("integration", "session_timing", "unload_entries")

POWER = "sensor.simulated_meter_power"
IMPORT = "sensor.simulated_meter_energy_import"
EXPORT = "sensor.simulated_meter_energy_export"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- credentials that must never reach a dongle --------------------------------------


@pytest.mark.parametrize(
    ("rbid", "password"),
    [
        (TEST_RBID, "0123\r\nSKTERM"),  # CR/LF would end SKSETPWD and start SKTERM
        (TEST_RBID, "01234\n6789AB"),
        (TEST_RBID, "0123\t56789AB"),
        (TEST_RBID, "0123456789AＢ"),  # a full-width letter
        ("０" + TEST_RBID[1:], TEST_PASSWORD),  # full-width digits pass str.isalnum()
        (TEST_RBID[:20] + "\r\n" + TEST_RBID[22:], TEST_PASSWORD),
        (TEST_RBID[:-1], TEST_PASSWORD),
        (TEST_RBID, ""),
    ],
)
async def test_library_refuses_unsafe_credentials(
    make_simulator: SimFactory, rbid: str, password: str
) -> None:
    """The library itself (used without the config flow) refuses them up front.

    A line end inside a credential would split the dongle command in two; non-ASCII
    cannot be sent at all. Nothing is opened, so the dongle sees no command.
    """
    sim = await make_simulator()
    with pytest.raises(ValueError, match="B-route") as info:
        MeterConnection(port_of(sim), rbid, password, timing=ConnectionTiming.fast())
    assert sim.stats.connections == 0
    assert sum(sim.stats.commands.values()) == 0
    # The message names the field, never its value.
    for secret in (rbid.strip(), password.strip()):
        if len(secret) >= 4:
            assert secret not in str(info.value)


# --- a set-up entry whose port fails ---------------------------------------------------


async def _retry_a_few_times(hass: HomeAssistant, entry: MockConfigEntry, times: int) -> None:
    """Let the retry timer fire ``times`` times, each attempt run to its end."""
    for _ in range(times):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=700))
        await hass.async_block_till_done()
        for _ in range(200):
            await asyncio.sleep(0.02)
            await hass.async_block_till_done()
            if entry.state is not ConfigEntryState.SETUP_IN_PROGRESS:
                break


@pytest.mark.parametrize("cause", ["missing", "locked", "refused"])
async def test_entry_retries_quietly_and_comes_back(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    caplog: pytest.LogCaptureFixture,
    cause: str,
) -> None:
    """Missing, locked and refusing ports: distinct reasons, quiet retries, then LOADED."""
    caplog.set_level(logging.DEBUG)
    lock_fd: int | None = None
    if cause == "refused":
        port = free_port()
        entry_device = f"socket://127.0.0.1:{port}"
        sim = None
    else:
        sim = await make_simulator(pty=True)
        entry_device = port_of(sim)
        if cause == "missing":
            entry_device = entry_device + "-unplugged"
        else:
            # Another program holds the dongle with the same advisory lock serialx takes.
            lock_fd = os.open(entry_device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    template = sim if sim is not None else await make_simulator()
    entry = entry_for(template)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_DEVICE: entry_device})
    try:
        assert not await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.SETUP_RETRY
        first = [
            r
            for r in caplog.records
            if r.name.startswith("custom_components.broute_meter") and r.levelno >= logging.INFO
        ]
        assert first == [], [r.getMessage() for r in first]
        caplog.clear()
        expected = {"missing": "port_not_found", "locked": "port_busy", "refused": "cannot_connect"}
        assert entry.error_reason_translation_key == expected[cause]
        await _retry_a_few_times(hass, entry, 4)
        assert entry.state is ConfigEntryState.SETUP_RETRY
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]
    # Home Assistant notes each retry once (INFO, on our logger), with a growing delay
    # and the cause in words; nothing else of ours is logged above DEBUG.
    retries = [r for r in caplog.records if "Retrying in" in r.getMessage()]
    assert 2 <= len(retries) <= 6
    reason = {
        "missing": "does not exist",
        "locked": "in use by another program",
        "refused": "connect",
    }[cause]
    assert all(reason in r.getMessage() for r in retries)
    ours = [
        r
        for r in caplog.records
        if r.name.startswith("custom_components.broute_meter")
        and r.levelno >= logging.INFO
        and r not in retries
    ]
    assert ours == [], [r.getMessage() for r in ours]

    # The cause goes away; the next retry loads the entry.
    if cause == "refused":
        sim = await make_simulator()
        await sim.stop()
        await sim.start_socket(port=port)
    elif cause == "missing":
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_DEVICE: port_of(template)}
        )
    await _retry_a_few_times(hass, entry, 1)
    for _ in range(100):
        if entry.state is ConfigEntryState.LOADED:
            break
        await asyncio.sleep(0.02)
        await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert sim is not None
    assert int(hass.states.get(POWER).state) == sim.meter.power_w()  # type: ignore[union-attr]


# --- meters that are not ours, or not quite standard ---------------------------------


async def test_foreign_meter_is_never_joined(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A meter answering for another PairID: not found, and never sent our credentials."""
    sim = await make_simulator()
    sim.pans.clear()  # our meter is out of reach...
    sim.faults.second_meter(pair_id="99887766", same_channel=True)  # ...a neighbour's is not
    session = MeterConnection(
        port_of(sim), TEST_RBID, TEST_PASSWORD, timing=ConnectionTiming.fast()
    )
    with pytest.raises(MeterNotFoundError):
        await session.connect()
    await session.close()
    assert sim.stats.scans >= 1
    assert sim.stats.joins == 0


async def test_second_meter_on_the_same_channel(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A neighbour's meter with a stronger beacon on our channel: ours is picked and stored."""
    sim = await make_simulator()
    neighbour = sim.faults.second_meter(pair_id="99887766", same_channel=True, lqi=0xFF)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "wisun"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_DEVICE: port_of(sim), CONF_RBID: TEST_RBID, CONF_PASSWORD: TEST_PASSWORD},
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.unique_id == sim.config.mac.lower()
    assert entry.data[CONF_PAN]["mac"].upper() == sim.config.mac
    assert entry.data[CONF_PAN]["pan_id"] == sim.config.pan_id
    assert neighbour.mac != sim.config.mac
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    # One join, the probe's, which the entry carries on over: never the neighbour's.
    assert sim.stats.joins == 1


async def test_unsupported_properties(make_simulator: SimFactory) -> None:
    """Get of an EPC the meter lacks yields the rest; Set of a read-only one is refused."""
    sim = await make_simulator(reverse_metering=False)
    session = MeterConnection(
        port_of(sim), TEST_RBID, TEST_PASSWORD, timing=ConnectionTiming.fast()
    )
    try:
        await session.connect()
        # E3 (reverse energy) is absent on this meter, C0 on every simulated one.
        values = await session.client.get(LV_METER_EOJ, (0xE7, 0xE3, 0xC0))
        assert set(values) == {0xE7}
        assert int.from_bytes(values[0xE7], "big", signed=True) == sim.meter.power_w()
        with pytest.raises(PropertyNotAvailableError):
            await session.client.set(LV_METER_EOJ, 0xE7, b"\x00\x00\x00\x00")
        # The session is still fine afterwards.
        assert 0xE0 in await session.client.get(LV_METER_EOJ, (0xE0,))
    finally:
        await session.close()


async def test_meter_without_reverse_metering(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """No export entities; the half-hour push without EB still moves the import on."""
    sim = await make_simulator(reverse_metering=False, model=DongleModel.BP35A1)
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(EXPORT) is None
    before = hass.states.get(IMPORT)
    assert before is not None
    assert before.state != STATE_UNAVAILABLE
    sim.meter.clock.advance(30 * 60)  # type: ignore[attr-defined]
    for _ in range(100):
        await asyncio.sleep(0.01)
        await hass.async_block_till_done()
        state = hass.states.get(IMPORT)
        if state is not None and state.state != before.state:
            break
    boundary = sim.meter.latest_boundary()
    raw = sim.meter.slot_raw("forward", boundary)
    assert raw is not None
    state = hass.states.get(IMPORT)
    assert state is not None
    assert float(state.state) == pytest.approx(float(raw * sim.meter.kwh_per_raw))
    assert entry.state is ConfigEntryState.LOADED


async def test_reissued_id_asks_for_new_credentials(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """The utility reissued the ID: our meter beacons another PairID. That is a reauth,
    not "meter not found" (which would send the user moving the dongle around)."""
    new_rbid = "FFEEDDCCBBAA99887766554433229876"
    sim = await make_simulator()
    entry = entry_for(sim)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    sim.rbid = new_rbid
    sim.pans[0].pair_id = new_rbid[-8:]
    sim.faults.end_session()
    flows = await poll_until_reauth(hass, entry, rounds=60)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"])
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_RBID: new_rbid, CONF_PASSWORD: TEST_PASSWORD}
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_RBID] == new_rbid
    assert entry.state is ConfigEntryState.LOADED
