"""The SKSTACK Wi-SUN link under the simulator's faults: the caller never restarts anything.

A request that meets the link under repair fails at once (SessionUnavailableError); the
link repairs itself and reports UP, after which requests work again. ``_power(...,
through_repair=True)`` reads as a poller does: once more after the link is back.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
import os

import pytest

from custom_components.broute_meter.broute import (
    AuthenticationError,
    ClientTiming,
    ConnectionTiming,
    LinkState,
    MeterTimeoutError,
    SessionUnavailableError,
    TransmitLimitError,
    WiSunTiming,
)
from custom_components.broute_meter.broute.echonet import decode_instantaneous_power
from custom_components.broute_meter.broute.transport import close_port, open_port

from .conftest import TRANSPORTS, Harness, eventually, get, get_when_up

E7 = 0xE7


async def _connected(harness: Harness, transport: str = "socket", **kwargs):
    sim, url = await harness.sim(transport)
    states: list[LinkState] = []
    session = harness.session(url, states=states, **kwargs)
    await session.connect()
    return sim, session, states


async def _power(session, *, through_repair: bool = False) -> int | None:
    values = await (get_when_up(session, E7) if through_repair else get(session, E7))
    return decode_instantaneous_power(values[E7])


def _timing(*, link: dict | None = None, client: dict | None = None) -> ConnectionTiming:
    return ConnectionTiming(
        replace(WiSunTiming.fast(), **(link or {})), replace(ClientTiming.fast(), **(client or {}))
    )


async def test_dropped_reply_is_retried(harness: Harness) -> None:
    sim, session, _ = await _connected(harness)
    before = sim.stats.frames_to_meter
    sim.faults.drop_replies(1)
    assert await _power(session) == sim.meter.power_w()
    assert sim.stats.frames_to_meter - before == 2
    assert (session.client.stats.retries, session.client.stats.timeouts) == (1, 1)


async def test_garbage_and_stray_pana_are_ignored(harness: Harness) -> None:
    sim, session, _ = await _connected(harness)
    await eventually(lambda: session.client.stats.notifications >= 1)  # the D5 INF after joining
    notes = []
    session.on_notification = notes.append
    sim.faults.inject_garbage()
    sim.faults.inject_stray_pana()
    task = asyncio.create_task(get(session, E7))
    sim.faults.inject_garbage(b"\x00\x01OK\x80\r\nFAIL\r\nEVENT\r\n")
    assert decode_instantaneous_power((await task)[E7]) == sim.meter.power_w()
    assert session.client.stats.retries == 0
    assert notes == []
    assert session.status.up


async def test_session_expiry_with_auto_reauth_is_transparent(harness: Harness) -> None:
    sim, session, _ = await _connected(harness)
    sim.faults.expire_session(reauth=True)
    assert await _power(session) == sim.meter.power_w()
    assert session.link.stats.rejoins == 0
    assert sim.stats.joins == 1
    assert session.status.up


@pytest.mark.parametrize("fault", ["expire_without_reauth", "end_session"])
async def test_lost_pana_session_is_rejoined_without_scan(harness: Harness, fault: str) -> None:
    sim, session, states = await _connected(harness)
    if fault == "end_session":
        sim.faults.end_session()  # EVENT 26
    else:
        sim.faults.expire_session(reauth=False)  # EVENT 29, no EVENT 25
    assert await _power(session, through_repair=True) == sim.meter.power_w()
    assert session.link.stats.rejoins == 1
    assert sim.stats.joins == 2
    assert sim.stats.scans == 1  # only the first connect scanned
    assert LinkState.REPAIRING in states
    assert session.status.up


async def test_silent_dongle_reset_is_reinitialised(harness: Harness) -> None:
    sim, session, _ = await _connected(harness)
    sim.faults.dongle_reset(silent=True)  # answers nothing but SKRESET
    assert await _power(session, through_repair=True) == sim.meter.power_w()
    assert sim.stats.commands["SKRESET"] == 2
    assert sim.stats.scans == 1
    assert session.status.up


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_keepalive_repairs_a_silent_dongle_before_the_next_request(
    harness: Harness, transport: str
) -> None:
    """Between polls the dongle is checked locally, so a silent reset costs no poll."""
    timing = _timing(link={"keepalive_interval": 0.1})
    sim, session, states = await _connected(harness, transport, timing=timing)
    frames = sim.stats.frames_to_meter
    sim.faults.dongle_reset(silent=True)
    await eventually(lambda: sim.stats.joins == 2 and session.status.up)
    assert sim.stats.commands["SKRESET"] == 2
    assert sim.stats.scans == 1
    assert LinkState.REPAIRING in states
    assert sim.stats.frames_to_meter == frames  # the checks never used the radio
    assert await _power(session) == sim.meter.power_w()
    assert session.client.stats.retries == 0


async def test_dongle_reset_with_echo_back_is_noticed(harness: Harness) -> None:
    sim, session, _ = await _connected(harness)
    sim.faults.dongle_reset(silent=False)
    assert await _power(session, through_repair=True) == sim.meter.power_w()
    assert sim.stats.commands["SKRESET"] == 2
    assert sim.stats.scans == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_transport_disconnect_and_return(harness: Harness, transport: str) -> None:
    sim, session, states = await _connected(harness, transport)
    sim.faults.disconnect(0.4)
    await eventually(lambda: session.status.state is LinkState.REPAIRING)
    assert await _power(session, through_repair=True) == sim.meter.power_w()
    assert session.link.stats.reconnects >= 1
    assert sim.stats.scans == 1  # the cached PAN was joined again
    assert states[-1] is LinkState.UP


async def test_transmit_limit_pauses_requests(harness: Harness) -> None:
    sim, session, _ = await _connected(harness)
    sent = sim.stats.sendto
    sim.faults.transmit_limit(0.3)  # EVENT 32 now, EVENT 33 later
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await _power(session) == sim.meter.power_w()
    assert loop.time() - start >= 0.15  # it waited for EVENT 33 …
    assert sim.stats.sendto - sent == 1  # … instead of sending into the limit


async def test_transmit_limit_longer_than_the_budget(harness: Harness) -> None:
    timing = _timing(client={"hold_wait": 0.3})
    sim, session, _ = await _connected(harness, timing=timing)
    sim.faults.transmit_limit(30)
    await asyncio.sleep(0.05)
    with pytest.raises(TransmitLimitError):
        await get(session, E7)


async def test_meter_reboot_leads_to_rejoin(harness: Harness) -> None:
    timing = _timing(client={"unresponsive_after": 1, "request_timeout": 0.2})
    sim, session, _ = await _connected(harness, timing=timing)
    sim.faults.meter_reboot(0.2)  # the meter forgets the PANA session; the dongle does not
    with pytest.raises(MeterTimeoutError):
        await get(session, E7)
    assert await _power(session, through_repair=True) == sim.meter.power_w()
    assert session.link.stats.rejoins == 1
    assert sim.stats.scans == 1


async def test_close_during_recovery_leaves_nothing_behind(harness: Harness) -> None:
    sim, session, _ = await _connected(harness)
    sim.faults.disconnect(30)
    await eventually(lambda: session.status.state is LinkState.REPAIRING)
    await session.close()
    assert session.status.state is LinkState.DOWN
    current = asyncio.current_task()
    leftover = [t for t in asyncio.all_tasks() if t is not current and "broute" in t.get_name()]
    assert leftover == []


async def test_close_while_connecting(harness: Harness) -> None:
    master, slave = os.openpty()  # nothing answers behind this port
    try:
        session = harness.session(os.ttyname(slave))
        task = asyncio.create_task(session.connect())
        await asyncio.sleep(0.1)
        await session.close()
        with pytest.raises(SessionUnavailableError):
            await task
        assert session.status.state is LinkState.DOWN
        # The port is free again.
        _, writer = await open_port(os.ttyname(slave))
        await close_port(writer)
    finally:
        os.close(master)
        os.close(slave)


_SHORT = _timing(link={"command_timeout": 0.3}, client={"request_timeout": 0.2})


async def test_get_during_an_outage_fails_at_once_with_session_unavailable(
    harness: Harness,
) -> None:
    """A request never waits on a repair: nothing stale is taken for current."""
    sim, session, _ = await _connected(harness, timing=_SHORT)
    sim.faults.disconnect(30)
    await eventually(lambda: session.status.state is LinkState.REPAIRING)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(SessionUnavailableError):
        await get(session, E7)
    assert loop.time() - start < 0.1
    await eventually(lambda: session.link.last_error is not None)


async def test_credentials_revoked_while_running_surface_as_authentication_error(
    harness: Harness,
) -> None:
    sim, session, _ = await _connected(harness, timing=_SHORT)
    sim.password = "ABCDEFABCDEF"  # the utility re-issued the password
    sim.faults.end_session()
    await eventually(lambda: isinstance(session.link.last_error, AuthenticationError))
    with pytest.raises(AuthenticationError):
        await get(session, E7)
    # Credentials were re-sent (SKRESET + SKSETPWD) before the rejection was believed.
    assert sim.stats.commands["SKSETPWD"] >= 2
