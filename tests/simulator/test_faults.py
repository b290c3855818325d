"""Every fault knob, observed from the host side of the serial link."""

from __future__ import annotations

import asyncio
import os

import pytest

from simulator import DongleModel, ManualClock, Simulator

from .helpers import (
    METER_IP,
    Host,
    Rx,
    connect_and_join,
    request,
    sendto_bytes,
)

GET_E7 = bytes.fromhex("1081000105FF010288016201E700")


def _link_target(path: str) -> str | None:
    return os.readlink(path) if os.path.lexists(path) else None


async def _joined(sim: Simulator, *, pty: bool = False) -> Host:
    url = await (sim.start_pty() if pty else sim.start_socket())
    return await connect_and_join(url, dse=sim.model.dse)


async def _no_reply(host: Host, dse: bool) -> None:
    await host.write(sendto_bytes(GET_E7, dse=dse))
    await host.expect(b"OK")
    assert not [x for x in await host.quiet(0.15) if isinstance(x, Rx)]


async def test_drop_replies_and_probability(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        sim.faults.drop_replies(1)
        await _no_reply(host, True)
        assert (await request(host, GET_E7, dse=True)).data[10] == 0x72
        sim.faults.drop_probability = 1.0
        await _no_reply(host, True)
        sim.faults.drop_probability = 0.0
        await request(host, GET_E7, dse=True)
        assert sim.stats.faults["drop_reply"] == 2
    finally:
        await host.close()


async def test_garbage_and_stray_pana(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35A1)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        sent = sim.faults.inject_garbage()
        line = await host.line()
        assert line == sent.rstrip(b"\r\n")
        with pytest.raises(UnicodeDecodeError):
            line.decode("utf-8")
        sim.faults.inject_stray_pana()
        rx = await host.rx(port=0x02CC)
        assert rx.fields[5] == "0"  # not secured
        assert (await request(host, GET_E7, dse=False)).data[10] == 0x72
    finally:
        await host.close()


@pytest.mark.parametrize("reauth", [True, False])
async def test_expire_session(make_sim: object, reauth: bool) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        sim.faults.expire_session(reauth=reauth)
        assert await host.line() == f"EVENT 29 {METER_IP} 0".encode()
        if reauth:
            assert await host.line() == f"EVENT 25 {METER_IP} 0".encode()
            await request(host, GET_E7, dse=True)
        else:
            assert not await host.quiet(0.1)
            await host.write(sendto_bytes(GET_E7, dse=True))
            assert await host.expect(b"OK") == [f"EVENT 21 {METER_IP} 0 01".encode(), b"OK"]
    finally:
        await host.close()


async def test_session_lifetime_expires_by_itself(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2, session_lifetime=0.2)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        assert await host.line(within=2) == f"EVENT 29 {METER_IP} 0".encode()
        assert await host.line() == f"EVENT 25 {METER_IP} 0".encode()
    finally:
        await host.close()


async def test_end_session_then_rejoin(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35A1)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        sim.faults.end_session()
        assert await host.line() == f"EVENT 26 {METER_IP}".encode()
        await host.write(sendto_bytes(GET_E7, dse=False))
        assert await host.expect(b"OK") == [f"EVENT 21 {METER_IP} 01".encode(), b"OK"]
        await host.cmd(f"SKJOIN {METER_IP}")
        await host.expect(b"EVENT 25")
        assert (await host.rx()).data[10:13] == bytes.fromhex("7301D5")
        assert sim.dongle.session_count == 2
    finally:
        await host.close()


async def test_transmit_limit(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        sim.faults.transmit_limit(0.3)
        assert (await host.line()).startswith(b"EVENT 32 ")
        await host.cmd("SKSREG SFB")
        assert await host.expect(b"OK") == [b"ESREG 1", b"OK"]
        await host.write(sendto_bytes(GET_E7, dse=True))
        assert await host.expect(b"OK") == [f"EVENT 21 {METER_IP} 0 01".encode(), b"OK"]
        assert (await host.line(within=2)).startswith(b"EVENT 33 ")
        await request(host, GET_E7, dse=True)
    finally:
        await host.close()


async def test_silent_dongle_reset(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        sim.faults.dongle_reset(silent=True)
        await host.cmd("SKVER")
        assert not await host.quiet(0.1)
        await host.cmd("SKRESET")
        assert await host.expect(b"OK") == [b"SKRESET", b"OK"]  # echo is back on
        assert sim.dongle.joined is False
        assert sim.dongle.echo is True
    finally:
        await host.close()


async def test_socket_disconnect_refuses_then_accepts(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _joined(sim)
    url = sim.url or ""
    try:
        sim.faults.disconnect(0.3)
        with pytest.raises((EOFError, ConnectionError)):
            await host.line(within=1)
        await host.close()
        with pytest.raises(OSError):  # noqa: PT012
            refused = await Host.open(url)
            await refused.close()
        await asyncio.sleep(0.4)
        host = await Host.open(url)
        # A network bridge dropping does not reset the dongle: the session is still there.
        assert sim.dongle.joined is True
        await request(host, GET_E7, dse=True)
    finally:
        await host.close()


async def test_pty_disconnect_recreates_pty_behind_the_same_symlink(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35A1)  # type: ignore[operator]
    host = await _joined(sim, pty=True)
    path = sim.path or ""
    assert _link_target(path) is not None
    try:
        sim.faults.disconnect(0.2)
        await asyncio.sleep(0.05)
        assert _link_target(path) is None
        await host.close()
        await asyncio.sleep(0.3)
        target = _link_target(path)
        assert target is not None
        assert target.startswith("/dev/pts/")
        host = await Host.open(path, dse=False)
        # Unplugging the USB dongle cost its volatile state: echo is on again.
        await host.cmd("SKVER")
        assert await host.line() == b"SKVER"
        assert sim.dongle.joined is False
    finally:
        await host.close()


async def test_meter_reboot(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        await request(host, GET_E7, dse=True)
        sim.faults.meter_reboot(0.3)
        await _no_reply(host, True)
        await host.cmd("SKSCAN 2 FFFFFFFF 6 0")
        assert b"EPANDESC" not in await host.expect(b"EVENT 22")
        await asyncio.sleep(0.3)
        await _no_reply(host, True)  # the meter forgot the session
        await host.cmd(f"SKJOIN {METER_IP}")
        await host.expect(b"EVENT 25")
        d5 = await host.rx()
        assert d5.data[2:4] == b"\x00\x00"  # TIDs restarted
        await request(host, GET_E7, dse=True)
    finally:
        await host.close()


async def test_half_hour_push_on_clock_and_on_demand(make_sim: object, clock: ManualClock) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        clock.advance(20 * 60)  # 13:10 → 13:30 crosses a boundary
        rx = await host.rx()
        data = rx.data
        assert data[4:11] == bytes.fromhex("02880105FF0173")
        assert data[11] == 2
        assert data[12:21] == bytes.fromhex("EA0B07E90B0F0D1E00")
        boundary = clock.now().replace(minute=30, second=0)
        assert int.from_bytes(data[21:25], "big") == sim.meter.slot_raw("forward", boundary)
        assert data[25:27] == bytes.fromhex("EB0B")
        assert int.from_bytes(data[34:38], "big") == sim.meter.slot_raw("reverse", boundary)
        clock.advance(60)  # no boundary: nothing
        assert not [x for x in await host.quiet(0.1) if isinstance(x, Rx)]
        sim.faults.push_fixed_time()
        assert (await host.rx()).data[12:21] == bytes.fromhex("EA0B07E90B0F0D1E00")
    finally:
        await host.close()


async def test_second_meter_in_scans(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        other = sim.faults.second_meter(pair_id="99887766")
        await host.cmd("SKSCAN 2 FFFFFFFF 6 0")
        seen = await host.expect(b"EVENT 22")
        assert b"  PairID:CCDD1234" in seen
        assert b"  PairID:99887766" in seen
        assert seen.count(b"EPANDESC") == 2
        await host.cmd(f"SKJOIN {other.ipv6}")
        assert (await host.expect(b"EVENT 24"))[-1].startswith(b"EVENT 24 ")  # type: ignore[union-attr]
    finally:
        await host.close()


async def test_stats_count_traffic(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        await request(host, GET_E7, dse=True)
        stats = sim.stats
        assert stats.frames_to_meter == 1
        assert stats.bytes_to_meter == len(GET_E7)
        assert stats.frames_from_meter == 2  # D5 + the Get_Res
        assert stats.bytes_from_meter == 18 + 18
        expected_air = (len(GET_E7) + 18 + 18 + 3 * 60) * 8 / 100_000
        assert stats.airtime_seconds == pytest.approx(expected_air)
        assert stats.scans == 1
        assert stats.joins == 1
        assert stats.commands["SKSENDTO"] == 1
        assert stats.as_dict()["sendto"] == 1
    finally:
        await host.close()


async def test_neighbour_solicitation_event_before_the_result(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35A1)  # type: ignore[operator]
    host = await _joined(sim)
    try:
        sim.faults.neighbour_solicitation()
        await host.write(sendto_bytes(GET_E7, dse=False))
        assert await host.expect(b"OK") == [
            f"EVENT 21 {METER_IP} 02".encode(),
            f"EVENT 21 {METER_IP} 00".encode(),
            b"OK",
        ]
        assert (await host.rx()).data[10] == 0x72
        await host.write(sendto_bytes(GET_E7, dse=False))
        assert await host.expect(b"OK") == [f"EVENT 21 {METER_IP} 00".encode(), b"OK"]
    finally:
        await host.close()
