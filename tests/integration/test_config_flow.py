"""Config flow: user, USB discovery, reauth, reconfigure and options, all live against the
simulator (or against ports that fail in the specific way a user would meet)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
import socket
from typing import TYPE_CHECKING

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE, Platform
from homeassistant.core import callback
from homeassistant.data_entry_flow import (
    EVENT_DATA_ENTRY_FLOW_PROGRESSED,
    FlowResultType,
    InvalidData,
)
from homeassistant.helpers.selector import SerialPortSelector, TextSelector
from homeassistant.helpers.service_info.usb import UsbServiceInfo
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import serialx

from custom_components.broute_meter import config_flow
from custom_components.broute_meter.broute import errors as broute_errors
from custom_components.broute_meter.broute.errors import BRouteError
from custom_components.broute_meter.const import (
    CONF_HISTORY_DAYS,
    CONF_PAN,
    CONF_PASSWORD,
    CONF_RBID,
    CONF_SCAN_INTERVAL,
    CONF_USB_SERIAL,
    DOMAIN,
)
from simulator import TEST_PASSWORD, TEST_RBID

from .conftest import entry_for, port_of

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from homeassistant.config_entries import ConfigFlowResult
    from homeassistant.core import HomeAssistant
    from homeassistant.helpers import device_registry as dr, entity_registry as er

    from simulator import Simulator

    from .conftest import SimFactory

SIM_MAC = "001d129012345678"  # MeterConfig's default MAC, lower-cased as the unique ID
CREDENTIALS = {CONF_RBID: TEST_RBID, CONF_PASSWORD: TEST_PASSWORD}
INTEGRATION = Path(config_flow.__file__).parent


async def finish_probe(hass: HomeAssistant, result: ConfigFlowResult) -> ConfigFlowResult:
    """Wait for the live probe behind a progress step and return what follows it.

    A probe that ended within the flow's quick-result window has no progress step:
    its outcome is the answer to the form itself.
    """
    if result["type"] is not FlowResultType.SHOW_PROGRESS:
        return result
    assert result["progress_action"] == "probe"
    await hass.async_block_till_done()
    return await hass.config_entries.flow.async_configure(result["flow_id"])


async def start_user(hass: HomeAssistant) -> ConfigFlowResult:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "wisun"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "wisun"
    return result


async def submit_user(
    hass: HomeAssistant, result: ConfigFlowResult, device: str, **overrides: str
) -> ConfigFlowResult:
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: device, **CREDENTIALS, **overrides}
    )


def free_port() -> int:
    """A 127.0.0.1 port nobody listens on (bound and released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- the user's way in ------------------------------------------------------------------


async def test_user_flow_creates_the_entry(hass: HomeAssistant, simulator: Simulator) -> None:
    """Port + credentials -> scan, join, identity -> one entry keyed by the meter's MAC."""
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(simulator)))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # Maker 0x000016 (Toshiba in the ECHONET code table) and the 8D serial number.
    assert result["title"] == "Toshiba SIM00000001"
    entry = result["result"]
    assert entry.unique_id == SIM_MAC
    assert entry.data[CONF_DEVICE] == port_of(simulator)
    assert entry.data[CONF_RBID] == TEST_RBID
    assert entry.data[CONF_PASSWORD] == TEST_PASSWORD
    # The scan result is stored, so a restart joins without scanning.
    cfg = simulator.config
    pan = entry.data[CONF_PAN]
    assert (pan["channel"], pan["pan_id"], pan["mac"].lower()) == (
        cfg.channel,
        cfg.pan_id,
        SIM_MAC,
    )
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    scans = simulator.stats.scans
    # Setting up the entry joined with the stored PAN: no second scan.
    assert scans == 1


async def test_user_flow_over_a_pty(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """A local serial device works the same as a network port."""
    sim = await make_simulator(pty=True)
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(sim)))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == SIM_MAC


async def test_title_without_maker_or_serial(
    hass: HomeAssistant, make_simulator: SimFactory
) -> None:
    """A meter that does not answer 8A/8D still gets set up, under a generic title."""
    sim = await make_simulator()
    # The meter ignores the identity Get and both of its retries.
    sim.faults.drop_replies(3)
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(sim)))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Smart meter"
    assert sim.stats.faults["drop_reply"] == 3


async def test_title_of_an_unlisted_maker(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """A maker code missing from the table leaves the serial number as the title."""
    sim = await make_simulator(maker_code=0xFFFFF0, serial="A1B2C3")
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(sim)))
    assert result["title"] == "A1B2C3"


@pytest.mark.parametrize(
    ("overrides", "field", "error"),
    [
        ({CONF_RBID: TEST_RBID[:-1]}, CONF_RBID, "rbid_length"),
        ({CONF_RBID: TEST_RBID + "0"}, CONF_RBID, "rbid_length"),
        ({CONF_RBID: TEST_RBID[:16] + " " + TEST_RBID[17:]}, CONF_RBID, "rbid_invalid_characters"),
        # A CR/LF inside would end the SKSETRBID command and start another one.
        ({CONF_RBID: TEST_RBID[:16] + "\r\nSKRESET"}, CONF_RBID, "rbid_invalid_characters"),
        ({CONF_RBID: "０" + TEST_RBID[1:]}, CONF_RBID, "rbid_invalid_characters"),
        ({CONF_PASSWORD: TEST_PASSWORD[:-1]}, CONF_PASSWORD, "password_length"),
        ({CONF_PASSWORD: "0123 56789AB"}, CONF_PASSWORD, "password_invalid_characters"),
        ({CONF_PASSWORD: "0123\n56789AB"}, CONF_PASSWORD, "password_invalid_characters"),
        ({CONF_PASSWORD: "0123\x0056789A"}, CONF_PASSWORD, "password_invalid_characters"),
        ({CONF_PASSWORD: "パスワード1234567"}, CONF_PASSWORD, "password_invalid_characters"),
    ],
)
async def test_credentials_checked_before_any_io(
    hass: HomeAssistant,
    simulator: Simulator,
    overrides: dict[str, str],
    field: str,
    error: str,
) -> None:
    """Malformed credentials never reach the dongle; the form says what is wrong."""
    result = await start_user(hass)
    result = await submit_user(hass, result, port_of(simulator), **overrides)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "wisun"
    assert result["errors"] == {field: error}
    assert simulator.stats.connections == 0


async def test_surrounding_blanks_are_dropped(hass: HomeAssistant, simulator: Simulator) -> None:
    """A pasted ID with a trailing newline or spaces is taken without them."""
    result = await start_user(hass)
    result = await submit_user(
        hass,
        result,
        port_of(simulator),
        **{CONF_RBID: f" {TEST_RBID}\n", CONF_PASSWORD: f"{TEST_PASSWORD} "},
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_RBID] == TEST_RBID
    assert result["data"][CONF_PASSWORD] == TEST_PASSWORD


@pytest.fixture
async def silent_port() -> AsyncGenerator[str]:
    """A network port that accepts the connection and never says a word."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"socket://127.0.0.1:{port}"
    server.close()
    await server.wait_closed()


def suggested_values(result: ConfigFlowResult) -> dict[str, str]:
    """What a form comes back filled in with."""
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


async def probe_error(hass: HomeAssistant, device: str) -> dict[str, str]:
    """Run the user flow against ``device`` and return the form's errors."""
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, device))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "wisun"
    errors = result["errors"]
    assert errors is not None
    # The form comes back filled in; the password only when it is not the suspect.
    expected = {CONF_DEVICE: device, **CREDENTIALS}
    if "invalid_auth" in errors.values():
        del expected[CONF_PASSWORD]
    assert suggested_values(result) == expected
    return errors


async def test_error_port_not_found(hass: HomeAssistant, socket_enabled: None) -> None:
    """A device path that does not exist (dongle unplugged, typo)."""
    assert await probe_error(hass, "/dev/serial/by-id/usb-missing-dongle-if00") == {
        CONF_DEVICE: "port_not_found"
    }


async def test_error_port_busy(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """Another program holds the dongle (serialx's exclusive lock)."""
    sim = await make_simulator(pty=True)
    _, writer = await serialx.open_serial_connection(port_of(sim), baudrate=115200)
    try:
        assert await probe_error(hass, port_of(sim)) == {CONF_DEVICE: "port_busy"}
    finally:
        writer.close()
        await writer.wait_closed()


async def test_error_cannot_connect(hass: HomeAssistant, socket_enabled: None) -> None:
    """Nothing listens on the network port (ser2net down, wrong address)."""
    assert await probe_error(hass, f"socket://127.0.0.1:{free_port()}") == {
        CONF_DEVICE: "cannot_connect"
    }


async def test_error_dongle_not_responding(hass: HomeAssistant, silent_port: str) -> None:
    """The port opens but no SKSTACK-IP dongle answers."""
    assert await probe_error(hass, silent_port) == {CONF_DEVICE: "dongle_not_responding"}


async def test_error_meter_not_found(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """Only meters of other households (another PairID) answer the scans."""
    sim = await make_simulator()
    sim.pans.clear()
    sim.faults.second_meter()
    assert await probe_error(hass, port_of(sim)) == {"base": "meter_not_found"}
    assert sim.stats.scans >= 1


async def test_error_meter_out_of_reach(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """Our meter is only heard with longer scans than the flow makes (too far away)."""
    sim = await make_simulator(min_scan_duration=12)
    assert await probe_error(hass, port_of(sim)) == {"base": "meter_not_found"}


async def test_error_invalid_auth(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """The meter rejects the password (PANA EVENT 24)."""
    sim = await make_simulator()
    sim.password = "BA9876543210"
    assert await probe_error(hass, port_of(sim)) == {CONF_PASSWORD: "invalid_auth"}


async def test_error_port_unusable(hass: HomeAssistant, socket_enabled: None) -> None:
    """A port URL nothing can open is reported as such (with the accepted forms)."""
    assert await probe_error(hass, "nosuchscheme://127.0.0.1:1") == {CONF_DEVICE: "port_unusable"}


async def test_errors_then_success(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """After a refused input and a failed probe, the same flow can still be completed."""
    sim = await make_simulator()
    result = await start_user(hass)
    result = await submit_user(hass, result, port_of(sim), **{CONF_PASSWORD: "short"})
    assert result["errors"] == {CONF_PASSWORD: "password_length"}
    result = await finish_probe(hass, await submit_user(hass, result, f"{port_of(sim)}9"))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"]
    result = await finish_probe(hass, await submit_user(hass, result, port_of(sim)))
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_a_quick_failure_is_answered_on_the_form(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """A port that fails at once gives the form back with its error, no progress screen.

    A progress step that ended before the browser subscribed to its event would spin
    forever in the frontend.
    """
    result = await start_user(hass)
    result = await submit_user(hass, result, f"socket://127.0.0.1:{free_port()}")
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_DEVICE: "cannot_connect"}


async def test_progress_outlasts_the_browser_subscribing(
    hass: HomeAssistant, socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A probe failing right after the progress screen appeared waits before saying so."""
    monkeypatch.setattr(config_flow, "QUICK_RESULT_SECONDS", 0.0)
    monkeypatch.setattr(config_flow, "MIN_PROGRESS_SECONDS", 0.5)
    progressed = asyncio.Event()
    hass.bus.async_listen(EVENT_DATA_ENTRY_FLOW_PROGRESSED, callback(lambda _: progressed.set()))
    result = await start_user(hass)
    result = await submit_user(hass, result, f"socket://127.0.0.1:{free_port()}")
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    started = asyncio.get_running_loop().time()
    await asyncio.sleep(0.3)  # the probe itself failed in milliseconds
    assert not progressed.is_set()
    await asyncio.wait_for(progressed.wait(), timeout=5)
    assert asyncio.get_running_loop().time() - started >= 0.45
    result = await hass.config_entries.flow.async_configure(result["flow_id"])
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "wisun"
    assert result["errors"] == {CONF_DEVICE: "cannot_connect"}


async def test_port_of_a_loaded_entry_is_refused_untouched(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """A second entry on the port a running entry uses never opens it."""
    connections = simulator.stats.connections
    result = await start_user(hass)
    result = await submit_user(hass, result, port_of(simulator))
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_DEVICE: "port_in_use"}
    assert result["description_placeholders"] == {"entry_title": loaded_entry.title}
    assert simulator.stats.connections == connections
    await loaded_entry.runtime_data.coordinator.async_refresh()
    assert loaded_entry.runtime_data.coordinator.last_update_success
    assert loaded_entry.state is ConfigEntryState.LOADED


async def test_a_typed_port_comes_back_in_a_text_box(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """A URL the port picker does not list is shown as typed, not as an unknown item."""
    url = f"socket://127.0.0.1:{free_port()}"
    result = await start_user(hass)
    (device_key,) = (key for key in result["data_schema"].schema if str(key) == CONF_DEVICE)
    assert isinstance(result["data_schema"].schema[device_key], SerialPortSelector)
    result = await submit_user(hass, result, url)
    (device_key,) = (key for key in result["data_schema"].schema if str(key) == CONF_DEVICE)
    assert isinstance(result["data_schema"].schema[device_key], TextSelector)
    assert suggested_values(result)[CONF_DEVICE] == url


def _all_library_errors() -> list[BRouteError]:
    classes = [
        cls
        for cls in vars(broute_errors).values()
        if isinstance(cls, type) and issubclass(cls, BRouteError)
    ]
    return [
        cls("SKJOIN", "ER10") if cls is broute_errors.CommandError else cls("test")
        for cls in classes
    ]


@pytest.mark.parametrize("err", _all_library_errors(), ids=lambda err: type(err).__name__)
def test_every_library_error_has_a_message(err: BRouteError) -> None:
    """No library error ends as "unknown"; each key has its text in English and Japanese."""
    field, key = config_flow.form_error(err)
    assert key != "unknown"
    assert field in ("base", CONF_DEVICE, CONF_PASSWORD)
    for name in ("strings.json", "translations/en.json", "translations/ja.json"):
        strings = json.loads((INTEGRATION / name).read_text(encoding="utf-8"))
        assert strings["config"]["error"][key]


async def test_same_meter_twice_aborts(hass: HomeAssistant, simulator: Simulator) -> None:
    """A second entry for the same meter is refused; the first follows the new port."""
    existing = entry_for(simulator)
    existing.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        existing, data={**existing.data, CONF_DEVICE: "/dev/ttyUSB7"}
    )
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(simulator)))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert existing.data[CONF_DEVICE] == port_of(simulator)
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


# --- USB discovery ----------------------------------------------------------------------


def usb_info(device: str, serial_number: str | None = "P0001") -> UsbServiceInfo:
    return UsbServiceInfo(
        device=device,
        vid="0403",
        pid="6015",
        serial_number=serial_number,
        manufacturer="RATOC Systems,Inc.",
        description="RS-WSUHA-P",
    )


async def test_usb_discovery(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """A plugged-in dongle is offered; confirm, enter the credentials, done."""
    sim = await make_simulator(pty=True)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "usb"}, data=usb_info(port_of(sim))
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "usb_confirm"
    assert "RS-WSUHA-P" in result["description_placeholders"]["name"]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "credentials"
    bad = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**CREDENTIALS, CONF_PASSWORD: "short"}
    )
    assert bad["type"] is FlowResultType.FORM
    assert bad["errors"] == {CONF_PASSWORD: "password_length"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], CREDENTIALS)
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == SIM_MAC
    assert result["data"][CONF_DEVICE] == port_of(sim)
    assert result["data"][CONF_USB_SERIAL] == "P0001"


async def test_usb_discovery_of_a_port_in_use(hass: HomeAssistant, socket_enabled: None) -> None:
    """A dongle an entry already uses is not offered again."""
    MockConfigEntry(
        domain=DOMAIN, unique_id=SIM_MAC, data={CONF_DEVICE: "/dev/ttyUSB0", **CREDENTIALS}
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "usb"}, data=usb_info("/dev/ttyUSB0", serial_number=None)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_usb_rediscovery_on_a_new_path_updates_the_port(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    """The same dongle (same USB serial) on another path moves its entry, no questions."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=SIM_MAC,
        data={CONF_DEVICE: "/dev/ttyUSB0", CONF_USB_SERIAL: "P0001", **CREDENTIALS},
    )
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "usb"}, data=usb_info("/dev/ttyUSB7", serial_number="P0001")
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_DEVICE] == "/dev/ttyUSB7"
    assert entry.data[CONF_RBID] == TEST_RBID  # the credentials stay as they were
    # Another dongle (another serial) on that path is a new device: offered, not merged.
    other = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "usb"}, data=usb_info("/dev/ttyUSB8", serial_number="P0002")
    )
    assert other["type"] is FlowResultType.FORM
    assert entry.data[CONF_DEVICE] == "/dev/ttyUSB7"


async def test_usb_discovery_once_per_dongle(hass: HomeAssistant, socket_enabled: None) -> None:
    """The same dongle announced twice gives one flow."""
    first = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "usb"}, data=usb_info("/dev/ttyUSB3")
    )
    assert first["type"] is FlowResultType.FORM
    second = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "usb"}, data=usb_info("/dev/ttyUSB3")
    )
    assert second["type"] is FlowResultType.ABORT
    assert second["reason"] == "already_in_progress"


# --- reauthentication -------------------------------------------------------------------


async def test_reauth_after_reissued_credentials(hass: HomeAssistant, simulator: Simulator) -> None:
    """Rejected credentials start reauth; the new ones are stored and the entry loads."""
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, data={**entry.data, CONF_PASSWORD: "OLDPASSWORD1"}
    )
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    flow_id = flows[0]["flow_id"]

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_RBID: TEST_RBID, CONF_PASSWORD: "STILLWRONG12"}
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(flow_id, CREDENTIALS)
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_PASSWORD] == TEST_PASSWORD
    assert entry.state is ConfigEntryState.LOADED


async def test_reauth_while_loaded_frees_the_port(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """The entry holds the dongle; reauth unloads it to probe, and restores it on failure."""
    result = await loaded_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    bad = {CONF_RBID: TEST_RBID, CONF_PASSWORD: "WRONGWRONG12"}
    result = await finish_probe(
        hass, await hass.config_entries.flow.async_configure(result["flow_id"], bad)
    )
    assert result["errors"] == {CONF_PASSWORD: "invalid_auth"}
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED
    result = await finish_probe(
        hass, await hass.config_entries.flow.async_configure(result["flow_id"], CREDENTIALS)
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED


async def test_reauth_with_a_replaced_meter(
    hass: HomeAssistant,
    simulator: Simulator,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
) -> None:
    """The utility swapped the meter: the entry and its entities follow the new one."""
    old_mac = "001d1290aaaaaaaa"
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, unique_id=old_mac)
    device = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, old_mac)}
    )
    power = entity_registry.async_get_or_create(
        Platform.SENSOR, DOMAIN, f"{old_mac}_power", config_entry=entry, device_id=device.id
    )
    result = await entry.start_reauth_flow(hass)
    result = await finish_probe(
        hass, await hass.config_entries.flow.async_configure(result["flow_id"], CREDENTIALS)
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.unique_id == SIM_MAC
    assert entry.state is ConfigEntryState.LOADED
    moved = entity_registry.async_get(power.entity_id)
    assert moved is not None
    assert moved.unique_id == f"{SIM_MAC}_power"
    state = hass.states.get(power.entity_id)
    assert state is not None
    assert int(state.state) == simulator.meter.power_w()
    # Same device, now identified by the new meter, with the new meter's serial number.
    moved_device = device_registry.async_get(device.id)
    assert moved_device is not None
    assert moved_device.identifiers == {(DOMAIN, SIM_MAC)}
    assert moved_device.serial_number == simulator.config.serial


async def test_reauth_finding_another_entrys_meter(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """If the new credentials reach a meter another entry already has, stop."""
    MockConfigEntry(
        domain=DOMAIN, unique_id=SIM_MAC, data={CONF_DEVICE: "/dev/ttyUSB9", **CREDENTIALS}
    ).add_to_hass(hass)
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, unique_id="001d1290bbbbbbbb")
    result = await entry.start_reauth_flow(hass)
    result = await finish_probe(
        hass, await hass.config_entries.flow.async_configure(result["flow_id"], CREDENTIALS)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.unique_id == "001d1290bbbbbbbb"


async def test_reauth_form_checks_the_credentials(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    result = await entry.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_RBID: "tooshort", CONF_PASSWORD: TEST_PASSWORD}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_RBID: "rbid_length"}


# --- reconfiguration --------------------------------------------------------------------


async def test_reconfigure_same_port_relinks(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, simulator: Simulator
) -> None:
    """Probing the port the entry holds unloads it first, then reloads it."""
    result = await loaded_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: port_of(simulator)}
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert loaded_entry.state is ConfigEntryState.LOADED


async def test_reconfigure_to_another_port(hass: HomeAssistant, make_simulator: SimFactory) -> None:
    """The dongle moved (e.g. to a network serial server): the entry follows."""
    old = await make_simulator()
    new = await make_simulator(pty=True)
    entry = entry_for(old)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: "/dev/does-not-exist"}
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_DEVICE: "port_not_found"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: port_of(new)}
    )
    result = await finish_probe(hass, result)
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_DEVICE] == port_of(new)
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_to_another_meter_aborts(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """A port that leads to a different meter is refused and the entry is put back."""
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, unique_id="001d1290cccccccc")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: port_of(simulator)}
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_meter"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.unique_id == "001d1290cccccccc"


async def test_reconfigure_with_unusable_stored_credentials(
    hass: HomeAssistant, simulator: Simulator
) -> None:
    """Credentials that no longer pass the session's checks give "unknown", not a crash."""
    entry = entry_for(simulator)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_RBID: "not-an-id"})
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE: port_of(simulator)}
    )
    result = await finish_probe(hass, result)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "unknown"}


# --- options ----------------------------------------------------------------------------


async def test_options(hass: HomeAssistant, loaded_entry: MockConfigEntry) -> None:
    """The poll interval and history depth; the entry reloads with them."""
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 45, CONF_HISTORY_DAYS: 7}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded_entry.options == {CONF_SCAN_INTERVAL: 45, CONF_HISTORY_DAYS: 7}
    assert loaded_entry.state is ConfigEntryState.LOADED
    coordinator = loaded_entry.runtime_data.coordinator
    assert coordinator.update_interval is not None
    assert coordinator.update_interval.total_seconds() == 45


@pytest.mark.parametrize("interval", [9, 3601])
async def test_options_reject_out_of_range(
    hass: HomeAssistant, loaded_entry: MockConfigEntry, interval: int
) -> None:
    """Faster than every 10 s would eat into the radio's transmit budget."""
    result = await hass.config_entries.options.async_init(loaded_entry.entry_id)
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_SCAN_INTERVAL: interval, CONF_HISTORY_DAYS: 7}
        )


async def test_credentials_never_logged(
    hass: HomeAssistant, simulator: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Even at debug level, with the dongle echoing every command, no credential is logged."""
    caplog.set_level(logging.DEBUG)
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(simulator)))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await result["result"].runtime_data.coordinator.async_refresh()
    assert "SKSETPWD" in caplog.text  # the dongle traffic was logged...
    assert TEST_PASSWORD not in caplog.text  # ...without the secrets in it
    assert TEST_RBID not in caplog.text


async def test_user_flow_when_the_ports_cannot_be_listed(
    hass: HomeAssistant, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Home Assistant failing to list the serial ports does not block the flow: the
    typed port is probed and the entry created."""

    async def no_ports(hass: HomeAssistant) -> list[object]:
        raise OSError("udev is gone")

    monkeypatch.setattr(config_flow.usb, "async_scan_serial_ports", no_ports)
    result = await start_user(hass)
    result = await finish_probe(hass, await submit_user(hass, result, port_of(simulator)))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].data[CONF_DEVICE] == port_of(simulator)
