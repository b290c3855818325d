"""Dialect behaviour of the simulated dongles, seen from a raw host over serialx."""

from __future__ import annotations

import asyncio

import pytest

from simulator import TEST_PASSWORD, TEST_RBID, DongleModel, Simulator

from .helpers import (
    METER_IP,
    Host,
    connect_and_join,
    request,
    sendto_bytes,
)

GET_E7 = bytes.fromhex("1081000105FF010288016201E700")


async def _open(sim: Simulator, *, pty: bool = False) -> Host:
    url = await (sim.start_pty() if pty else sim.start_socket())
    return await Host.open(url, dse=sim.model.dse)


@pytest.mark.parametrize("model", DongleModel.skstack())
async def test_echo_until_sfe_0_and_back_after_reset(make_sim: object, model: DongleModel) -> None:
    sim: Simulator = make_sim(model)  # type: ignore[operator]
    host = await _open(sim)
    try:
        await host.cmd("SKVER")
        seen = await host.expect(b"OK")
        assert seen[0] == b"SKVER"
        assert seen[1].startswith(b"EVER ")  # type: ignore[union-attr]
        await host.cmd("SKSREG SFE 0")
        assert await host.expect(b"OK") == [b"SKSREG SFE 0", b"OK"]  # its own echo still shows
        await host.cmd("SKVER")
        seen = await host.expect(b"OK")
        assert len(seen) == 2
        assert seen[0].startswith(b"EVER ")  # type: ignore[union-attr]
        await host.cmd("SKRESET")
        assert await host.expect(b"OK") == [b"OK"]
        await host.cmd("SKVER")
        assert (await host.expect(b"OK"))[0] == b"SKVER"
        assert sim.dongle.echo is True
    finally:
        await host.close()


async def _quiet_host(sim: Simulator, *, pty: bool = False) -> Host:
    host = await _open(sim, pty=pty)
    await host.cmd("SKSREG SFE 0")
    await host.expect(b"OK")
    return host


@pytest.mark.parametrize(
    ("model", "command", "reply"),
    [
        (DongleModel.BP35A1, "SKSCAN 2 FFFFFFFF 6 0", b"FAIL ER05"),
        (DongleModel.RL7023_IPS, "SKSCAN 2 FFFFFFFF 6 0", b"FAIL ER05"),
        (DongleModel.BP35C2, "SKSCAN 2 FFFFFFFF 6", b"FAIL ER05"),
        (DongleModel.BP35C2, "SKFOO", b"FAIL ER04"),
        (DongleModel.BP35C2, "SKJOIN fe80::21d:1290:1234:5678", b"FAIL ER06"),
        (DongleModel.BP35A1, "SKTERM", b"FAIL ER10"),
        (DongleModel.BP35A1, "SKSETRBID 0011", b"FAIL ER06"),
        (DongleModel.BP35A1, "SKSETPWD C 0123", b"FAIL ER06"),
        (DongleModel.BP35C2, "SKREJOIN", b"FAIL ER10"),
        (DongleModel.BP35C2, "SKSREG S02 99", b"FAIL ER06"),
    ],
)
async def test_error_codes(
    make_sim: object, model: DongleModel, command: str, reply: bytes
) -> None:
    sim: Simulator = make_sim(model)  # type: ignore[operator]
    host = await _quiet_host(sim)
    try:
        await host.cmd(command)
        assert await host.line() == reply
    finally:
        await host.close()


@pytest.mark.parametrize("model", [DongleModel.BP35A1, DongleModel.BP35C2])
async def test_sendto_with_wrong_side_argument_fails_and_stays_in_sync(
    make_sim: object, model: DongleModel
) -> None:
    sim: Simulator = make_sim(model)  # type: ignore[operator]
    host = await _quiet_host(sim)
    try:
        # The other dialect's SKSENDTO: side present on A1, missing on DSE.
        wrong = sendto_bytes(bytes([0x0D, 0x0A, 0x20, 0x41]), dse=not model.dse)
        await host.write(wrong)
        assert await host.line() == b"FAIL ER05"
        await host.cmd("SKVER")
        assert (await host.line()).startswith(b"EVER ")
    finally:
        await host.close()


@pytest.mark.parametrize("model", [DongleModel.BP35A1, DongleModel.BP35C2])
async def test_ropt_wopt_ruart_reply_with_cr_only(make_sim: object, model: DongleModel) -> None:
    sim: Simulator = make_sim(model)  # type: ignore[operator]
    host = await _quiet_host(sim)
    try:
        await host.write(b"ROPT\r")
        assert await host.raw_until(b"\r") == b"OK 00\r"
        await host.write(b"WOPT 01\r")
        assert await host.raw_until(b"\r", strip=False) == b"OK\r"
        await host.write(b"RUART\r")
        reply = await host.raw_until(b"\r", strip=False)
        assert reply.startswith(b"OK ")
        assert len(reply) == 6
        # Nothing else followed the CR: the next bytes are the next command's reply.
        await host.cmd("SKVER")
        assert (await host.raw_until(b"\r\n", strip=False)).startswith(b"EVER ")
        # WOPT is flash: it survives SKRESET and a new connection.
        await host.cmd("SKRESET")
        await host.expect(b"OK")
        await host.close()
        host = await Host.open(sim.url or "", dse=model.dse)
        await host.cmd("SKSREG SFE 0")
        await host.expect(b"OK")
        await host.write(b"ROPT\r\n")
        assert await host.raw_until(b"\r") == b"OK 01\r"
        assert sim.dongle.erxudp_hex is True
    finally:
        await host.close()


async def test_ips_has_no_ropt_and_always_hex(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.RL7023_IPS)  # type: ignore[operator]
    url = await sim.start_socket()
    host = await connect_and_join(url, dse=False, hex_mode=True)
    try:
        await host.cmd("ROPT")
        assert await host.line() == b"FAIL ER04"
        await host.cmd("WOPT 00")
        assert await host.line() == b"FAIL ER04"
        rx = await request(host, GET_E7, dse=False)
        assert rx.data[12:14] == bytes.fromhex("E704")
        assert int.from_bytes(rx.data[14:18], "big", signed=True) == sim.meter.power_w()
    finally:
        await host.close()


async def test_skll64_has_no_ok(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _quiet_host(sim)
    try:
        await host.cmd("SKLL64 001C6400601421A3")
        assert await host.line() == b"FE80:0000:0000:0000:021C:6400:6014:21A3"
        await host.cmd("SKVER")
        assert (await host.line()).startswith(b"EVER ")
    finally:
        await host.close()


@pytest.mark.parametrize("model", [DongleModel.BP35A1, DongleModel.BP35C2])
async def test_binary_erxudp_carries_cr_lf(make_sim: object, model: DongleModel) -> None:
    # 3338 W = 0x00000D0A: the payload contains CR LF and must be read by length.
    sim: Simulator = make_sim(model, load_override_w=3338)  # type: ignore[operator]
    url = await sim.start_pty()
    host = await connect_and_join(url, dse=model.dse)
    try:
        get = bytes.fromhex("10810D0A05FF010288016201E700")  # TID 0D0A too
        rx = await request(host, get, dse=model.dse)
        assert b"\r\n" in rx.data
        assert rx.data == bytes.fromhex("10810D0A0288 0105FF01 7201E70400000D0A".replace(" ", ""))
        # The stream is still in sync afterwards.
        await host.cmd("SKVER")
        assert (await host.line()).startswith(b"EVER ")
    finally:
        await host.close()


async def test_sendto_tolerates_trailing_crlf_and_split_writes(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35A1)  # type: ignore[operator]
    url = await sim.start_socket()
    host = await connect_and_join(url, dse=False)
    try:
        data = sendto_bytes(GET_E7, dse=False)
        await host.write(data[:20])
        await asyncio.sleep(0.01)
        await host.write(data[20:-3])
        await asyncio.sleep(0.01)
        await host.write(data[-3:] + b"\r\n")
        lines = await host.expect(b"OK")
        assert lines == [f"EVENT 21 {METER_IP} 00".encode(), b"OK"]
        rx = await host.rx()
        assert rx.data[10:14] == bytes.fromhex("7201E704")
        assert not [x for x in await host.quiet(0.05) if isinstance(x, bytes) and b"FAIL" in x]
    finally:
        await host.close()


async def test_sksreg_s2_and_s02_name_the_same_register(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _quiet_host(sim)
    try:
        await host.cmd("SKSREG S2 2A")
        assert await host.line() == b"OK"
        await host.cmd("SKSREG S02")
        assert await host.expect(b"OK") == [b"ESREG 2A", b"OK"]
        await host.cmd("SKINFO")
        einfo = (await host.line()).split(b" ")
        assert einfo[0] == b"EINFO"
        assert einfo[3] == b"2A"
    finally:
        await host.close()


async def test_sa2_adds_a_token_to_dse_erxudp(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    url = await sim.start_socket()
    host = await connect_and_join(url, dse=True)
    try:
        await host.cmd("SKSREG SA2 1")
        await host.expect(b"OK")
        host.fields_before_len += 1
        rx = await request(host, GET_E7, dse=True)
        assert rx.fields[5:8] == ["E1", "1", "0"]
    finally:
        await host.close()


@pytest.mark.parametrize(("duration", "found"), [(4, False), (5, False), (6, True), (7, True)])
async def test_meter_answers_only_long_enough_scans(
    make_sim: object, duration: int, found: bool
) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _quiet_host(sim)
    try:
        await host.cmd(f"SKSCAN 2 FFFFFFFF {duration} 0")
        seen = await host.expect(b"EVENT 22")
        assert (b"EPANDESC" in seen) is found
        assert sim.stats.scans == 1
    finally:
        await host.close()


async def test_scan_with_mask_excluding_the_channel_finds_nothing(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2, channel=0x3B)  # type: ignore[operator]
    host = await _quiet_host(sim)
    try:
        await host.cmd("SKSCAN 2 00000001 6 0")
        assert b"EPANDESC" not in await host.expect(b"EVENT 22")
        await host.cmd("SKSCAN 2 04000000 6 0")
        seen = await host.expect(b"EVENT 22")
        assert b"  Channel:3B" in seen
    finally:
        await host.close()


@pytest.mark.parametrize("wrong", ["password", "channel"])
async def test_join_fails_with_event_24(make_sim: object, wrong: str) -> None:
    sim: Simulator = make_sim(DongleModel.BP35A1)  # type: ignore[operator]
    host = await _quiet_host(sim, pty=True)
    try:
        pwd = "WRONGPASSWD0" if wrong == "password" else TEST_PASSWORD
        await host.cmd(f"SKSETPWD C {pwd}")
        await host.expect(b"OK")
        await host.cmd(f"SKSETRBID {TEST_RBID}")
        await host.expect(b"OK")
        await host.cmd("SKSREG S2 " + ("22" if wrong == "channel" else "21"))
        await host.expect(b"OK")
        await host.cmd("SKSREG S3 8888")
        await host.expect(b"OK")
        await host.cmd(f"SKJOIN {METER_IP}")
        seen = await host.expect(b"EVENT 24")
        assert not [x for x in seen if isinstance(x, bytes) and x.startswith(b"EVENT 25")]
        assert sim.dongle.joined is False
        # Without a session an encrypted send fails at once.
        await host.write(sendto_bytes(GET_E7, dse=False))
        assert await host.expect(b"OK") == [f"EVENT 21 {METER_IP} 01".encode(), b"OK"]
    finally:
        await host.close()


async def test_skterm_ends_the_session_with_event_27(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    url = await sim.start_socket()
    host = await connect_and_join(url, dse=True)
    try:
        assert sim.dongle.session_count == 1
        await host.cmd("SKTERM")
        assert await host.expect(b"EVENT 27") == [b"OK", f"EVENT 27 {METER_IP} 0".encode()]
        assert sim.dongle.joined is False
    finally:
        await host.close()


async def test_new_socket_client_replaces_the_old_one(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    first = await _quiet_host(sim)
    second = await Host.open(sim.url or "", dse=True)
    try:
        await second.cmd("SKVER")
        assert (await second.line()).startswith(b"EVER ")
        with pytest.raises((EOFError, ConnectionError)):
            await first.line(within=1.0)
        assert sim.stats.connections == 2
    finally:
        await first.close()
        await second.close()


async def test_credentials_are_redacted_in_last_commands(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    url = await sim.start_socket()
    host = await connect_and_join(url, dse=True)
    await host.close()
    text = " ".join(sim.dongle.last_commands)
    assert "SKSETRBID" in text
    assert TEST_RBID not in text
    assert TEST_PASSWORD not in text
    assert TEST_RBID[-8:] not in text.replace("PairID", "")


async def test_pty_can_be_reopened_by_a_new_host(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    host = await _quiet_host(sim, pty=True)
    await host.close()
    host = await Host.open(sim.path or "", dse=True)
    try:
        await host.cmd("SKINFO")
        einfo = await host.line()
        # SFE 0 from the first host still holds: same dongle, only the host changed.
        assert einfo.startswith(b"EINFO FE80:0000:0000:0000:021D:1290:0000:0001 001D129000000001 ")
        assert sim.dongle.echo is False
    finally:
        await host.close()


async def test_sendto_without_datalen_is_er05(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35A1)  # type: ignore[operator]
    host = await _quiet_host(sim)
    try:
        await host.cmd(f"SKSENDTO 1 {METER_IP} 0E1A 1")
        assert await host.line() == b"FAIL ER05"
    finally:
        await host.close()
