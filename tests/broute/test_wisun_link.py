"""MeterSession against the simulator: every dialect, over a pty and over socket://.

Expected values come from the simulator's ground truth (``sim.meter``) and counters
(``sim.stats``), never from the client under test.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from custom_components.broute_meter.broute import (
    AuthenticationError,
    ConnectionTiming,
    Dialect,
    LinkState,
    MeterNotFoundError,
    PanDescriptor,
    PropertyNotAvailableError,
    SessionUnavailableError,
    lqi_to_rssi,
    mac_to_ipv6,
)
from custom_components.broute_meter.broute.echonet import (
    LV_METER_EOJ,
    decode_cumulative,
    decode_instantaneous_current,
    decode_instantaneous_power,
)
from custom_components.broute_meter.broute.transport import close_port, open_port
from simulator import TEST_RBID, DongleModel
from simulator.echonet import Frame as SimFrame

from .conftest import DIALECTS, TRANSPORTS, Harness, eventually, get, no_secrets_in

E7, E8, E0, E3, E1, D3, D7, E5 = 0xE7, 0xE8, 0xE0, 0xE3, 0xE1, 0xD3, 0xD7, 0xE5
EXPECTED_DIALECT = {
    DongleModel.BP35A1: Dialect.A1,
    DongleModel.RL7023_IPS: Dialect.A1,
    DongleModel.BP35C2: Dialect.DSE,
}


def test_mac_to_ipv6_reference_vectors() -> None:
    # Reference §A.5.7: U/L bit flipped, expanded, upper case.
    assert mac_to_ipv6("001D129012345678") == "FE80:0000:0000:0000:021D:1290:1234:5678"
    assert mac_to_ipv6("001c6400601421a3") == "FE80:0000:0000:0000:021C:6400:6014:21A3"
    assert mac_to_ipv6("021D129012345678") == "FE80:0000:0000:0000:001D:1290:1234:5678"


def test_pan_descriptor_round_trip_and_rssi() -> None:
    pan = PanDescriptor(0x21, 0x8888, "001d129012345678", 0xE1, "CCDD1234")
    assert pan.mac == "001D129012345678"
    assert PanDescriptor.from_dict(pan.as_dict()) == pan
    assert pan.ipv6 == "FE80:0000:0000:0000:021D:1290:1234:5678"
    assert pan.rssi == pytest.approx(0.275 * 0xE1 - 104.27, abs=0.05)
    assert lqi_to_rssi(0) == pytest.approx(-104.27, abs=0.05)
    with pytest.raises(ValueError, match="channel"):
        PanDescriptor(0x20, 1, "001D129012345678")
    with pytest.raises(ValueError, match="not a PAN"):
        PanDescriptor.from_dict({"channel": 33})


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("model", DIALECTS)
async def test_connect_read_close(
    harness: Harness, model: DongleModel, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim, url = await harness.sim(transport, model)
    states: list[LinkState] = []
    session = harness.session(url, states=states)
    with no_secrets_in(caplog):
        await session.connect()
        assert session.status.up
        assert session.link.dialect is EXPECTED_DIALECT[model]
        assert session.pan == PanDescriptor(
            sim.config.channel, sim.config.pan_id, sim.config.mac, sim.config.lqi, TEST_RBID[-8:]
        )
        assert session.pan.lqi == sim.config.lqi
        assert session.link.dongle_version is not None
        values = await get(session, E7, E8, E0, E3)
        assert decode_instantaneous_power(values[E7]) == sim.meter.power_w()
        assert decode_instantaneous_current(values[E8]) == pytest.approx(sim.meter.currents_a())
        assert decode_cumulative(values[E0]) == sim.meter.forward_raw()
        assert decode_cumulative(values[E3]) == sim.meter.reverse_raw()
        await session.close()
    assert sim.stats.commands["SKTERM"] == 1
    assert sim.stats.flash_writes == 0  # never WOPT/WUART
    assert states[0] is LinkState.CONNECTING
    assert LinkState.UP in states
    assert states[-1] is LinkState.DOWN
    assert "SKSETPWD C ********" in caplog.text


async def test_cached_pan_joins_without_scanning(harness: Harness) -> None:
    sim, url = await harness.sim()
    cached = PanDescriptor(sim.config.channel, sim.config.pan_id, sim.config.mac)
    session = harness.session(url, pan=cached)
    await session.connect()
    assert sim.stats.scans == 0
    assert sim.stats.joins == 1
    assert decode_instantaneous_power((await get(session, E7))[E7]) == sim.meter.power_w()


async def test_stale_cached_pan_falls_back_to_one_rescan(harness: Harness) -> None:
    sim, url = await harness.sim(channel=0x2A, pan_id=0x1234)
    stale = PanDescriptor(0x21, 0x8888, sim.config.mac)  # the meter moved channel
    session = harness.session(url, pan=stale)
    await session.connect()
    assert sim.stats.scans == 1
    assert session.pan is not None
    assert (session.pan.channel, session.pan.pan_id) == (0x2A, 0x1234)
    assert E7 in await get(session, E7)


async def test_scan_ignores_other_households_meter(harness: Harness) -> None:
    sim, url = await harness.sim()
    other = sim.faults.second_meter(lqi=0xFF)  # louder, but not ours
    session = harness.session(url)
    await session.connect()
    assert session.pan is not None
    assert session.pan.mac == sim.config.mac != other.mac


async def test_scan_grows_duration_until_meter_answers(harness: Harness) -> None:
    sim, url = await harness.sim(min_scan_duration=7)
    session = harness.session(url)
    await session.connect()
    assert sim.stats.scans == 2  # 6 found nothing, 7 found the meter


async def test_meter_not_found_after_all_scans(harness: Harness) -> None:
    sim, url = await harness.sim(min_scan_duration=12)
    session = harness.session(url)
    with pytest.raises(MeterNotFoundError):
        await session.connect()
    assert sim.stats.scans == 3
    assert session.status.state is LinkState.DOWN
    # The port was released: it can be opened (exclusively) again.
    _, writer = await open_port(url)
    await close_port(writer)


async def test_wrong_password_is_confirmed_once_then_authentication_error(
    harness: Harness,
) -> None:
    sim, url = await harness.sim(password="ABCDEFABCDEF")
    session = harness.session(url)
    with pytest.raises(AuthenticationError):
        await session.connect()
    assert sim.stats.joins == 2  # the first EVENT 24 was confirmed by a second join
    assert not session.status.up


async def test_cached_pan_rejected_twice_is_authentication_error(harness: Harness) -> None:
    sim, url = await harness.sim(password="ABCDEFABCDEF")
    cached = PanDescriptor(sim.config.channel, sim.config.pan_id, sim.config.mac)
    session = harness.session(url, pan=cached)
    with pytest.raises(AuthenticationError):
        await session.connect()
    assert sim.stats.scans == 1  # one rescan, which found the same PAN
    assert sim.stats.joins == 2


async def test_get_chunks_more_than_six_epcs(harness: Harness) -> None:
    sim, url = await harness.sim(max_epcs_per_get=6)
    session = harness.session(url)
    await session.connect()
    before = sim.stats.frames_to_meter
    epcs = (0x80, 0x88, 0x8A, D3, D7, E1, E7, E8)
    values = await get(session, *epcs)
    assert set(values) == set(epcs)
    assert sim.stats.frames_to_meter - before == 2
    assert decode_instantaneous_power(values[E7]) == sim.meter.power_w()


async def test_a_chunked_get_is_not_split_by_another_call(harness: Harness) -> None:
    """A second caller waits for all frames of a chunked get, not just the first one."""
    _, url = await harness.sim(max_epcs_per_get=6)
    session = harness.session(url)
    await session.connect()
    finished: list[str] = []

    async def call(name: str, *epcs: int) -> None:
        await get(session, *epcs)
        finished.append(name)

    long_call = asyncio.create_task(call("long", 0x80, 0x88, 0x8A, D3, D7, E1, E7, E8))
    await asyncio.sleep(0)  # the long call takes the session first
    await asyncio.gather(long_call, call("short", E7))
    assert finished == ["long", "short"]


async def test_get_sna_returns_what_came_back(harness: Harness) -> None:
    sim, url = await harness.sim()
    session = harness.session(url)
    await session.connect()
    assert 0xE9 not in sim.meter.get_epcs()
    values = await get(session, E7, 0xE9)
    assert set(values) == {E7}
    assert await get(session, 0xE9) == {}


async def test_set_and_refused_set(harness: Harness) -> None:
    sim, url = await harness.sim()
    session = harness.session(url)
    await session.connect()
    await session.client.set(LV_METER_EOJ, E5, bytes([1]))
    assert (await get(session, E5))[E5] == bytes([1])
    assert E7 not in sim.meter.set_epcs()
    with pytest.raises(PropertyNotAvailableError):
        await session.client.set(LV_METER_EOJ, E7, bytes(4))


async def test_notifications_are_delivered(harness: Harness) -> None:
    sim, url = await harness.sim()
    frames = []
    session = harness.session(url, on_notification=frames.append)
    await session.connect()
    # The meter announces its instance list (D5) right after PANA succeeds.
    await eventually(lambda: any(p.epc == 0xD5 for f in frames for p in f.properties))
    # An EA/EB push in the middle of a request is delivered and the request still works.
    task = asyncio.create_task(get(session, E7, E8))
    sim.faults.push_fixed_time()
    values = await task
    assert decode_instantaneous_power(values[E7]) == sim.meter.power_w()
    await eventually(lambda: any(p.epc == 0xEA for f in frames for p in f.properties))


async def test_stray_response_with_another_tid_is_ignored(harness: Harness) -> None:
    sim, url = await harness.sim(latency=0.2)  # the real answer comes late
    frames = []
    session = harness.session(url, on_notification=frames.append)
    await session.connect()
    task = asyncio.create_task(get(session, E7))
    await asyncio.sleep(0.05)
    fake = (123456).to_bytes(4, "big")
    stray = SimFrame(
        0x7777, bytes([0x02, 0x88, 0x01]), bytes([0x05, 0xFF, 0x01]), 0x72, [(E7, fake)]
    )
    sim.engine.meter_frame(stray)
    values = await task
    assert values[E7] != fake
    assert decode_instantaneous_power(values[E7]) == sim.meter.power_w()
    assert all(f.tid != 0x7777 for f in frames)
    assert session.client.stats.retries == 0


async def test_infc_is_acknowledged_and_delivered(harness: Harness) -> None:
    sim, url = await harness.sim()
    frames = []
    session = harness.session(url, on_notification=frames.append)
    await session.connect()
    await eventually(lambda: bool(frames))  # the D5 INF after joining
    sent, sent_bytes = sim.stats.frames_to_meter, sim.stats.bytes_to_meter
    edt = sim.meter.read_meter(0xEA)
    assert edt is not None
    infc = SimFrame(
        0x4321, bytes([0x02, 0x88, 0x01]), bytes([0x05, 0xFF, 0x01]), 0x74, [(0xEA, edt)]
    )
    sim.engine.meter_frame(infc)
    await eventually(lambda: sim.stats.frames_to_meter == sent + 1)
    # INFC_Res: 12-byte header + EA with PDC 0 (ECHONET Lite frame layout, reference §B.1).
    assert sim.stats.bytes_to_meter - sent_bytes == 14
    delivered = [f for f in frames if f.tid == 0x4321]
    assert [(f.esv, f.properties[0].edt) for f in delivered] == [(0x74, edt)]


async def test_close_is_idempotent_and_get_after_close_fails(harness: Harness) -> None:
    sim, url = await harness.sim()
    session = harness.session(url)
    await session.connect()
    await session.close()
    await session.close()
    assert sim.stats.commands["SKTERM"] == 1
    with pytest.raises(SessionUnavailableError):
        await get(session, E7)
    # The port is free again and the session can reconnect (cached PAN, no scan).
    scans = sim.stats.scans
    await session.connect()
    assert sim.stats.scans == scans
    assert E7 in await get(session, E7)


async def test_get_before_connect_fails_cleanly(harness: Harness) -> None:
    _, url = await harness.sim()
    session = harness.session(url)
    with pytest.raises(SessionUnavailableError):
        await get(session, E7)


async def test_open_again_while_up_or_while_opening(harness: Harness) -> None:
    """A second open() of an open link does nothing; one during the first is refused."""
    sim, url = await harness.sim("socket")
    conn = harness.session(url)
    link = conn.link
    assert link.driver is None
    assert link.rssi is None  # no scan yet
    first = asyncio.create_task(link.open())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already running"):
        await link.open()
    await first
    assert link.status.state is LinkState.UP
    assert link.port == url
    assert link.driver is not None
    assert link.rssi == lqi_to_rssi(sim.config.lqi)
    scans, joins = sim.stats.scans, sim.stats.commands["SKJOIN"]
    await link.open()
    assert (sim.stats.scans, sim.stats.commands["SKJOIN"]) == (scans, joins)
    assert link.status.state is LinkState.UP


async def test_connection_as_a_context_manager(harness: Harness) -> None:
    """``async with`` joins the meter and leaves it politely (SKTERM) at the end."""
    sim, url = await harness.sim()
    async with harness.session(url) as conn:
        assert conn.status.state is LinkState.UP
        assert decode_instantaneous_power((await get(conn, E7))[E7]) == sim.meter.power_w()
    assert conn.status.state is LinkState.DOWN
    assert sim.stats.commands["SKTERM"] == 1


def test_connection_timing_evolve_rejects_unknown_fields() -> None:
    timing = ConnectionTiming.fast()
    assert timing.evolve(retries=5).client.retries == 5
    with pytest.raises(TypeError, match="no timing field bogus"):
        timing.evolve(bogus=1)


async def test_label_of_a_meter_from_a_maker_outside_the_table(harness: Harness) -> None:
    """read_label: maker and serial in one frame; an unknown maker is named by its code."""
    sim, url = await harness.sim(maker_code=0xABCDEF)
    conn = harness.session(url)
    await conn.connect()
    label = await conn.meter.read_label()
    assert label.maker_code == 0xABCDEF
    assert label.manufacturer == "ECHONET maker 0xABCDEF"
    assert label.serial_number == sim.config.serial


async def test_a_failing_notification_handler_is_logged_and_requests_go_on(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    sim, url = await harness.sim()

    def broken(frame: object) -> None:
        raise RuntimeError("handler bug")

    conn = harness.session(url, on_notification=broken)
    await conn.connect()
    sim.faults.push_fixed_time()
    await eventually(lambda: "Notification handler failed" in caplog.text)
    assert decode_instantaneous_power((await get(conn, E7))[E7]) == sim.meter.power_w()


def test_malformed_mac_and_pan_id_are_refused() -> None:
    with pytest.raises(ValueError, match="16 hex digits"):
        mac_to_ipv6("001D1290123456")
    with pytest.raises(ValueError, match="16 bits"):
        PanDescriptor(0x21, 0x10000, "001D129012345678")
