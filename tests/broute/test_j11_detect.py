"""Firmware detection on the port: SKSTACK-IP text or J11 binary, without a flash write."""

from __future__ import annotations

import asyncio
import time

import pytest

from custom_components.broute_meter.broute.errors import PortConnectError
from custom_components.broute_meter.broute.links.detect import Firmware, detect_firmware
from custom_components.broute_meter.broute.links.j11 import J11Driver, J11Timing
from custom_components.broute_meter.broute.links.wisun import JoinOutcome, PanDescriptor
from simulator import TEST_PASSWORD, TEST_RBID, DongleModel

from .conftest import TRANSPORTS, Harness


@pytest.mark.parametrize("model", DongleModel.skstack())
async def test_text_dongles_are_skstack(harness: Harness, model: DongleModel) -> None:
    sim, url = await harness.sim("socket", model)
    hex_before = sim.dongle.erxudp_hex
    assert await detect_firmware(url) is Firmware.SKSTACK
    assert sim.stats.flash_writes == 0
    assert sim.dongle.erxudp_hex == hex_before
    assert sim.stats.commands["SKVER"] == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_j11_dongles_are_j11_and_stay_usable(harness: Harness, transport: str) -> None:
    sim, url = await harness.sim(transport, DongleModel.BP35C2_J11)
    started = time.monotonic()
    assert await detect_firmware(url) is Firmware.J11
    assert time.monotonic() - started < 3.0
    assert sim.stats.commands["006B"] == 1
    assert sim.stats.scans == sim.stats.joins == 0
    # The probe leaves nothing behind that stops a session on the same port.
    driver = await J11Driver.open(url, timing=J11Timing.fast())
    try:
        await driver.initialise(TEST_RBID, TEST_PASSWORD)
        cfg = sim.config
        pan = PanDescriptor(cfg.channel, cfg.pan_id, cfg.mac)
        assert await driver.join(pan) is JoinOutcome.JOINED
    finally:
        await driver.stop()


async def test_skstack_on_a_pty(harness: Harness) -> None:
    _sim, path = await harness.sim("pty", DongleModel.BP35C2)
    assert await detect_firmware(path) is Firmware.SKSTACK


async def test_a_silent_port_is_unknown_in_bounded_time(socket_enabled: None) -> None:
    received = bytearray()
    done = asyncio.Event()

    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(100):  # listen, never answer, until closed
            received.extend(chunk)
        writer.close()
        done.set()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        started = time.monotonic()
        found = await detect_firmware(f"socket://127.0.0.1:{port}", time_limit=0.5)
        elapsed = time.monotonic() - started
        async with asyncio.timeout(2):
            await done.wait()
    finally:
        server.close()
    assert found is Firmware.UNKNOWN
    assert elapsed < 2.0
    assert received.startswith(bytes.fromhex("D0EA83FC006B000403A80000"))


async def test_a_hung_j11_module_is_unknown(harness: Harness) -> None:
    sim, url = await harness.sim("socket", DongleModel.BP35C2_J11)
    sim.faults.dongle_reset(silent=True)
    assert await detect_firmware(url, time_limit=0.5) is Firmware.UNKNOWN


async def test_a_port_that_does_not_open_raises(socket_enabled: None) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(PortConnectError):
        await detect_firmware(f"socket://127.0.0.1:{port}", time_limit=0.5)


async def _serve_once(
    socket_enabled: None, answer: bytes, *, reset: bool = False
) -> tuple[asyncio.Server, str]:
    """A TCP "dongle" that answers ``answer`` to whatever comes, then hangs up."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(64)
        writer.write(answer)
        await writer.drain()
        if reset:
            writer.transport.abort()  # type: ignore[attr-defined]
        else:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"socket://127.0.0.1:{port}"


@pytest.mark.parametrize("reset", [False, True])
async def test_a_device_that_talks_text_and_hangs_up_is_unknown(
    socket_enabled: None, reset: bool
) -> None:
    """Another serial device's chatter (a GPS receiver here) is no SKSTACK answer; a
    hang-up (or a reset connection) ends the detection at once, not at the time limit."""
    server, url = await _serve_once(
        socket_enabled, b"$GPGGA,123519,4807.038,N\r\nhello\r\n", reset=reset
    )
    try:
        started = time.monotonic()
        assert await detect_firmware(url, time_limit=5.0) is Firmware.UNKNOWN
        assert time.monotonic() - started < 4.0
    finally:
        server.close()
        await server.wait_closed()
