"""Reference byte vectors (protocol.md §A.6, §B.5, §C) checked against the simulator."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from simulator import JST, TEST_PASSWORD, TEST_RBID, DongleModel, ManualClock, Simulator
from simulator.echonet import decode_property_map, property_map

from .helpers import (
    DONGLE_IP,
    METER_IP,
    Host,
    connect_and_join,
    request,
)

GET_E7_E8_E0_E3 = bytes.fromhex("10 81 00 01 05 FF 01 02 88 01 62 04 E7 00 E8 00 E0 00 E3 00")
SETC_E5_1 = bytes.fromhex("10 81 00 03 05 FF 01 02 88 01 61 01 E5 01 01")
SET_RES_E5 = bytes.fromhex("10 81 00 03 02 88 01 05 FF 01 71 01 E5 00")
GET_E2 = bytes.fromhex("10 81 00 04 05 FF 01 02 88 01 62 01 E2 00")
SETC_ED = bytes.fromhex("10 81 00 06 05 FF 01 02 88 01 61 01 ED 07 07 E9 0B 0F 0C 00 02")
GET_EA = bytes.fromhex("10 81 00 02 05 FF 01 02 88 01 62 01 EA 00")
INF_REQ_D5 = bytes.fromhex("10 81 00 05 05 FF 01 0E F0 01 63 01 D5 00")
D5_INF = bytes.fromhex("10 81 00 00 0E F0 01 0E F0 01 73 01 D5 04 01 02 88 01")
REAL_GET_MAP = bytes.fromhex("19 41 41 41 60 40 40 00 62 43 00 41 40 40 43 02 02")


def test_property_map_matches_real_meter_example() -> None:
    # The Release F meter's Get map from §C.1, decoded to 25 EPCs and re-encoded.
    epcs = decode_property_map(REAL_GET_MAP)
    assert len(epcs) == 25
    assert property_map(epcs) == REAL_GET_MAP
    assert property_map([0x81, 0xE5, 0xED]) == bytes.fromhex("03 81 E5 ED")


async def test_a1_transcript_scan_join_and_d5(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35A1)  # type: ignore[operator]
    url = await sim.start_pty()
    host = await Host.open(url, dse=False)
    try:
        await host.cmd("SKRESET")
        assert await host.expect(b"OK") == [b"SKRESET", b"OK"]
        await host.cmd("SKSREG SFE 0")
        assert await host.expect(b"OK") == [b"SKSREG SFE 0", b"OK"]
        await host.cmd("ROPT")
        assert await host.raw_until(b"OK 00\r") == b"OK 00\r"
        await host.cmd(f"SKSETPWD C {TEST_PASSWORD}")
        assert await host.expect(b"OK") == [b"OK"]
        await host.cmd(f"SKSETRBID {TEST_RBID}")
        assert await host.expect(b"OK") == [b"OK"]
        await host.cmd("SKSCAN 2 FFFFFFFF 6")
        assert await host.expect(b"EVENT 22") == [
            b"OK",
            f"EVENT 20 {DONGLE_IP}".encode(),
            b"EPANDESC",
            b"  Channel:21",
            b"  Channel Page:09",
            b"  Pan ID:8888",
            b"  Addr:001D129012345678",
            b"  LQI:E1",
            b"  PairID:CCDD1234",
            f"EVENT 22 {DONGLE_IP}".encode(),
        ]
        await host.cmd("SKSREG S2 21")
        await host.expect(b"OK")
        await host.cmd("SKSREG S3 8888")
        await host.expect(b"OK")
        await host.cmd("SKLL64 001D129012345678")
        assert await host.line() == METER_IP.encode()
        await host.cmd(f"SKJOIN {METER_IP}")
        seen = await host.expect(b"EVENT 25")
        lines = [x for x in seen if isinstance(x, bytes)]
        assert lines == [
            b"OK",
            f"EVENT 21 {METER_IP} 02".encode(),
            f"EVENT 02 {METER_IP}".encode(),
            f"EVENT 21 {METER_IP} 00".encode(),
            f"EVENT 25 {METER_IP}".encode(),
        ]
        pana = [x for x in seen if not isinstance(x, bytes)]
        assert len(pana) >= 3
        for rx in pana:
            assert rx.fields[2:6] == ["02CC", "02CC", "001D129012345678", "0"]
        d5 = await host.rx()
        assert d5.fields == [
            METER_IP,
            "FF02:0000:0000:0000:0000:0000:0000:0001",
            "0E1A",
            "0E1A",
            "001D129012345678",
            "1",
            "0012",
        ]
        assert d5.data == D5_INF
    finally:
        await host.close()


@pytest.mark.parametrize(
    ("model", "hex_mode"),
    [(DongleModel.BP35A1, True), (DongleModel.BP35A1, False), (DongleModel.BP35C2, False)],
)
async def test_get_e7_e8_e0_e3_shape(make_sim: object, model: DongleModel, hex_mode: bool) -> None:
    sim: Simulator = make_sim(model)  # type: ignore[operator]
    url = await sim.start_socket()
    if hex_mode:
        sim.dongle.erxudp_hex = True  # as after a WOPT 01 in an earlier life
    host = await connect_and_join(url, dse=model.dse, hex_mode=hex_mode)
    try:
        rx = await request(host, GET_E7_E8_E0_E3, dse=model.dse)
        side = ["0"] if model.dse else []
        assert rx.fields == [
            METER_IP,
            DONGLE_IP,
            "0E1A",
            "0E1A",
            "001D129012345678",
            "1",
            *side,
            "0024",
        ]
        data = rx.data
        assert len(data) == 0x24
        # Same layout as the reference Get_Res: header, then E7/E8/E0/E3 with PDC 4 each.
        assert data[:12] == bytes.fromhex("1081000102880105FF017204")
        assert [data[i] for i in (12, 13, 18, 19, 24, 25, 30, 31)] == [
            0xE7,
            4,
            0xE8,
            4,
            0xE0,
            4,
            0xE3,
            4,
        ]
        meter = sim.meter
        assert int.from_bytes(data[14:18], "big", signed=True) == meter.power_w()
        r, t = meter.currents_a()
        assert int.from_bytes(data[20:22], "big", signed=True) == round(r * 10)
        assert t is not None
        assert int.from_bytes(data[22:24], "big", signed=True) == round(t * 10)
        assert int.from_bytes(data[26:30], "big") == meter.forward_raw()
        assert int.from_bytes(data[32:36], "big") == meter.reverse_raw()
    finally:
        await host.close()


async def test_get_sna_when_reverse_metering_absent(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2, reverse_metering=False)  # type: ignore[operator]
    url = await sim.start_socket()
    host = await connect_and_join(url, dse=True)
    try:
        data = (await request(host, GET_E7_E8_E0_E3, dse=True)).data
        # Reference Get_SNA variant: ESV 0x52, values kept, E3 with PDC 0 at the end.
        assert data[10] == 0x52
        assert data[-2:] == bytes.fromhex("E300")
        assert len(data) == 0x24 - 4
    finally:
        await host.close()


async def test_setc_e5_then_e2_and_ed_ec(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35C2)  # type: ignore[operator]
    url = await sim.start_socket()
    host = await connect_and_join(url, dse=True)
    try:
        assert (await request(host, SETC_E5_1, dse=True)).data == SET_RES_E5
        e2 = (await request(host, GET_E2, dse=True)).data
        assert e2[12:14] == bytes.fromhex("E2C2")
        assert len(e2) == 14 + 194
        assert int.from_bytes(e2[14:16], "big") == 1
        slots = [int.from_bytes(e2[16 + 4 * i : 20 + 4 * i], "big") for i in range(48)]
        yesterday = datetime(2025, 11, 14, tzinfo=JST)
        for i, value in enumerate(slots):
            expected = sim.meter.slot_raw("forward", yesterday + timedelta(minutes=30 * i))
            assert value == expected
        # ED = 2025-11-15 12:00, 2 segments; EC pairs at 12:00 then 11:30.
        ed_res = (await request(host, SETC_ED, dse=True)).data
        assert ed_res[10:] == bytes.fromhex("7101ED00")
        get_ec = bytes.fromhex("10 81 00 07 05 FF 01 02 88 01 62 01 EC 00")
        ec = (await request(host, get_ec, dse=True)).data
        assert len(ec) == 37
        assert ec[:21] == bytes.fromhex(
            "10 81 00 07 02 88 01 05 FF 01 72 01 EC 17 07 E9 0B 0F 0C 00 02"
        )
        noon = datetime(2025, 11, 15, 12, 0, tzinfo=JST)
        pairs = [int.from_bytes(ec[21 + 4 * i : 25 + 4 * i], "big") for i in range(4)]
        assert pairs == [
            sim.meter.slot_raw("forward", noon),
            sim.meter.slot_raw("reverse", noon),
            sim.meter.slot_raw("forward", noon - timedelta(minutes=30)),
            sim.meter.slot_raw("reverse", noon - timedelta(minutes=30)),
        ]
    finally:
        await host.close()


async def test_ea_and_d5_inf_req(make_sim: object) -> None:
    sim: Simulator = make_sim(DongleModel.BP35A1)  # type: ignore[operator]
    url = await sim.start_socket()
    host = await connect_and_join(url, dse=False)
    try:
        ea = (await request(host, GET_EA, dse=False)).data
        assert len(ea) == 0x19
        # 13:10 meter time → latest boundary 13:00:00 (reference encoding of §C.4).
        assert ea[10:21] == bytes.fromhex("7201EA0B07E90B0F0D0000")
        boundary = datetime(2025, 11, 15, 13, 0, tzinfo=JST)
        assert int.from_bytes(ea[21:25], "big") == sim.meter.slot_raw("forward", boundary)
        await host.write(
            f"SKSENDTO 1 {METER_IP} 0E1A 1 {len(INF_REQ_D5):04X} ".encode() + INF_REQ_D5
        )
        rx = await host.rx()
        assert rx.data == bytes.fromhex("10 81 00 05 0E F0 01 05 FF 01 73 01 D5 04 01 02 88 01")
    finally:
        await host.close()


async def test_real_capture_shapes(make_sim: object, clock: object) -> None:
    # Captured answers quoted in §B.5, reproduced by setting the meter to those values.
    assert isinstance(clock, ManualClock)
    clock.set(datetime(2026, 5, 20, 14, 10, tzinfo=JST))
    sim: Simulator = make_sim(  # type: ignore[operator]
        DongleModel.BP35C2,
        release="F",
        load_override_w=228,
        service_start=datetime(2026, 5, 20, 14, 0, tzinfo=JST),
        initial_forward_raw=0xFE68,
    )
    url = await sim.start_socket()
    host = await connect_and_join(url, dse=True)

    async def get(tid: str, epc: str) -> bytes:
        frame = bytes.fromhex(f"1081{tid}05FF010288016201{epc}00")
        return (await request(host, frame, dse=True)).data

    try:
        # RS-WSUHA-P: 228 W
        assert (await get("5253", "E7")).hex().upper() == "1081525302880105FF017201E704000000E4"
        assert (await get("0001", "D7")).hex().upper().endswith("7201D70106")
        assert (await get("0002", "82")).hex().upper().endswith("7201820400004600")
        ea = (await get("0003", "EA")).hex().upper()
        assert ea.endswith("7201EA0B07EA05140E00000000FE68")
    finally:
        await host.close()
