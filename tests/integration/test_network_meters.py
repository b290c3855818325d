"""Meters on the network, end to end: config flow, coordinator and entities over UDP.

Simulated meters (``UdpMeterServer``) answer on loopback: IPv4 on 127.0.0.2 with real
multicast on lo, IPv6 on ::1 (Linux's loopback has no IPv6 multicast, so discovery
asks ::1 directly). Nothing is mocked between the flow and the simulator's socket.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import json
import math
import socket
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, EntityCategory
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.broute_meter import coordinator_network, network_flow
from custom_components.broute_meter.broute.links.udp import UdpTiming
from custom_components.broute_meter.const import CONF_ADDRESS, DOMAIN, ISSUE_METER_NOT_FOUND
from custom_components.broute_meter.history import Direction
from simulator import JST, ManualClock, UdpMeterServer
from tests.broute.test_udp_link import _AirConditionerNode
from tests.broute.udp_harness import FAMILIES, TIMING, UdpHarness, hosts, wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from homeassistant.config_entries import ConfigEntry
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import issue_registry as ir
    from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

pytestmark = pytest.mark.parametrize("family", FAMILIES)


@pytest.fixture
async def udp(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[UdpHarness]:
    harness = UdpHarness()
    monkeypatch.setattr(coordinator_network, "CLIENT_TIMING", TIMING)
    yield harness
    await harness.close()


def point_at(monkeypatch: pytest.MonkeyPatch, server_port: int) -> None:
    """The integration's sockets on loopback, discovery at the simulators' port."""
    settings = network_flow.NetworkSettings(
        local_hosts={"ipv4": "127.0.0.1", "ipv6": "::1"},
        local_port=0,
        discovery_targets={
            "ipv4": f"224.0.23.0:{server_port}",
            "ipv6": f"[::1]:{server_port}",
        },
        wait=0.5,
        timing=UdpTiming.fast(),
    )
    monkeypatch.setattr(network_flow, "SETTINGS", settings)


def free_port(family: str) -> int:
    """A UDP port nobody listens on at the family's meter address."""
    host = hosts(family)[1]
    with socket.socket(
        socket.AF_INET if family == "ipv4" else socket.AF_INET6, socket.SOCK_DGRAM
    ) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


async def start_network(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert set(result["menu_options"]) == {"wisun", "network"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "network"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "network"
    return dict(result)


async def add_by_address(hass: HomeAssistant, address: str) -> ConfigEntry[Any]:
    result = await start_network(hass)
    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_ADDRESS: address})
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    await hass.async_block_till_done()
    entry: ConfigEntry[Any] = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    return entry


def state_of(hass: HomeAssistant, entry: ConfigEntry[Any], key: str) -> float:
    entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{entry.unique_id}_{key}")
    assert entity_id is not None, key
    state = hass.states.get(entity_id)
    assert state is not None
    return float(state.state)


async def test_high_voltage_meter_found_by_discovery(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    meter: Any = server.meter
    result = await start_network(hass)
    result = dict(await hass.config_entries.flow.async_configure(result["flow_id"], {}))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "network_pick"
    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ADDRESS: server.address}
        )
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry: ConfigEntry[Any] = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert entry.unique_id == meter.identification.hex()

    assert state_of(hass, entry, "hv_energy") == float(meter.energy_kwh())
    assert state_of(hass, entry, "hv_demand") == float(meter.demand_kw())
    assert state_of(hass, entry, "hv_monthly_max_demand") == float(meter.monthly_max_demand_kw())
    assert state_of(hass, entry, "hv_cumulative_max_demand") == float(
        meter.cumulative_max_demand_kw()
    )
    assert state_of(hass, entry, "hv_reactive_energy") == float(meter.reactive_kvarh())
    # The power factor of the last complete slot, at once after start-up.
    end = meter.latest_boundary()
    p = float(meter.energy_kwh(end) - meter.energy_kwh(end - timedelta(minutes=30)))
    q = float(meter.reactive_kvarh(end) - meter.reactive_kvarh(end - timedelta(minutes=30)))
    assert state_of(hass, entry, "hv_power_factor") == round(100 * p / math.hypot(p, q), 1)

    # The same meter again: already configured.
    result = await start_network(hass)
    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ADDRESS: server.address}
        )
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


def entity_of(hass: HomeAssistant, entry: ConfigEntry[Any], platform: str, key: str) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{entry.unique_id}_{key}")
    assert entity_id is not None, key
    return entity_id


@pytest.mark.parametrize("reactive", [True, False])
async def test_high_voltage_meter_fault(
    hass: HomeAssistant,
    udp: UdpHarness,
    family: str,
    reactive: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The meter's fault status, as on a low-voltage entry; read every poll when it fits."""
    server = await udp.hv_server(hosts(family)[1], reactive=reactive)
    point_at(monkeypatch, server.port)
    meter: Any = server.meter
    entry = await add_by_address(hass, server.address)
    entity_id = entity_of(hass, entry, "binary_sensor", "fault")
    registered = er.async_get(hass).async_get(entity_id)
    assert registered is not None
    assert registered.translation_key == "fault"
    assert registered.entity_category is EntityCategory.DIAGNOSTIC
    assert registered.disabled_by is None
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_OFF
    assert state.attributes["device_class"] == "problem"

    meter.config.fault = True
    coordinator = entry.runtime_data.coordinator
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    if reactive:
        # A full poll frame: the status comes with the once-per-slot frame.
        assert hass.states.get(entity_id).state == STATE_OFF  # type: ignore[union-attr]
        udp.clock.advance(30 * 60)
        await coordinator.async_refresh()
        await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == STATE_ON  # type: ignore[union-attr]

    server.reboot(1.0)
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(entity_id).state == STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_low_voltage_meter_on_the_network(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await udp.lv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    meter: Any = server.meter
    entry = await add_by_address(hass, server.address)
    assert state_of(hass, entry, "power") == meter.power_w()
    assert state_of(hass, entry, "energy_import") == float(meter.forward_kwh())
    # No Wi-SUN radio on this path: no signal strength or channel entity at all.
    keys = {
        reg.unique_id.removeprefix(f"{entry.unique_id}_")
        for reg in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
    }
    assert {"power", "energy_import"} <= keys
    assert not keys & {"rssi", "channel"}


async def test_release_r_low_voltage_meter_on_the_network(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Release R meter offers C0 (the B-route ID); a network entry has no ID to match."""
    server = await udp.lv_server(hosts(family)[1], release="R")
    point_at(monkeypatch, server.port)
    meter: Any = server.meter
    entry = await add_by_address(hass, server.address)
    assert state_of(hass, entry, "power") == meter.power_w()
    assert entry.runtime_data.coordinator.route_b_id_facts["present"] is True
    assert "equals_auth_id" not in entry.runtime_data.coordinator.route_b_id_facts


async def test_errors_are_form_errors(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    meter_host = hosts(family)[1]
    other = UdpMeterServer(_AirConditionerNode(), host=meter_host)
    await udp._start(other)
    point_at(monkeypatch, other.port)
    silent = (
        f"[{meter_host}]:{free_port(family)}"
        if family == "ipv6"
        else f"{meter_host}:{free_port(family)}"
    )
    for typed, error in (
        (silent, "no_answer"),
        (other.address, "not_a_meter"),
        ("192.0.2.300", "invalid_address"),
        ("meter.local", "invalid_address"),
    ):
        result = await start_network(hass)
        result = dict(
            await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_ADDRESS: typed})
        )
        assert result["type"] is FlowResultType.FORM, typed
        assert result["step_id"] == "network"
        assert result["errors"] == {"base": error}, typed
    # Discovery that finds only a node without a meter.
    result = await start_network(hass)
    result = dict(await hass.config_entries.flow.async_configure(result["flow_id"], {}))
    assert result["errors"] == {"base": "no_meters_found"}


async def test_recovers_after_the_meter_reboots(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    coordinator = entry.runtime_data.coordinator
    server.reboot(1.0)
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    # Awake again: the link's repair finds it, and the next poll reads it.
    await wait_for(lambda: not server.silent, limit=5.0)
    await wait_for(lambda: coordinator.link.status.up, limit=5.0)
    await coordinator.async_refresh()
    assert coordinator.last_update_success
    assert state_of(hass, entry, "hv_energy") == float(server.meter.energy_kwh())  # type: ignore[attr-defined]


async def test_reconfigure_moves_a_network_entry(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    result = dict(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
    )
    assert result["step_id"] == "network_reconfigure"
    # Nothing answers at the typed address: a form error, the entry keeps its address.
    silent = (
        f"[{hosts(family)[1]}]:{free_port(family)}"
        if family == "ipv6"
        else f"{hosts(family)[1]}:{free_port(family)}"
    )
    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_ADDRESS: silent})
    )
    assert result["errors"] == {"base": "no_answer"}
    if family == "ipv4":
        await server.move(hosts(family)[2])
    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ADDRESS: server.address}
        )
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_ADDRESS] == server.address
    assert entry.state is ConfigEntryState.LOADED


async def test_a_moved_meter_is_found_and_its_address_stored(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if family == "ipv6":
        pytest.skip("a second IPv6 loopback address does not exist")
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    coordinator = entry.runtime_data.coordinator
    await server.move(hosts(family)[2])
    await coordinator.async_refresh()  # fails: the meter is gone from its address
    await wait_for(lambda: coordinator.link.status.up, limit=5.0)
    await coordinator.async_refresh()
    assert coordinator.last_update_success
    assert entry.data[CONF_ADDRESS] == server.address == f"127.0.0.3:{server.port}"


async def test_diagnostics_redact_the_address(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    udp: UdpHarness,
    family: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    diag = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diag)
    assert server.address not in text
    if family == "ipv4":
        assert server.host not in text
    assert str(entry.unique_id) not in text.lower()
    assert diag["entry"]["data"][CONF_ADDRESS] == "**REDACTED**"
    assert diag["meter"]["billing_day"] == server.meter.config.billing_day  # type: ignore[attr-defined]


async def test_high_voltage_history_becomes_hourly_statistics(
    hass: HomeAssistant, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if family == "ipv6":
        pytest.skip("the history path does not depend on the IP version")
    # The importer goes by Home Assistant's clock: the meter's must agree with it.
    harness = UdpHarness(clock=ManualClock(dt_util.now().astimezone(JST)))
    monkeypatch.setattr(coordinator_network, "CLIENT_TIMING", TIMING)
    try:
        server = await harness.hv_server(hosts(family)[1])
        point_at(monkeypatch, server.port)
        meter: Any = server.meter
        entry = await add_by_address(hass, server.address)
        history = entry.runtime_data.history
        assert history is not None
        await history.async_wait_idle()
        await async_wait_recording_done(hass)
        stat_id = history.statistic_id(Direction.IMPORT)
        found = await get_instance(hass).async_add_executor_job(
            statistics_during_period,
            hass,
            dt_util.utcnow() - timedelta(days=3),
            None,
            {stat_id},
            "hour",
            None,
            {"state", "sum"},
        )
        rows = found.get(stat_id, [])
        assert len(rows) >= 24
        for row in rows:
            start = dt_util.utc_from_timestamp(row["start"])
            end_kwh = meter.energy_kwh(start + timedelta(hours=1))
            assert row["state"] == pytest.approx(float(end_kwh), abs=1e-9)

        # How far the statistics reach, as on a low-voltage entry: a diagnostic sensor,
        # disabled by default, that follows the history job once enabled.
        ent_reg = er.async_get(hass)
        entity_id = entity_of(hass, entry, "sensor", "history_imported_until")
        registered = ent_reg.async_get(entity_id)
        assert registered is not None
        assert registered.translation_key == "history_imported_until"
        assert registered.entity_category is EntityCategory.DIAGNOSTIC
        assert registered.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert hass.states.get(entity_id) is None
        ent_reg.async_update_entity(entity_id, disabled_by=None)
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        history = entry.runtime_data.history
        assert history is not None
        await history.async_wait_idle()
        await hass.async_block_till_done()
        imported_until = history.status.imported_until
        assert imported_until is not None
        last_end = dt_util.utc_from_timestamp(rows[-1]["start"]) + timedelta(hours=1)
        assert imported_until >= last_end
        state = hass.states.get(entity_id)
        assert state is not None
        assert dt_util.parse_datetime(state.state) == imported_until
        assert state.attributes["device_class"] == "timestamp"
    finally:
        await hass.config_entries.async_unload(entry.entry_id)
        await harness.close()


async def test_the_form_offers_home_assistant_s_interfaces(
    hass: HomeAssistant, family: str
) -> None:
    if family == "ipv6":
        pytest.skip("one form for both families")
    result = await start_network(hass)
    schema = result["data_schema"].schema
    interface = next(value for key, value in schema.items() if str(key) == "interface")
    options = interface.config["options"]
    # Home Assistant's network settings list this machine's interfaces (which ones
    # depends on the machine; never none).
    assert options
    assert set(options) <= {name for _, name in socket.if_nameindex()}
    assert interface.config["custom_value"] is True


async def test_repair_issue_while_the_network_meter_stays_unreachable(
    hass: HomeAssistant,
    udp: UdpHarness,
    family: str,
    monkeypatch: pytest.MonkeyPatch,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The Wi-SUN path's repair issue (grace compressed to one second), gone once back."""
    monkeypatch.setattr(coordinator_network, "METER_NOT_FOUND_GRACE", timedelta(seconds=1))
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    coordinator = entry.runtime_data.coordinator
    issue_id = f"{ISSUE_METER_NOT_FOUND}_{entry.entry_id}"
    server.reboot(4.0)
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None  # not yet: a blip
    await asyncio.sleep(1.1)
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == ISSUE_METER_NOT_FOUND
    await wait_for(lambda: not server.silent, limit=6.0)
    await wait_for(lambda: coordinator.link.status.up, limit=5.0)
    await coordinator.async_refresh()
    assert coordinator.last_update_success
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_reconfigure_refuses_another_meter(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Typing the address of a different meter aborts; the entry keeps its own address."""
    server = await udp.hv_server(hosts(family)[1])
    other = await udp.lv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    result = dict(
        await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
        )
    )
    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ADDRESS: other.address}
        )
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_meter"
    await hass.async_block_till_done()
    assert entry.data[CONF_ADDRESS] == server.address
    assert entry.state is ConfigEntryState.LOADED


async def test_setup_retries_while_the_network_meter_is_silent(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A meter that does not answer when Home Assistant starts: retried, then loaded."""
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    entry = await add_by_address(hass, server.address)
    assert await hass.config_entries.async_unload(entry.entry_id)
    server.reboot(3.0)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    await wait_for(lambda: not server.silent, limit=6.0)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert state_of(hass, entry, "hv_energy") == float(server.meter.energy_kwh())  # type: ignore[attr-defined]


# Addresses this machine does not have (documentation ranges): binding to them fails.
NOT_LOCAL = {"ipv4": "192.0.2.1", "ipv6": "2001:db8::1"}


async def test_discovery_uses_the_family_that_works(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A family this host cannot use (no such address, no IPv6) does not hide the other."""
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    other = "ipv6" if family == "ipv4" else "ipv4"
    network_flow.SETTINGS.local_hosts[other] = NOT_LOCAL[other]
    result = await start_network(hass)
    result = dict(await hass.config_entries.flow.async_configure(result["flow_id"], {}))
    assert result["type"] is FlowResultType.FORM, result.get("errors")
    assert result["step_id"] == "network_pick"
    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ADDRESS: server.address}
        )
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_discovery_with_neither_family_usable_is_a_form_error(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if family == "ipv6":
        pytest.skip("one discovery covers both families")
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    network_flow.SETTINGS.local_hosts.update(NOT_LOCAL)
    result = await start_network(hass)
    result = dict(await hass.config_entries.flow.async_configure(result["flow_id"], {}))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "network"
    assert result["errors"] == {"base": "network_unreachable"}


async def test_the_form_takes_a_typed_interface_without_network_settings(
    hass: HomeAssistant, udp: UdpHarness, family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Home Assistant's network settings unavailable: the interface is a text field and
    a meter typed by address is still added."""

    async def no_adapters(hass: HomeAssistant) -> list[Any]:
        raise HomeAssistantError("network integration not loaded")

    # Only as this integration sees it: Home Assistant's own setup still lists them.
    monkeypatch.setattr(network_flow, "network", SimpleNamespace(async_get_adapters=no_adapters))
    server = await udp.hv_server(hosts(family)[1])
    point_at(monkeypatch, server.port)
    result = await start_network(hass)
    schema = result["data_schema"].schema
    interface = next(value for key, value in schema.items() if str(key) == "interface")
    assert "options" not in getattr(interface, "config", {})
    entry = await add_by_address(hass, server.address)
    assert entry.unique_id == server.meter.identification.hex()  # type: ignore[attr-defined]
