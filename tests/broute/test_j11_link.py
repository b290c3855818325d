"""MeterConnection over a ROHM J11 dongle: the Wi-SUN link's ladder on the J11 driver.

Real J11 frames through the simulator's BP35C2-J11 on a pty and on socket://.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import pytest

from custom_components.broute_meter.broute import LinkState, MeterConnection
from custom_components.broute_meter.broute.echonet import (
    decode_instantaneous_current,
    decode_instantaneous_power,
)
from custom_components.broute_meter.broute.links.j11 import J11Link
from simulator import DongleModel

from .conftest import TRANSPORTS, eventually, get, get_when_up, no_secrets_in

if TYPE_CHECKING:
    from .conftest import Harness

J11 = DongleModel.BP35C2_J11
E7, E8 = 0xE7, 0xE8


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_connect_read_close_on_j11(
    harness: Harness, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim, url = await harness.sim(transport, J11)
    conn = harness.session(url, firmware="j11")
    with no_secrets_in(caplog):
        await conn.connect()
        assert isinstance(conn.link, J11Link)
        assert conn.pan is not None
        assert conn.pan.channel == sim.config.channel  # SKSTACK numbering kept
        assert conn.pan.mac == sim.config.mac
        values = await get(conn, E7, E8)
        assert decode_instantaneous_power(values[E7]) == sim.meter.power_w()
        assert decode_instantaneous_current(values[E8]) == pytest.approx(sim.meter.currents_a())
        diagnostics = conn.diagnostics()
        assert diagnostics["kind"] == "j11"
        assert diagnostics["dialect"] == "j11"
        assert diagnostics["dongle_version"] is not None
        await conn.close()
    assert sim.stats.flash_writes == 0


async def test_stuck_pana_is_cured_by_a_module_reset_without_a_restart(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """regreh's report: re-authentication fails for good until the module is reset.

    The ladder: re-PANA (fails), module reset (0x00D9 through initialise), joined again -
    all inside the running connection.
    """
    caplog.set_level(logging.DEBUG)
    sim, url = await harness.sim("socket", J11)
    states: list[LinkState] = []
    conn = harness.session(url, firmware="j11", states=states)
    with no_secrets_in(caplog):
        await conn.connect()
        resets = sim.stats.commands["00D9"]
        pana_runs = sim.stats.commands["0056"]
        sim.faults.pana_stuck()
        sim.faults.expire_session(reauth=True)  # the module's own re-auth fails
        await eventually(lambda: LinkState.REPAIRING in states)
        values = await get_when_up(conn, E7, limit=15.0)
        assert decode_instantaneous_power(values[E7]) == sim.meter.power_w()
    assert sim.stats.commands["00D9"] == resets + 1  # one module reset, not a reopen loop
    assert sim.stats.commands["0056"] >= pana_runs + 2  # re-PANA was tried before it
    assert conn.link.stats.reconnects == 0  # the port stayed open


async def test_a_module_restart_is_reinitialised(harness: Harness) -> None:
    sim, url = await harness.sim("socket", J11)
    conn = harness.session(url, firmware="j11")
    await conn.connect()
    resets = sim.stats.commands["00D9"]
    sim.faults.dongle_reset(silent=False)  # announces 0x6019 by itself
    await eventually(lambda: not conn.status.up)
    values = await get_when_up(conn, E7, limit=15.0)
    assert decode_instantaneous_power(values[E7]) == sim.meter.power_w()
    assert sim.stats.commands["00D9"] == resets + 1  # the credentials were given again


async def test_reauthentication_without_an_expiry_notice_is_harmless(harness: Harness) -> None:
    """J11 never reports SESSION_EXPIRED; its 0x6028 success comes alone."""
    sim, url = await harness.sim("socket", J11)
    states: list[LinkState] = []
    conn = harness.session(url, firmware="j11", states=states)
    await conn.connect()
    before = list(states)
    sim.faults.expire_session(reauth=True)
    await asyncio.sleep(0.2)  # the module's 0x6028 success arrives meanwhile
    for _ in range(3):
        values = await get(conn, E7)
        assert decode_instantaneous_power(values[E7]) == sim.meter.power_w()
    assert states == before  # never repairing, never held
    assert conn.status.up


def test_an_unknown_firmware_has_no_link() -> None:
    with pytest.raises(ValueError, match="firmware"):
        MeterConnection("socket://127.0.0.1:1", "0" * 32, "A" * 12, firmware="unknown")
