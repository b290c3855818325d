"""The B-route ID and password never leave the config entry's data.

A whole life of an entry runs with DEBUG logging on every logger (serialx's byte dumps,
the SKSTACK traffic log, the simulator's own log included): set-up through the config
flow, polls, faults, credentials reissued by the utility, reauthentication, more
polls. Then every place a secret could surface is searched, in any letter case: log
records (formatted with their arguments and tracebacks), diagnostics, exception
messages, entity states and attributes, the device registry, repair issues and
config-flow results (a form may echo what the user just typed, never what is stored).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest

from custom_components.broute_meter.const import CONF_PASSWORD, CONF_RBID, DOMAIN
from custom_components.broute_meter.diagnostics import async_get_config_entry_diagnostics
from simulator import TEST_PASSWORD, TEST_RBID, DongleModel

from ..helpers import finish_probe
from .conftest import SimFactory, port_of

if TYPE_CHECKING:
    from collections.abc import Iterator

    from homeassistant.config_entries import ConfigEntry, ConfigFlowResult
    from homeassistant.core import HomeAssistant

    from simulator import Simulator

pytestmark = pytest.mark.usefixtures("integration", "session_timing", "unload_entries")

NEW_PASSWORD = "ZYXWVUT98765"
SECRETS = (TEST_RBID, TEST_PASSWORD, NEW_PASSWORD)


def leaks(text: str) -> list[str]:
    folded = text.casefold()
    return [secret for secret in SECRETS if secret.casefold() in folded]


def exception_chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


@pytest.fixture
def debug_everywhere(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """DEBUG on the root logger and on every logger that has a level of its own.

    Except SQLAlchemy's SQL echo: it repeats the recorder's rows (entity states, which
    the test reads directly) and, through the harness's import-time stderr handler,
    would flood the test run's output.
    """
    caplog.set_level(logging.DEBUG)
    changed: list[tuple[logging.Logger, int]] = []
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("sqlalchemy"):
            continue
        logger = logging.getLogger(name)
        if logger.level > logging.DEBUG:
            changed.append((logger, logger.level))
            logger.setLevel(logging.DEBUG)
    yield
    for logger, level in changed:
        logger.setLevel(level)


async def settle(hass: HomeAssistant, seconds: float = 0.05) -> None:
    await asyncio.sleep(seconds)
    await hass.async_block_till_done()


async def poll(hass: HomeAssistant, entry: ConfigEntry[Any], times: int = 1) -> None:
    for _ in range(times):
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()


async def poll_until_ok(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    for _ in range(100):
        await poll(hass, entry)
        if entry.runtime_data.coordinator.last_update_success:
            return
        await settle(hass)
    raise AssertionError("the meter did not come back")


def visible_part(result: ConfigFlowResult) -> str:
    """What a flow result shows; a created entry's own data is where secrets belong."""
    shown = {k: v for k, v in result.items() if k not in ("data", "result", "data_schema")}
    schema = result.get("data_schema")
    suggested = (
        {
            str(key): (key.description or {}).get("suggested_value")
            for key in schema.schema
            if hasattr(key, "description")
        }
        if schema is not None
        else {}
    )
    return repr(shown) + repr(suggested)


@pytest.mark.parametrize(
    ("transport", "model"),
    [
        ("pty", DongleModel.BP35A1),
        ("socket", DongleModel.BP35C2),
        ("pty", DongleModel.BP35C2_J11),
    ],
)
async def test_secrets_appear_nowhere(
    hass: HomeAssistant,
    make_simulator: SimFactory,
    caplog: pytest.LogCaptureFixture,
    debug_everywhere: None,
    transport: str,
    model: DongleModel,
) -> None:
    """A full life of an entry: the ID and the password are found nowhere but in its data."""
    sim = await make_simulator(pty=transport == "pty", model=model)
    flow_views: list[str] = []

    # Set up through the config flow (a scan, a join, the identity read).
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "wisun"}
    )
    flow_views.append(visible_part(result))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_DEVICE: port_of(sim), CONF_RBID: TEST_RBID, CONF_PASSWORD: TEST_PASSWORD},
    )
    result = await finish_probe(hass, result)
    flow_views.append(visible_part(result))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    # Polls through faults: junk, stray PANA, session loss, a reset and a lost link.
    await poll(hass, entry, 2)
    sim.faults.inject_garbage()
    sim.faults.inject_stray_pana()
    sim.faults.expire_session(reauth=False)
    await settle(hass)
    await poll_until_ok(hass, entry)
    sim.faults.dongle_reset(silent=True)
    await poll_until_ok(hass, entry)
    sim.faults.disconnect(0.2)
    await settle(hass)
    await poll_until_ok(hass, entry)
    if model.j11:
        # Stuck PANA: the repair ladder resets the module, which gets the credentials again.
        sim.faults.pana_stuck()
        sim.faults.expire_session(reauth=True)
        await settle(hass)
        await poll_until_ok(hass, entry)

    # The utility reissues the password: the session is rejected, reauth starts.
    reissue(sim)
    sim.faults.end_session()
    for _ in range(60):
        await poll(hass, entry)
        flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if any(flow["context"]["source"] == "reauth" for flow in flows):
            break
        await settle(hass)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    flow_views.append(repr(flows))
    # The reauth form as it first appears: nothing stored is sent back to the UI.
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"])
    flow_views.append(visible_part(result))
    assert result["step_id"] == "reauth_confirm"
    result = await finish_probe(
        hass,
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_RBID: TEST_RBID, CONF_PASSWORD: NEW_PASSWORD}
        ),
    )
    flow_views.append(visible_part(result))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_PASSWORD] == NEW_PASSWORD
    await poll_until_ok(hass, entry)
    sim.faults.expire_session(reauth=True)
    await settle(hass)
    await poll_until_ok(hass, entry)

    traffic = "j11.traffic" if model.j11 else "skstack.traffic"
    found = search_everywhere(hass, entry, caplog, flow_views, traffic)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    text = json.dumps(diagnostics, default=str)
    found += [f"diagnostics: {s}" for s in leaks(text)]
    # Diagnostics also keep the meter's identity out: MAC, IPv6, unique IDs, pairing ID.
    mac = sim.config.mac
    for identity in (mac, sim.config.ipv6, TEST_RBID[-8:], entry.unique_id or "-"):
        assert identity.casefold() not in text.casefold(), identity
    assert found == []


def reissue(sim: Simulator) -> None:
    """The meter now accepts only the new password."""
    sim.password = NEW_PASSWORD


def search_everywhere(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    caplog: pytest.LogCaptureFixture,
    flow_views: list[str],
    traffic: str,
) -> list[str]:
    found: list[str] = []
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    records = caplog.records
    assert len(records) > 100  # DEBUG really was on
    assert any(r.name.endswith(traffic) for r in records)  # the dongle's traffic log was on
    for record in records:
        text = formatter.format(record) + repr(record.args)
        found += [f"log {record.name}: {s}" for s in leaks(text)]
    coordinator = entry.runtime_data.coordinator
    for exc in [
        *exception_chain(coordinator.last_exception),
        *exception_chain(coordinator.connection.link.last_error),
    ]:
        found += [f"exception {type(exc).__name__}: {s}" for s in leaks(f"{exc} {exc!r}")]
    found += [f"connection repr: {s}" for s in leaks(repr(coordinator.connection))]
    found += [f"entry reason: {s}" for s in leaks(str(entry.reason))]
    for state in hass.states.async_all():
        found += [f"state {state.entity_id}: {s}" for s in leaks(repr(state.as_dict()))]
    for device in dr.async_get(hass).devices:
        found += [f"device: {s}" for s in leaks(repr(device))]
    for issue in ir.async_get(hass).issues.values():
        found += [f"issue {issue.issue_id}: {s}" for s in leaks(repr(issue.to_json()))]
    for view in flow_views:
        found += [f"config flow: {s}" for s in leaks(view)]
    return found
