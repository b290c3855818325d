"""Availability of meters on the network follows the UDP link, as over Wi-SUN.

The entries poll at the shipped interval (30 s), longer than any test here: after the
one poll that meets the silent meter, only the link's state reports can bring the
values back. The client's timing is the compressed one with the shipped retries and
unresponsive count. Real datagrams on loopback against the simulated meters.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, callback
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.broute_meter import coordinator_network
from custom_components.broute_meter.broute.client import ClientTiming
from custom_components.broute_meter.broute.link import LinkState, LinkStatus
from custom_components.broute_meter.const import DOMAIN
from tests.broute.udp_harness import FAMILIES, UdpHarness, hosts, wait_for

from .test_network_meters import add_by_address, point_at

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant

    from simulator import UdpMeterServer

pytestmark = pytest.mark.parametrize("family", FAMILIES)

TIMING = ClientTiming.fast()
STALE_LIMIT = 1.0
#: Once the meter answers again: the next probe of its address (0.1 s with the tests'
#: UDP timing), a round trip and the refresh, plus slack for a loaded machine.
BACK_LIMIT = 0.1 + 0.5 + 0.4


@pytest.fixture
async def udp(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[UdpHarness]:
    harness = UdpHarness()
    monkeypatch.setattr(coordinator_network, "CLIENT_TIMING", TIMING)
    yield harness
    await harness.close()


async def _server(udp: UdpHarness, kind: str, family: str) -> UdpMeterServer:
    if kind == "hv":
        return await udp.hv_server(hosts(family)[1])
    return await udp.lv_server(hosts(family)[1])


def _entity(hass: HomeAssistant, entry: ConfigEntry[Any], kind: str) -> str:
    key = "hv_energy" if kind == "hv" else "power"
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{entry.unique_id}_{key}")
    assert entity_id is not None
    return entity_id


def _link(entry: ConfigEntry[Any]) -> Any:
    coordinator = entry.runtime_data.coordinator
    return coordinator.link if hasattr(coordinator, "link") else coordinator.connection.link


def _watch(
    hass: HomeAssistant, entry: ConfigEntry[Any], entity_id: str
) -> tuple[list[tuple[float, str]], list[tuple[float, LinkState]]]:
    loop = asyncio.get_running_loop()
    states: list[tuple[float, str]] = []
    links: list[tuple[float, LinkState]] = []

    @callback
    def on_state(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if event.data["entity_id"] == entity_id and new is not None:
            states.append((loop.time(), new.state))

    @callback
    def on_link(status: LinkStatus) -> None:
        links.append((loop.time(), status.state))

    entry.async_on_unload(hass.bus.async_listen(EVENT_STATE_CHANGED, on_state))
    entry.async_on_unload(_link(entry).add_status_listener(on_link))
    return states, links


@pytest.mark.parametrize("kind", ["lv", "hv"])
async def test_silent_meter_is_unavailable_then_back_as_soon_as_it_answers(
    hass: HomeAssistant,
    udp: UdpHarness,
    family: str,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await _server(udp, kind, family)
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    entity_id = _entity(hass, entry, kind)
    states, links = _watch(hass, entry, entity_id)
    coordinator = entry.runtime_data.coordinator
    loop = asyncio.get_running_loop()

    server.silent = True
    silenced = loop.time()
    await coordinator.async_refresh()  # the one poll that meets the silence
    await hass.async_block_till_done()
    assert not coordinator.last_update_success
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    gone = next(at for at, value in states if value == STATE_UNAVAILABLE)
    assert gone - silenced <= TIMING.request_budget + STALE_LIMIT
    # Known lost once the request failed its retries: the link looks for the meter.
    assert [s for _, s in links] == [LinkState.REPAIRING]

    await asyncio.sleep(0.5)
    server.silent = False
    answering = loop.time()
    await wait_for(
        lambda: any(at > answering and value != STATE_UNAVAILABLE for at, value in states),
        limit=5.0,
    )
    back = next(at for at, value in states if at > answering and value != STATE_UNAVAILABLE)
    assert back - answering <= BACK_LIMIT
    assert [s for _, s in links] == [LinkState.REPAIRING, LinkState.UP]
    assert coordinator.last_update_success


@pytest.mark.parametrize("kind", ["lv", "hv"])
async def test_one_dropped_reply_does_not_flap(
    hass: HomeAssistant,
    udp: UdpHarness,
    family: str,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await _server(udp, kind, family)
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    entity_id = _entity(hass, entry, kind)
    states, links = _watch(hass, entry, entity_id)
    coordinator = entry.runtime_data.coordinator
    server.drop_replies(1)
    ignored = server.ignored
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert server.ignored == ignored + 1
    assert coordinator.last_update_success
    assert links == []
    assert all(value != STATE_UNAVAILABLE for _, value in states)


async def test_moved_meter_is_back_without_a_poll(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new address (DHCP): the failed poll starts the search, the entry polls again."""
    if family == "ipv6":
        pytest.skip("a second IPv6 loopback address does not exist")
    server = await udp.lv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    entity_id = _entity(hass, entry, "lv")
    _states, links = _watch(hass, entry, entity_id)
    coordinator = entry.runtime_data.coordinator
    await server.move(hosts(family)[2])
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert not coordinator.last_update_success
    await wait_for(lambda: coordinator.last_update_success, limit=5.0)
    await hass.async_block_till_done()
    assert [s for _, s in links] == [LinkState.REPAIRING, LinkState.UP]
    assert hass.states.get(entity_id).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
