"""The UDP link through real sockets on loopback, IPv4 and IPv6, against the simulator.

The simulator encodes ECHONET Lite with its own codec, so every round trip here checks
the link and the client against an independent implementation.
"""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from custom_components.broute_meter.broute.echonet import (
    EPC,
    HV_METER_EOJ,
    LV_METER_EOJ,
    Frame,
    decode_cumulative,
    decode_instantaneous_power,
)
from custom_components.broute_meter.broute.errors import (
    InvalidAddressError,
    MeterTimeoutError,
    NetworkPortBusyError,
    NetworkUnreachableError,
    NoAnswerError,
    NotAMeterError,
    SessionUnavailableError,
)
from custom_components.broute_meter.broute.link import LinkState
from custom_components.broute_meter.broute.links.udp import (
    NodeAddress,
    UdpLink,
    UdpTiming,
    _source_address,
    discover,
    parse_address,
    probe,
)
from simulator import HvMeterConfig, SimulatedHvMeter, UdpMeterServer, echonet as sim_echonet

from .udp_harness import FAMILIES, UdpHarness, hosts, wait_for

UDP_LOGGER = "custom_components.broute_meter.broute.links.udp"


# --- addresses -------------------------------------------------------------------------------


def test_parse_address_forms() -> None:
    assert parse_address("192.0.2.7") == NodeAddress("192.0.2.7", 3610)
    assert parse_address(" 192.0.2.7:3611 ") == NodeAddress("192.0.2.7", 3611)
    assert parse_address("FE80::1%lo") == NodeAddress("fe80::1", 3610, "lo")
    assert parse_address("[fe80::1%lo]:4000") == NodeAddress("fe80::1", 4000, "lo")
    assert parse_address("[::1]:4000") == NodeAddress("::1", 4000)
    # A link-local address typed without scope takes the interface chosen in the flow.
    assert parse_address("fe80::2", scope="lo").scope == "lo"
    assert parse_address("2001:db8::1", scope="lo").scope is None
    for text in ("meter.local", "192.0.2.7%eth0", "[::1", "192.0.2.7:0", "[::1]x", ""):
        with pytest.raises(InvalidAddressError):
            parse_address(text)


def test_address_round_trip_and_redaction() -> None:
    for text in ("192.0.2.7", "192.0.2.7:3611", "fe80::1%lo", "[fe80::1%lo]:3611"):
        assert str(parse_address(text)) == text
    link_local = parse_address("fe80::1%lo")
    assert link_local.sockaddr() == ("fe80::1", 3610, 0, socket.if_nametoindex("lo"))
    assert "fe80" not in link_local.redacted()
    assert "192.0.2" not in parse_address("192.0.2.7").redacted()
    with pytest.raises(NetworkUnreachableError):
        parse_address("fe80::1%nosuchif0").sockaddr()


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
async def test_low_voltage_round_trip(udp: UdpHarness, family: str) -> None:
    server = await udp.lv_server(hosts(family)[1])
    link = udp.link(server, family)
    client = await udp.client(link)
    assert link.status.state is LinkState.UP
    meter = server.meter
    assert isinstance(link.identification, str)
    assert link.identification.startswith("FE000016")  # 0xFE + the maker code
    values = await client.get(LV_METER_EOJ, [EPC.FORWARD_ENERGY, EPC.INSTANTANEOUS_POWER])
    assert decode_cumulative(values[EPC.FORWARD_ENERGY]) == meter.forward_raw()  # type: ignore[attr-defined]
    assert decode_instantaneous_power(values[EPC.INSTANTANEOUS_POWER]) == meter.power_w()  # type: ignore[attr-defined]


@pytest.mark.parametrize("family", FAMILIES)
async def test_high_voltage_round_trip(udp: UdpHarness, family: str) -> None:
    server = await udp.hv_server(hosts(family)[1])
    client = await udp.client(udp.link(server, family))
    values = await client.get(HV_METER_EOJ, [0xE5, 0xE6, 0xD3])
    assert values == {0xE5: b"\x08", 0xE6: b"\x01", 0xD3: (40).to_bytes(4, "big")}


async def test_meter_answering_to_port_3610_style(udp: UdpHarness) -> None:
    """A node that answers to a fixed port (3610 in the field) reaches the link's port."""
    server = await udp.lv_server("127.0.0.2")
    probe_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe_sock.bind(("127.0.0.1", 0))
    port = probe_sock.getsockname()[1]
    probe_sock.close()
    link = udp.link(server, "ipv4", local_port=port)
    server.reply_port = port
    client = await udp.client(link)
    assert await client.get(LV_METER_EOJ, [EPC.DIGITS]) == {EPC.DIGITS: b"\x06"}


async def test_notifications_from_the_meter_reach_the_client(udp: UdpHarness) -> None:
    server = await udp.lv_server("127.0.0.2")
    frames: list[Frame] = []
    client = await udp.client(udp.link(server, "ipv4"), on_notification=frames.append)
    await client.get(LV_METER_EOJ, [EPC.DIGITS])  # the simulator learns where we are
    server.notify(server.meter.fixed_time_inf())  # type: ignore[attr-defined]
    await wait_for(lambda: bool(frames))
    assert frames[0].seoj == LV_METER_EOJ
    assert EPC.FIXED_TIME_FORWARD in frames[0].values()


# --- discovery and probe -------------------------------------------------------------------


async def test_multicast_discovery_lists_both_meters(udp: UdpHarness) -> None:
    lv = await udp.lv_server("127.0.0.2")
    hv = await udp.hv_server("127.0.0.3", port=lv.port)
    loop = asyncio.get_running_loop()
    start = loop.time()
    nodes = await discover(
        target=f"224.0.23.0:{lv.port}", local_host="127.0.0.1", local_port=0, wait=1.0
    )
    assert loop.time() - start < 1.5  # the wait, not more
    by_host = {node.address.host: node for node in nodes}
    assert set(by_host) == {"127.0.0.2", "127.0.0.3"}
    assert by_host["127.0.0.2"].meter_class == "low_voltage"
    assert by_host["127.0.0.2"].meter_eoj == LV_METER_EOJ
    assert by_host["127.0.0.3"].meter_class == "high_voltage"
    assert by_host["127.0.0.3"].maker_code == 0x16
    assert by_host["127.0.0.3"].identification == hv.meter.identification.hex().upper()  # type: ignore[attr-defined]


async def test_ipv6_discovery_to_a_configured_target(udp: UdpHarness) -> None:
    hv = await udp.hv_server("::1")
    nodes = await discover(target=f"[::1]:{hv.port}", local_host="::1", local_port=0, wait=1.0)
    assert [node.meter_class for node in nodes] == ["high_voltage"]
    assert nodes[0].address.host == "::1"


async def test_discovery_with_nobody_there_is_empty(udp: UdpHarness) -> None:
    port = _free_port()
    assert (
        await discover(target=f"224.0.23.0:{port}", local_host="127.0.0.1", local_port=0, wait=0.2)
        == []
    )


@pytest.mark.parametrize("family", FAMILIES)
async def test_probe(udp: UdpHarness, family: str) -> None:
    client_host, meter_host, _ = hosts(family)
    hv = await udp.hv_server(meter_host)
    node = await probe(hv.address, local_host=client_host, local_port=0, wait=1.0)
    assert node.is_meter
    assert node.meter_class == "high_voltage"
    with pytest.raises(NoAnswerError) as err:
        await probe(
            f"[{meter_host}]:{_free_port()}"
            if family == "ipv6"
            else f"{meter_host}:{_free_port()}",
            local_host=client_host,
            local_port=0,
            wait=0.2,
        )
    assert err.value.translation_key == "network_no_answer"


async def test_probe_of_a_node_without_a_meter(udp: UdpHarness) -> None:
    server = UdpMeterServer(_AirConditionerNode(), host="127.0.0.2")
    await udp._start(server)
    with pytest.raises(NotAMeterError) as err:
        await probe(server.address, local_host="127.0.0.1", local_port=0, wait=1.0)
    assert err.value.translation_key == "network_not_a_meter"


async def test_probe_errors_before_sending(socket_enabled: None) -> None:
    with pytest.raises(InvalidAddressError):
        await probe("not an address")
    with pytest.raises(InvalidAddressError):
        await probe("224.0.23.0")
    with pytest.raises(NetworkUnreachableError):
        await probe("fe80::1%nosuchif0", local_host="::1", local_port=0, wait=0.1)
    # A link-local address on lo: the kernel refuses at once (and nothing leaves lo).
    with pytest.raises(NetworkUnreachableError) as err:
        await probe("fe80::1%lo", local_host="::1", local_port=0, wait=2.0)
    assert err.value.translation_key == "network_unreachable"


# --- opening --------------------------------------------------------------------------------


async def test_open_fails_without_an_answer(udp: UdpHarness) -> None:
    link = UdpLink(
        f"127.0.0.2:{_free_port()}", local_host="127.0.0.1", local_port=0, timing=UdpTiming.fast()
    )
    with pytest.raises(NoAnswerError):
        await link.open()
    assert link.status.state is LinkState.DOWN
    assert link.local_address is None  # the socket was released


async def test_open_reports_a_busy_port(udp: UdpHarness) -> None:
    server = await udp.lv_server("127.0.0.2")
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no SO_REUSEADDR
    holder.bind(("127.0.0.1", 0))
    try:
        link = udp.link(server, "ipv4", local_port=holder.getsockname()[1])
        with pytest.raises(NetworkPortBusyError) as err:
            await link.open()
        assert err.value.translation_key == "network_port_busy"
    finally:
        holder.close()


async def test_open_finds_a_moved_meter_by_identification(udp: UdpHarness) -> None:
    hv = await udp.hv_server("127.0.0.2")
    ident = hv.meter.identification.hex()  # type: ignore[attr-defined]
    await hv.move("127.0.0.3")
    moved: list[NodeAddress] = []
    link = UdpLink(
        f"127.0.0.2:{hv.port}",
        identification=ident,
        local_host="127.0.0.1",
        local_port=0,
        timing=UdpTiming.fast(),
        discovery_target=f"224.0.23.0:{hv.port}",
    )
    udp.links.append(link)
    link.on_address_change = moved.append
    await link.open()
    assert link.address == NodeAddress("127.0.0.3", hv.port)
    assert moved == [link.address]


# --- what is not the meter ------------------------------------------------------------------


async def test_frames_from_another_sender_are_ignored(udp: UdpHarness) -> None:
    server = await udp.lv_server("127.0.0.2")
    link = udp.link(server, "ipv4")
    client = await udp.client(link)
    local = link.local_address
    assert local is not None
    server.silent = True
    intruder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    intruder.bind(("127.0.0.3", 0))
    try:
        task = asyncio.create_task(client.get(LV_METER_EOJ, [EPC.INSTANTANEOUS_POWER]))
        await asyncio.sleep(0.05)
        for tid in range(1, 5):  # a perfect answer to every TID the client may use
            forged = sim_echonet.Frame(
                tid,
                sim_echonet.METER_EOJ,
                sim_echonet.CONTROLLER_EOJ,
                sim_echonet.GET_RES,
                [(0xE7, (1234).to_bytes(4, "big"))],
            )
            intruder.sendto(forged.encode(), ("127.0.0.1", local.port))
        with pytest.raises(MeterTimeoutError):
            await task
    finally:
        intruder.close()
    assert link.dropped["other_sender"] >= 1


async def test_junk_is_dropped_and_logged_once_per_interval(
    udp: UdpHarness, caplog: pytest.LogCaptureFixture
) -> None:
    server = await udp.lv_server("127.0.0.2")
    link = udp.link(
        server,
        "ipv4",
        timing=UdpTiming(
            probe_timeout=0.5, discovery_timeout=0.5, repair_interval=0.1, log_interval=60.0
        ),
    )
    client = await udp.client(link)
    await client.get(LV_METER_EOJ, [EPC.DIGITS])
    caplog.set_level(logging.DEBUG)
    sent = 0
    for _ in range(5):  # a flood, in bursts small enough for the socket buffer
        sent += server.send_junk(repeat=4)
        await asyncio.sleep(0.02)
    await wait_for(lambda: link.dropped["malformed"] >= sent * 0.9)
    # The meter still answers normally in between.
    assert await client.get(LV_METER_EOJ, [EPC.DIGITS]) == {EPC.DIGITS: b"\x06"}
    warnings = [r for r in caplog.records if r.name == UDP_LOGGER and r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "Dropped" in warnings[0].getMessage()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_junk_report_repeats_after_the_interval(
    udp: UdpHarness, caplog: pytest.LogCaptureFixture
) -> None:
    server = await udp.lv_server("127.0.0.2")
    link = udp.link(server, "ipv4", timing=UdpTiming(probe_timeout=0.5, log_interval=1.0))
    client = await udp.client(link)
    await client.get(LV_METER_EOJ, [EPC.DIGITS])
    caplog.set_level(logging.WARNING, logger=UDP_LOGGER)
    server.send_junk()
    await wait_for(lambda: link.dropped["malformed"] >= 5)
    server.send_junk()
    await asyncio.sleep(1.05)
    server.send_junk()
    await wait_for(lambda: link.dropped["malformed"] >= 20)
    warnings = [r for r in caplog.records if r.name == UDP_LOGGER]
    assert len(warnings) == 2


# --- faults and recovery -------------------------------------------------------------------


async def test_address_change_found_again_by_identification(udp: UdpHarness) -> None:
    hv = await udp.hv_server("127.0.0.2")
    link = udp.link(hv, "ipv4")
    client = await udp.client(link)
    moved: list[NodeAddress] = []
    link.on_address_change = moved.append
    await client.get(HV_METER_EOJ, [0xE5])
    await hv.move("127.0.0.3")  # a new DHCP lease
    with pytest.raises(MeterTimeoutError):
        await client.get(HV_METER_EOJ, [0xE5])  # the poll that finds it gone
    assert link.status.state in (LinkState.REPAIRING, LinkState.UP)
    await wait_for(lambda: link.status.state is LinkState.UP)
    # The next poll works again: recovery within one poll.
    assert await client.get(HV_METER_EOJ, [0xE5]) == {0xE5: b"\x08"}
    assert link.address.host == "127.0.0.3"
    assert moved == [link.address]
    assert link.address_changes == 1


async def test_another_node_at_the_old_address_is_not_taken_for_the_meter(
    udp: UdpHarness,
) -> None:
    hv = await udp.hv_server("127.0.0.2")
    link = udp.link(hv, "ipv4")
    client = await udp.client(link)
    await hv.move("127.0.0.3")
    other = await udp.lv_server("127.0.0.2", port=hv.port)  # took over the old address
    with pytest.raises(MeterTimeoutError):
        await client.get(HV_METER_EOJ, [0xE5])
    await wait_for(lambda: link.status.state is LinkState.UP)
    assert link.address.host == "127.0.0.3"
    assert other.requests >= 1


@pytest.mark.parametrize("family", FAMILIES)
async def test_reboot_recovery(udp: UdpHarness, family: str) -> None:
    server = await udp.lv_server(hosts(family)[1])
    link = udp.link(server, family)
    client = await udp.client(link)
    await client.get(LV_METER_EOJ, [EPC.DIGITS])
    server.reboot(1.5)  # longer than one request with its retry
    with pytest.raises(MeterTimeoutError):
        await client.get(LV_METER_EOJ, [EPC.DIGITS])
    assert link.status.state is LinkState.REPAIRING
    with pytest.raises(SessionUnavailableError):  # requests fail at once while lost
        await client.get(LV_METER_EOJ, [EPC.DIGITS])
    took = await wait_for(lambda: link.status.state is LinkState.UP)
    assert took < 3.0  # the rest of the silence, then one repair round
    assert await client.get(LV_METER_EOJ, [EPC.DIGITS]) == {EPC.DIGITS: b"\x06"}
    assert link.repairs == 1
    assert link.address.host == hosts(family)[1]


async def test_close_stops_a_repair(udp: UdpHarness) -> None:
    server = await udp.lv_server("127.0.0.2")
    link = udp.link(server, "ipv4")
    client = await udp.client(link)
    server.silent = True
    with pytest.raises(MeterTimeoutError):
        await client.get(LV_METER_EOJ, [EPC.DIGITS])
    assert link.status.state is LinkState.REPAIRING
    await link.close()
    assert link.status.state is LinkState.DOWN
    assert link.diagnostics()["kind"] == "udp"


def test_diagnostics_hold_no_address() -> None:
    link = UdpLink("192.0.2.7", identification="FE0000160102")
    text = repr(link.diagnostics())
    assert "192.0.2" not in text
    assert "FE0000160102" not in text


# --- helpers -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class _AirConditionerNode:
    """An ECHONET Lite node whose only device is a home air conditioner (0x0130)."""

    def handle(self, request: sim_echonet.Frame) -> list[tuple[sim_echonet.Frame, bool]]:
        if request.deoj[:2] != sim_echonet.NODE_PROFILE_EOJ[:2] or request.esv != sim_echonet.GET:
            return []
        table = {
            0xD6: bytes.fromhex("01013001"),
            0x83: bytes.fromhex("FE000008") + bytes(13),
            0x8A: bytes.fromhex("000008"),
        }
        props = [(epc, table.get(epc, b"")) for epc, _ in request.props]
        frame = sim_echonet.Frame(
            request.tid, sim_echonet.NODE_PROFILE_EOJ, request.seoj, sim_echonet.GET_RES, props
        )
        return [(frame, False)]

    def reset_state(self) -> None:
        return

    def instance_list_inf(self) -> sim_echonet.Frame:
        return sim_echonet.Frame(
            0,
            sim_echonet.NODE_PROFILE_EOJ,
            sim_echonet.NODE_PROFILE_EOJ,
            sim_echonet.INF,
            [(0xD5, bytes.fromhex("01013001"))],
        )


async def test_requests_on_the_segment_are_ignored_quietly(
    udp: UdpHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """Another controller's Get (or our own multicast looped back) is not junk."""
    server = await udp.lv_server("127.0.0.2")
    link = udp.link(server, "ipv4")
    frames: list[Frame] = []
    client = await udp.client(link, on_notification=frames.append)
    local = link.local_address
    assert local is not None
    caplog.set_level(logging.DEBUG, logger=UDP_LOGGER)
    request = sim_echonet.Frame(
        1,
        sim_echonet.CONTROLLER_EOJ,
        sim_echonet.NODE_PROFILE_EOJ,
        sim_echonet.GET,
        [(0xD6, b"")],
    )
    server.send(request.encode(), ("127.0.0.1", local.port))  # even from the meter's address
    await asyncio.sleep(0.05)
    assert link.dropped == {"malformed": 0, "other_sender": 0}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert frames == []
    assert await client.get(LV_METER_EOJ, [EPC.DIGITS]) == {EPC.DIGITS: b"\x06"}


async def test_two_meters_share_the_local_port(udp: UdpHarness) -> None:
    """Two entries (or a flow's probe beside a running entry) all bind port 3610: every
    answer reaches its owner whichever socket the kernel handed it to."""
    port = _free_port()
    lv = await udp.lv_server("127.0.0.2")
    hv = await udp.hv_server("127.0.0.3")
    lv.reply_port = hv.reply_port = port  # both answer to "3610" only
    lv_client = await udp.client(udp.link(lv, "ipv4", local_port=port))
    hv_client = await udp.client(udp.link(hv, "ipv4", local_port=port))
    for _ in range(3):
        lv_values, hv_values = await asyncio.gather(
            lv_client.get(LV_METER_EOJ, [EPC.DIGITS]), hv_client.get(HV_METER_EOJ, [0xE5])
        )
        assert lv_values == {EPC.DIGITS: b"\x06"}
        assert hv_values == {0xE5: b"\x08"}
    # A config flow probing the high-voltage meter again while both links run.
    node = await probe(hv.address, local_host="127.0.0.1", local_port=port, wait=1.0)
    assert node.meter_class == "high_voltage"
    assert await lv_client.get(LV_METER_EOJ, [EPC.DIGITS]) == {EPC.DIGITS: b"\x06"}
    assert udp.links[0].dropped["other_sender"] == 0


async def test_discovery_hears_a_d5_announcement(udp: UdpHarness) -> None:
    """A node that misses the group Get but announces itself (INF of D5) is listed."""
    port = _free_port()
    # Not in the group: deaf to the multicast Get.
    late = UdpMeterServer(
        SimulatedHvMeter(HvMeterConfig(), udp.clock), host="127.0.0.2", group=None
    )
    await udp._start(late)
    late.controller = ("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    loop.call_later(0.1, late.announce)
    nodes = await discover(
        target=f"224.0.23.0:{late.port}", local_host="127.0.0.1", local_port=port, wait=1.0
    )
    assert [node.meter_class for node in nodes] == ["high_voltage"]
    assert nodes[0].identification is not None  # asked again by unicast


async def test_ipv4_interface_by_name(udp: UdpHarness) -> None:
    """The flow may name the interface ("lo" here) instead of giving one of its addresses."""
    server = await udp.hv_server("127.0.0.2")
    nodes = await discover(
        target=f"224.0.23.0:{server.port}",
        local_host="127.0.0.1",
        local_port=0,
        interface="lo",
        wait=1.0,
    )
    assert [node.address.host for node in nodes] == ["127.0.0.2"]


async def test_discovery_family_argument(udp: UdpHarness) -> None:
    server = await udp.hv_server("127.0.0.2")
    with pytest.raises(InvalidAddressError):
        await discover(family="ipx")
    nodes = await discover(
        family="ipv4",
        target=f"224.0.23.0:{server.port}",
        local_host="127.0.0.1",
        local_port=0,
        wait=1.0,
    )
    assert len(nodes) == 1


async def test_discovery_falls_back_to_an_ephemeral_port_when_the_port_is_held(
    udp: UdpHarness,
) -> None:
    """Another program holds the local port exclusively: discovery still finds the meter."""
    server = await udp.hv_server("127.0.0.2")
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no SO_REUSEADDR
    holder.bind(("127.0.0.1", 0))
    try:
        nodes = await discover(
            target=f"224.0.23.0:{server.port}",
            local_host="127.0.0.1",
            local_port=holder.getsockname()[1],
            wait=1.0,
        )
    finally:
        holder.close()
    assert [node.meter_class for node in nodes] == ["high_voltage"]


async def test_ipv6_interface_by_index(udp: UdpHarness) -> None:
    """An interface given as its number (as in fe80::1%1) is taken as the index."""
    server = await udp.hv_server("::1")
    nodes = await discover(
        target=f"[::1]:{server.port}",
        local_host="::1",
        local_port=0,
        interface=str(socket.if_nametoindex("lo")),
        wait=1.0,
    )
    assert [node.meter_class for node in nodes] == ["high_voltage"]


async def test_discovery_on_an_unknown_interface_is_refused(udp: UdpHarness) -> None:
    with pytest.raises(NetworkUnreachableError) as err:
        await discover(family="ipv4", local_host="127.0.0.1", interface="nosuchif0", wait=0.1)
    assert err.value.translation_key == "network_unreachable"


async def test_link_as_a_context_manager_with_a_failing_listener(
    udp: UdpHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """``async with`` opens and closes; a listener that raises is logged, the others still
    hear every change and the link keeps working."""
    server = await udp.lv_server("127.0.0.2")
    link = udp.link(server, "ipv4")
    heard: list[LinkState] = []

    def broken(status: object) -> None:
        raise RuntimeError("listener bug")

    link.add_status_listener(broken)
    link.add_status_listener(lambda status: heard.append(status.state))
    async with link as opened:
        assert opened is link
        assert link.status.state is LinkState.UP
        client = await udp.client(link)
        values = await client.get(LV_METER_EOJ, [EPC.INSTANTANEOUS_POWER])
        assert decode_instantaneous_power(values[EPC.INSTANTANEOUS_POWER]) == server.meter.power_w()  # type: ignore[attr-defined]
    assert link.status.state is LinkState.DOWN
    assert heard[-1] is LinkState.DOWN
    assert LinkState.UP in heard
    assert "Link status listener failed" in caplog.text


async def test_datagram_handler_failure_does_not_stop_the_link(
    udp: UdpHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that raises on one datagram is logged; the next datagram still arrives."""
    server = await udp.lv_server("127.0.0.2")
    link = udp.link(server, "ipv4")
    client = await udp.client(link)
    deliver = link.on_datagram
    assert deliver is not None
    calls = 0

    def flaky(payload: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("handler bug")
        deliver(payload)

    link.on_datagram = flaky
    # The first answer is lost to the handler; the client's retry is answered.
    values = await client.get(LV_METER_EOJ, [EPC.INSTANTANEOUS_POWER])
    assert calls == 2
    assert "Datagram handler failed" in caplog.text
    assert decode_instantaneous_power(values[EPC.INSTANTANEOUS_POWER]) == server.meter.power_w()  # type: ignore[attr-defined]


def test_sender_addresses_as_the_socket_reports_them() -> None:
    """What recvfrom gives on a dual-stack socket: an IPv4 sender as ::ffff:a.b.c.d is
    the IPv4 node; a link-local sender carries its scope (in the host or the tuple)."""
    assert _source_address(("::ffff:192.168.1.20", 3610, 0, 0)) == NodeAddress("192.168.1.20", 3610)
    assert _source_address(("fe80::1", 3610, 0, 2)) == NodeAddress("fe80::1", 3610, "2")
    assert _source_address(("fe80::1%eth0", 3610, 0, 2)) == NodeAddress("fe80::1", 3610, "eth0")
    assert _source_address(("not-an-address", 3610)) is None
