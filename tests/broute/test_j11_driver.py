"""The J11 driver against the simulator's J11 dongle, over a real pty and socket://.

Real bytes both ways: the driver encodes with the library's codec, the simulator with
its own, so every exchange checks both against the J11 layouts. The ECHONET Lite part
runs through the library's EchonetClient on a minimal link over the driver (the Wi-SUN
link with its repair ladder is built elsewhere; here each rung is driven by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import pytest

from custom_components.broute_meter.broute.client import ClientTiming, EchonetClient
from custom_components.broute_meter.broute.echonet import LV_METER_EOJ
from custom_components.broute_meter.broute.errors import (
    BRouteError,
    CommandError,
    DongleNotRespondingError,
    TransportLostError,
)
from custom_components.broute_meter.broute.link import Link, LinkState
from custom_components.broute_meter.broute.links.j11 import J11Driver, J11Timing
from custom_components.broute_meter.broute.links.wisun import (
    DriverEvent,
    JoinOutcome,
    PanDescriptor,
    WiSunDriver,
)
from simulator import TEST_PASSWORD, TEST_RBID, DongleModel, TimingModel

from .conftest import TRANSPORTS, Harness, eventually

if TYPE_CHECKING:
    from simulator import Simulator

J11 = DongleModel.BP35C2_J11
PAIR_ID = TEST_RBID[-8:]
NEW_PASSWORD = "ZYXWVUT98765"


class DriverLink(Link):
    """Just enough link for the client: datagrams from the meter's address, sends."""

    kind = "j11"

    def __init__(self, driver: J11Driver, meter_ipv6: str) -> None:
        super().__init__()
        self.driver = driver
        self.meter_ipv6 = meter_ipv6
        self.from_elsewhere = 0
        driver.on_datagram = self._datagram

    async def open(self) -> None:
        self._set_status(LinkState.UP)

    async def close(self) -> None:
        self._set_status(LinkState.DOWN)

    async def _send(self, payload: bytes) -> bool:
        return await self.driver.send(self.meter_ipv6, payload)

    def _datagram(self, sender: str, payload: bytes) -> None:
        if sender == self.meter_ipv6:
            self._deliver(payload)
        else:
            self.from_elsewhere += 1


class Rig:
    """One simulator, one driver and what the driver reported."""

    def __init__(self, sim: Simulator, driver: J11Driver) -> None:
        self.sim = sim
        self.driver = driver
        self.events: list[DriverEvent] = []
        self.lost: list[BaseException] = []
        self.datagrams: list[tuple[str, bytes]] = []
        driver.on_event = self.events.append
        driver.on_lost = self.lost.append
        driver.on_datagram = lambda sender, data: self.datagrams.append((sender, data))

    @property
    def pan(self) -> PanDescriptor:
        cfg = self.sim.config
        return PanDescriptor(cfg.channel, cfg.pan_id, cfg.mac, cfg.lqi, PAIR_ID)

    async def joined(self) -> None:
        await self.driver.initialise(TEST_RBID, TEST_PASSWORD)
        assert await self.driver.join(self.pan) is JoinOutcome.JOINED

    async def client(self) -> EchonetClient:
        link = DriverLink(self.driver, self.sim.config.ipv6)
        await link.open()
        return EchonetClient(link, timing=ClientTiming.fast())


@pytest.fixture
async def rig_factory(harness: Harness) -> object:
    drivers: list[J11Driver] = []

    async def make(transport: str = "socket", **meter: object) -> Rig:
        password = str(meter.pop("password", TEST_PASSWORD))
        sim, url = await harness.sim(transport, J11, password=password, **meter)
        driver = await J11Driver.open(url, timing=J11Timing.fast())
        drivers.append(driver)
        return Rig(sim, driver)

    yield make
    for driver in drivers:
        await driver.stop()


def test_the_driver_is_a_wisun_driver() -> None:
    """mypy checks this assignment: J11Driver has every member of the Protocol."""

    def as_protocol(driver: J11Driver) -> WiSunDriver:
        return driver

    assert callable(as_protocol)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_initialise_scan_join_and_read_the_meter(rig_factory: object, transport: str) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory(transport)
    sim, driver = rig.sim, rig.driver
    await driver.initialise(TEST_RBID, TEST_PASSWORD)
    assert driver.firmware == "1.3.0000158A"
    assert sim.dongle.rbid_set
    assert sim.dongle.password_set
    found = await driver.scan(6, PAIR_ID)
    # Channel in SKSTACK numbering; the LQI mapped back from the integer RSSI.
    assert len(found) == 1
    assert found[0].same_meter(rig.pan)
    assert found[0].pair_id == PAIR_ID
    assert found[0].lqi is not None
    assert abs(found[0].lqi - sim.config.lqi) <= 2
    assert found[0].rssi == pytest.approx(0.275 * sim.config.lqi - 104.27, abs=0.3)
    assert await driver.join(found[0]) is JoinOutcome.JOINED
    assert sim.dongle.joined
    # The instance-list INF multicast after PANA arrives from the meter, encrypted.
    await eventually(lambda: bool(rig.datagrams))
    assert rig.datagrams[0][0] == sim.config.ipv6
    assert rig.datagrams[0][1][10] == 0x73  # ESV INF

    client = await rig.client()
    values = await client.get(LV_METER_EOJ, [0xE7, 0xE8, 0xE0, 0xE3, 0xD3, 0xE1])
    for epc in (0xE7, 0xE8, 0xE0, 0xE3, 0xD3, 0xE1):
        assert values[epc] == sim.meter.read_meter(epc)
    assert int.from_bytes(values[0xE7], "big", signed=True) == sim.meter.power_w()
    await client.aclose()

    await driver.terminate()
    await eventually(lambda: not sim.dongle.joined)
    assert driver.diagnostics()["dialect"] == "j11"
    assert rig.events == []
    assert rig.lost == []


async def test_short_scans_miss_the_meter_and_other_households_are_filtered(
    rig_factory: object,
) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    rig.sim.faults.second_meter(pair_id="99887766")
    await rig.driver.initialise(TEST_RBID, TEST_PASSWORD)
    assert await rig.driver.scan(4, PAIR_ID) == []
    found = await rig.driver.scan(6, PAIR_ID)
    assert len(found) == 1
    assert found[0].same_meter(rig.pan)


async def test_cached_pan_joins_without_a_scan_and_a_stale_one_does_not(
    rig_factory: object,
) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.driver.initialise(TEST_RBID, TEST_PASSWORD)
    stale = PanDescriptor(rig.pan.channel, rig.pan.pan_id ^ 0x1111, rig.pan.mac)
    assert await rig.driver.join(stale) is JoinOutcome.NO_ANSWER
    other_channel = PanDescriptor(rig.pan.channel + 1, rig.pan.pan_id, rig.pan.mac)
    assert await rig.driver.join(other_channel) is JoinOutcome.NO_ANSWER
    outside = PanDescriptor(0x3C, rig.pan.pan_id, rig.pan.mac)  # not in the J11 band
    assert await rig.driver.join(outside) is JoinOutcome.NO_ANSWER
    assert rig.sim.stats.scans == 0
    assert await rig.driver.join(rig.pan) is JoinOutcome.JOINED
    # A second join on the same PAN re-runs PANA only (route B stays up).
    starts = rig.sim.stats.commands["0053"]
    assert await rig.driver.join(rig.pan) is JoinOutcome.JOINED
    assert rig.sim.stats.commands["0053"] == starts


async def test_wrong_password_is_rejected(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory(password=NEW_PASSWORD)
    await rig.driver.initialise(TEST_RBID, TEST_PASSWORD)
    assert await rig.driver.join(rig.pan) is JoinOutcome.REJECTED
    assert not rig.driver.joined


async def test_a_rebooting_meter_gives_no_answer(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.driver.initialise(TEST_RBID, TEST_PASSWORD)
    rig.sim.faults.meter_reboot(0.5)
    assert await rig.driver.join(rig.pan) is JoinOutcome.NO_ANSWER
    await asyncio.sleep(0.5)
    assert await rig.driver.join(rig.pan) is JoinOutcome.JOINED


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_expiry_with_reauthentication_keeps_the_session(
    rig_factory: object, transport: str
) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory(transport)
    await rig.joined()
    rig.sim.faults.expire_session(reauth=True)
    await eventually(lambda: DriverEvent.REAUTHENTICATED in rig.events)
    assert rig.driver.joined
    client = await rig.client()
    assert (await client.get(LV_METER_EOJ, [0xE7]))[0xE7] == rig.sim.meter.read_meter(0xE7)
    await client.aclose()


async def test_expiry_without_reauthentication_loses_the_session(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.joined()
    rig.sim.faults.expire_session(reauth=False)
    await eventually(lambda: DriverEvent.SESSION_LOST in rig.events)
    assert not rig.driver.joined
    # Re-PANA, the first rung of the ladder, brings it back.
    assert await rig.driver.join(rig.pan) is JoinOutcome.JOINED


async def test_the_meter_ending_the_session_is_reported(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.joined()
    rig.sim.faults.end_session()
    await eventually(lambda: DriverEvent.SESSION_LOST in rig.events)


async def test_reauthentication_stuck_until_the_module_is_reset(rig_factory: object) -> None:
    """regreh's report: re-auth fails for good; re-PANA fails; a 0x00D9 reset cures it."""
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.joined()
    rig.sim.faults.pana_stuck()
    rig.sim.faults.expire_session(reauth=True)
    await eventually(lambda: DriverEvent.SESSION_LOST in rig.events)
    assert await rig.driver.join(rig.pan) is JoinOutcome.NO_ANSWER
    await rig.driver.initialise(TEST_RBID, TEST_PASSWORD)  # the module-reset rung
    assert await rig.driver.join(rig.pan) is JoinOutcome.JOINED
    assert DriverEvent.DONGLE_RESET not in rig.events  # our own reset is not an event


async def test_a_spontaneous_module_restart_is_reported(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.joined()
    rig.sim.faults.dongle_reset(silent=False)
    await eventually(lambda: DriverEvent.DONGLE_RESET in rig.events)
    assert not rig.driver.joined
    assert rig.driver.diagnostics()["resets_seen"] == 1
    await rig.joined()


async def test_a_hung_module_is_not_responding_until_reset(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.joined()
    rig.sim.faults.dongle_reset(silent=True)
    with pytest.raises(DongleNotRespondingError):
        await rig.driver.check()
    await rig.joined()
    await rig.driver.check()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_junk_on_the_line_never_kills_the_reader(rig_factory: object, transport: str) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory(transport)
    await rig.joined()
    client = await rig.client()
    faults = rig.sim.faults
    faults.inject_garbage()
    faults.inject_garbage(b"\xd0\xf9\xee\x5d\x60\x18\x00\x40\x00\x00")  # a header gone bad
    faults.inject_garbage(bytes(range(256)))
    faults.inject_stray_pana()
    assert (await client.get(LV_METER_EOJ, [0xE0]))[0xE0] == rig.sim.meter.read_meter(0xE0)
    stats = rig.driver.diagnostics()["reader"]
    assert stats["junk_bytes"] > 0
    assert rig.lost == []
    await client.aclose()


async def test_dropped_answers_are_retried_by_the_client(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.joined()
    client = await rig.client()
    rig.sim.faults.drop_replies(1)
    assert (await client.get(LV_METER_EOJ, [0xE7]))[0xE7] == rig.sim.meter.read_meter(0xE7)
    assert client.stats.retries == 1
    await client.aclose()


async def test_transmit_limit_refuses_sends_until_released(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.joined()
    payload = bytes.fromhex("1081000105FF010288016201E700")
    rig.sim.faults.transmit_limit(0.3)
    assert await rig.driver.send(rig.sim.config.ipv6, payload) is False
    await asyncio.sleep(0.4)
    assert await rig.driver.send(rig.sim.config.ipv6, payload) is True


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_unplug_is_reported_once_and_commands_fail(
    rig_factory: object, transport: str
) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory(transport)
    await rig.joined()
    rig.sim.faults.disconnect(1.0)
    await eventually(lambda: bool(rig.lost))
    assert isinstance(rig.lost[0], TransportLostError)
    with pytest.raises(TransportLostError):
        await rig.driver.check()
    assert len(rig.lost) == 1


async def test_sends_before_route_b_fail_softly(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    await rig.driver.initialise(TEST_RBID, TEST_PASSWORD)
    payload = bytes.fromhex("1081000105FF010288016201E700")
    assert await rig.driver.send(rig.sim.config.ipv6, payload) is False


async def test_command_errors_name_the_command_not_the_data(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    # No initialise: the module has no settings, so a scan is refused (result 0x10).
    await rig.driver.check()
    with pytest.raises(CommandError) as caught:
        await rig.driver.scan(6, PAIR_ID)
    assert "0051" in str(caught.value)
    assert PAIR_ID not in str(caught.value)


async def test_credentials_never_reach_a_log_line(
    rig_factory: object, caplog: pytest.LogCaptureFixture
) -> None:
    """DEBUG everywhere (serialx's byte dumps, the traffic log, the simulator's log)."""
    caplog.set_level(logging.DEBUG)
    assert callable(rig_factory)
    rig: Rig = await rig_factory("pty")
    await rig.joined()
    client = await rig.client()
    await client.get(LV_METER_EOJ, [0xE7])
    await client.aclose()
    await rig.driver.initialise(TEST_RBID, TEST_PASSWORD)
    await rig.driver.scan(6, PAIR_ID)
    await rig.driver.initialise(TEST_RBID, NEW_PASSWORD)  # the user typed new credentials
    text = "\n".join(
        [record.getMessage() for record in caplog.records]
        + [repr(record.args) for record in caplog.records]
        + list(rig.sim.dongle.last_commands)
    ).casefold()
    assert "0054" in text  # the credentials command was logged…
    for secret in (TEST_RBID, TEST_PASSWORD, NEW_PASSWORD):
        for form in (secret, secret.encode().hex()):
            assert form.casefold() not in text  # …without them


async def test_joining_another_pan_ends_route_b_first(rig_factory: object) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory()
    other = rig.sim.faults.second_meter(pair_id="99887766")
    await rig.joined()
    elsewhere = PanDescriptor(other.channel, other.pan_id, other.mac)
    # Route B restarts for the other PAN; the module finds our meter, not that one.
    assert await rig.driver.join(elsewhere) is JoinOutcome.NO_ANSWER
    assert rig.sim.stats.commands["0058"] >= 1
    assert await rig.driver.join(rig.pan) is JoinOutcome.JOINED


async def test_a_pana_result_after_the_timeout_is_not_taken_for_a_session(
    harness: Harness,
) -> None:
    sim, url = await harness.sim("socket", J11)
    driver = await J11Driver.open(url, timing=J11Timing(command=1.0, boot=2.0, pana=0.0005))
    try:
        events: list[DriverEvent] = []
        driver.on_event = events.append
        await driver.initialise(TEST_RBID, TEST_PASSWORD)
        cfg = sim.config
        pan = PanDescriptor(cfg.channel, cfg.pan_id, cfg.mac)
        assert await driver.join(pan) is JoinOutcome.NO_ANSWER
        await eventually(lambda: sim.dongle.joined)  # the late 0x6028 arrives…
        await asyncio.sleep(0.05)
        assert not driver.joined  # …and is not a re-authentication either
        assert events == []
    finally:
        await driver.stop()


async def test_a_restart_during_pana_ends_the_join(harness: Harness) -> None:
    sim, url = await harness.sim("socket", J11)
    sim.timing = TimingModel(time_scale=0.05)  # PANA takes ~0.1 s: time to pull the plug
    driver = await J11Driver.open(url, timing=J11Timing.fast())
    try:
        events: list[DriverEvent] = []
        driver.on_event = events.append
        await driver.initialise(TEST_RBID, TEST_PASSWORD)
        cfg = sim.config
        join = asyncio.ensure_future(driver.join(PanDescriptor(cfg.channel, cfg.pan_id, cfg.mac)))
        await eventually(lambda: sim.stats.joins == 1)
        sim.faults.dongle_reset(silent=False)
        assert await join is JoinOutcome.NO_ANSWER
        assert events == [DriverEvent.DONGLE_RESET]
    finally:
        await driver.stop()


class ScriptedPort:
    """A socket that answers every request with one fixed frame (or not at all)."""

    def __init__(self, answer: bytes | None) -> None:
        self.answer = answer
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await reader.read(1024):
                if self.answer is not None:
                    writer.write(self.answer)
            writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return f"socket://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def _frame(code: int, data: bytes = b"") -> bytes:
    head = bytes.fromhex("D0F9EE5D") + code.to_bytes(2, "big") + (len(data) + 4).to_bytes(2, "big")
    sums = (sum(head) & 0xFFFF).to_bytes(2, "big") + (sum(data) & 0xFFFF).to_bytes(2, "big")
    return head + sums + data


@pytest.mark.usefixtures("socket_enabled")
@pytest.mark.parametrize(
    ("answer", "text"), [(_frame(0xFFFF), "unknown command"), (_frame(0x2FFF), "header rejected")]
)
async def test_the_modules_error_frames_are_command_errors(answer: bytes, text: str) -> None:
    async with ScriptedPort(answer) as url:
        driver = await J11Driver.open(url, timing=J11Timing.fast())
        try:
            with pytest.raises(CommandError, match=text):
                await driver.check()
        finally:
            await driver.stop()


@pytest.mark.usefixtures("socket_enabled")
async def test_a_module_that_never_boots_is_not_responding() -> None:
    async with ScriptedPort(None) as url:
        driver = await J11Driver.open(url, timing=J11Timing(boot=0.3, command=0.3))
        try:
            with pytest.raises(DongleNotRespondingError):
                await driver.initialise(TEST_RBID, TEST_PASSWORD)
            with pytest.raises(DongleNotRespondingError):
                await driver.check()
        finally:
            await driver.stop()


async def test_a_text_dongle_behind_the_j11_driver_fails_fast(harness: Harness) -> None:
    _sim, url = await harness.sim("socket", DongleModel.BP35C2)
    driver = await J11Driver.open(url, timing=J11Timing.fast())
    try:
        with pytest.raises(DongleNotRespondingError):
            await driver.initialise(TEST_RBID, TEST_PASSWORD)
    finally:
        await driver.stop()
    await driver.stop()  # idempotent


async def _recover(rig: Rig) -> str:
    """The Wi-SUN link's repair ladder, by hand: re-PANA → module reset → rescan."""
    driver = rig.driver
    with contextlib.suppress(BRouteError):
        if await driver.join(rig.pan) is JoinOutcome.JOINED:
            return "re-PANA"
    await driver.initialise(TEST_RBID, TEST_PASSWORD)
    if await driver.join(rig.pan) is JoinOutcome.JOINED:
        return "reset"
    found = await driver.scan(6, PAIR_ID)
    assert found
    assert await driver.join(found[0]) is JoinOutcome.JOINED
    return "rescan"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_every_fault_is_survived_with_the_repair_ladder(
    rig_factory: object, transport: str
) -> None:
    """Each fault, then a read equal to the meter's truth; the rung that cured it."""
    assert callable(rig_factory)
    rig: Rig = await rig_factory(transport)
    await rig.joined()
    sim, faults = rig.sim, rig.sim.faults
    client = await rig.client()
    lost = rig.events.count

    async def read() -> str | None:
        """One read; on failure (or a session known lost) climb the ladder and retry."""
        rung = None
        if lost(DriverEvent.SESSION_LOST) + lost(DriverEvent.DONGLE_RESET) > seen[0]:
            rung = await _recover(rig)
        try:
            values = await client.get(LV_METER_EOJ, [0xE7, 0xE0])
        except BRouteError:
            rung = await _recover(rig)
            values = await client.get(LV_METER_EOJ, [0xE7, 0xE0])
        seen[0] = lost(DriverEvent.SESSION_LOST) + lost(DriverEvent.DONGLE_RESET)
        assert values[0xE7] == sim.meter.read_meter(0xE7)
        assert values[0xE0] == sim.meter.read_meter(0xE0)
        return rung

    seen = [0]

    async def after_event(event: DriverEvent) -> None:
        before = lost(event)
        await eventually(lambda: lost(event) > before)

    faults.expire_session(reauth=True)
    await after_event(DriverEvent.REAUTHENTICATED)
    assert await read() is None
    faults.expire_session(reauth=False)
    await eventually(lambda: not rig.driver.joined)
    assert await read() == "re-PANA"
    faults.end_session()
    await eventually(lambda: not rig.driver.joined)
    assert await read() == "re-PANA"
    faults.dongle_reset(silent=False)
    await eventually(lambda: lost(DriverEvent.DONGLE_RESET) == 1)
    assert await read() == "reset"  # a restarted module forgot the credentials too
    faults.dongle_reset(silent=True)
    assert await read() == "reset"
    faults.pana_stuck()
    faults.expire_session(reauth=True)
    await eventually(lambda: not rig.driver.joined)
    assert await read() == "reset"
    faults.inject_garbage()
    faults.drop_replies(1)
    assert await read() is None
    faults.transmit_limit(0.2)
    await asyncio.sleep(0.3)
    assert await read() is None
    faults.meter_reboot(0.3)
    await asyncio.sleep(0.4)
    assert await read() == "re-PANA"  # the meter forgot the session
    await client.aclose()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_after_an_unplug_a_new_driver_on_the_same_port_recovers(
    rig_factory: object, transport: str
) -> None:
    assert callable(rig_factory)
    rig: Rig = await rig_factory(transport)
    await rig.joined()
    rig.sim.faults.disconnect(0.3)
    await eventually(lambda: bool(rig.lost))
    await rig.driver.stop()
    url = rig.sim.url or rig.sim.path
    assert url is not None
    driver = None
    async with asyncio.timeout(5):
        while driver is None:
            try:
                driver = await J11Driver.open(url, timing=J11Timing.fast(), open_timeout=1.0)
            except BRouteError:  # the port is not back yet
                await asyncio.sleep(0.1)
    rig.driver = driver
    try:
        await rig.joined()
        client = await rig.client()
        assert (await client.get(LV_METER_EOJ, [0xE0]))[0xE0] == rig.sim.meter.read_meter(0xE0)
        await client.aclose()
    finally:
        await driver.stop()
