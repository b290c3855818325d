"""Config flow: pick the dongle, enter the B-route credentials, find the meter."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import os
from typing import TYPE_CHECKING, Any, Final, override

from homeassistant.components import usb
from homeassistant.components.usb.consumers import async_get_serial_port_consumers
from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_DEVICE
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import AbortFlow
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    SerialPortSelector,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from . import coordinator as coordinator_module, network_flow
from .broute.errors import (
    BRouteError,
    DongleNotRespondingError,
    NetworkMeterError,
    error_translation_key,
)
from .broute.links.detect import Firmware, detect_firmware
from .broute.makers import maker_name
from .const import (
    CONF_ADDRESS,
    CONF_FIRMWARE,
    CONF_HISTORY_DAYS,
    CONF_INTERFACE,
    CONF_METER_FINGERPRINT,
    CONF_METER_KEY,
    CONF_PAN,
    CONF_PASSWORD,
    CONF_RBID,
    CONF_SCAN_INTERVAL,
    CONF_USB_SERIAL,
    DEFAULT_SCAN_INTERVAL,
    DOMAIN,
    LOGGER,
    MAX_SCAN_INTERVAL,
    MIN_SCAN_INTERVAL,
    PASSWORD_LENGTH,
    RBID_LENGTH,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from homeassistant.components.usb.models import SerialDevice, USBDevice
    from homeassistant.helpers.service_info.usb import UsbServiceInfo

    from .broute.links.udp import DiscoveredNode
    from .broute.links.wisun import PanDescriptor
    from .broute.meters.base import DeviceIdentity
    from .broute.meters.low_voltage import MeterIdentity, RouteBIdentifier
from .handoff import ProbeHandoff, async_close_port
from .history import DEFAULT_HISTORY_DAYS, MAX_HISTORY_DAYS, MIN_HISTORY_DAYS

# Learnt by the coordinator at setup; a new probe (reauth, reconfigure) forgets them.
_METER_ID_KEYS: Final = frozenset({CONF_METER_KEY, CONF_METER_FINGERPRINT})

# The form field each library error is about ("base": the whole form) and the form's
# error key, by the error's translation key (the library's one vocabulary).
_FORM_ERRORS: Final[dict[str, tuple[str, str]]] = {
    "port_not_found": (CONF_DEVICE, "port_not_found"),
    "port_permission": (CONF_DEVICE, "port_permission"),
    "port_busy": (CONF_DEVICE, "port_busy"),
    "cannot_connect": (CONF_DEVICE, "cannot_connect"),
    "port_not_ready": (CONF_DEVICE, "port_not_ready"),
    "transport_lost": (CONF_DEVICE, "port_lost"),
    "port_error": (CONF_DEVICE, "port_unusable"),
    "dongle_not_responding": (CONF_DEVICE, "dongle_not_responding"),
    "dongle_error": (CONF_DEVICE, "dongle_error"),
    # The meter was found (its pairing ID matches the B-route ID), so the password
    # is the likely culprit.
    "invalid_auth": (CONF_PASSWORD, "invalid_auth"),
    # A meter that was heard but would not finish joining, or fell silent, gets the
    # same advice as one that was not heard at all: the radio path is too weak.
    "meter_not_found": ("base", "meter_not_found"),
    "join_failed": ("base", "meter_not_found"),
    "meter_timeout": ("base", "meter_not_found"),
    "session_unavailable": ("base", "meter_lost"),
    "transmit_limit": ("base", "transmit_limit"),
    "property_not_available": ("base", "meter_unsupported"),
    "decode_error": ("base", "meter_unsupported"),
}

# Errors after which the password just typed is asked for again rather than kept.
_PASSWORD_SUSPECT: Final = frozenset(
    {"invalid_auth", "password_length", "password_invalid_characters"}
)

#: A probe that ends within this many seconds is answered on the form itself, without
#: a progress screen (a missing port, a refused connection fail in milliseconds).
QUICK_RESULT_SECONDS: float = 1.0
#: Once the progress screen is shown it stays at least this long, so the browser has
#: subscribed to the flow's progress event before the probe's end fires it.
MIN_PROGRESS_SECONDS: float = 2.0

DEFAULT_TITLE: Final = "Smart meter"

PASSWORD_SELECTOR: Final = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

CREDENTIALS_SCHEMA: Final = {
    probatio.Required(CONF_RBID): TextSelector(),
    probatio.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
}

CREDENTIALS_ONLY_SCHEMA: Final = probatio.Schema(CREDENTIALS_SCHEMA)


def _port_schema(*, listed: bool, credentials: bool) -> probatio.Schema:
    """The port field (and the credentials), as a port picker or as a text box.

    A port the picker does not list (a typed ``socket://`` URL, a path that is gone)
    comes back in a text box: the picker would show it as an unknown item.
    """
    selector = SerialPortSelector() if listed else TextSelector()
    fields: dict[Any, Any] = {probatio.Required(CONF_DEVICE): selector}
    if credentials:
        fields.update(CREDENTIALS_SCHEMA)
    return probatio.Schema(fields)


USER_SCHEMA: Final = _port_schema(listed=True, credentials=True)
RECONFIGURE_SCHEMA: Final = _port_schema(listed=True, credentials=False)
# Blank address: look for meters. The interface matters for IPv6 link-local addresses
# and multicast (e.g. wlan0); blank: the system's default.
NETWORK_SCHEMA: Final = probatio.Schema(
    {
        probatio.Optional(CONF_ADDRESS): TextSelector(),
        probatio.Optional(CONF_INTERFACE): TextSelector(),
    }
)
NETWORK_RECONFIGURE_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(CONF_ADDRESS): TextSelector(),
        probatio.Optional(CONF_INTERFACE): TextSelector(),
    }
)


def _is_safe_ascii(value: str) -> bool:
    """Printable ASCII without spaces: a CR, LF or control character would end the
    dongle command early and start another one."""
    return all(0x21 <= ord(char) <= 0x7E for char in value)


def validate_credentials(user_input: Mapping[str, Any]) -> dict[str, str]:
    """Check the ID and password before any radio traffic; return field errors."""
    errors: dict[str, str] = {}
    rbid: str = user_input[CONF_RBID]
    password: str = user_input[CONF_PASSWORD]
    if not (rbid.isascii() and rbid.isalnum()):
        errors[CONF_RBID] = "rbid_invalid_characters"
    elif len(rbid) != RBID_LENGTH:
        errors[CONF_RBID] = "rbid_length"
    if not _is_safe_ascii(password):
        errors[CONF_PASSWORD] = "password_invalid_characters"
    elif len(password) != PASSWORD_LENGTH:
        errors[CONF_PASSWORD] = "password_length"
    return errors


def _clean(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the blanks a copy and paste leaves around the credentials."""
    return {
        key: value.strip() if key in (CONF_RBID, CONF_PASSWORD) else value
        for key, value in user_input.items()
    }


def form_error(err: BaseException) -> tuple[str, str]:
    """The form field and error key for a failed probe."""
    if not isinstance(err, BRouteError):
        return "base", "unknown"
    return _FORM_ERRORS.get(error_translation_key(err), ("base", "communication_error"))


def _canonical_port(device: str) -> str:
    """A port as the port-usage check compares it: symlinks resolved, no query."""
    if device.startswith("/"):
        return os.path.realpath(device)
    return device.partition("?")[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """What a successful probe learned about the meter, and its still joined connection."""

    pan: PanDescriptor
    title: str
    handoff: ProbeHandoff
    firmware: Firmware = Firmware.SKSTACK


async def async_probe(hass: HomeAssistant, device: str, rbid: str, password: str) -> ProbeResult:
    """Find out what the dongle speaks, scan for the meter, join it, read its identity.

    The firmware is detected, never asked: the dongle is asked for its version in both
    protocols (read-only, nothing written to its flash). The joined connection is not
    closed: it comes back in a :class:`ProbeHandoff` for the entry to adopt, so the
    entry's setup neither joins again nor reads the identity again.
    """
    firmware = await detect_firmware(device)
    if firmware is Firmware.UNKNOWN:
        raise DongleNotRespondingError("the dongle answered neither SKSTACK-IP nor J11")
    LOGGER.debug("The dongle speaks %s", firmware)
    conn = coordinator_module.create_connection(device, rbid, password, firmware=firmware)
    try:
        await conn.connect()
        identity: MeterIdentity | None = None
        route_b_id: RouteBIdentifier | None = None
        title = DEFAULT_TITLE
        try:
            # The whole identity frame, not only maker and serial: the same one round
            # trip, and the entry then starts from it.
            read = await conn.meter.read_identity()
            title = _title(read)
            route_b_id = await conn.meter.read_route_b_id(read)
            identity = read
        except BRouteError:
            # The join worked, which is what matters; the title can do without, and
            # the entry reads the identity itself.
            LOGGER.debug("The meter did not tell its maker and serial number")
        pan = conn.pan
        assert pan is not None  # a joined link knows its PAN
        handoff = ProbeHandoff(
            hass,
            conn,
            device=device,
            rbid=rbid,
            password=password,
            firmware=firmware,
            identity=identity,
            route_b_id=route_b_id,
        )
    except BaseException:
        await conn.close()
        raise
    return ProbeResult(pan=pan, title=title, handoff=handoff, firmware=firmware)


def _close_probe_result(task: asyncio.Task[ProbeResult]) -> None:
    """A probe that finished after its flow went away: close what it opened."""
    if not task.cancelled() and task.exception() is None:
        task.result().handoff.async_close_soon()


def _title(label: DeviceIdentity) -> str:
    """Maker and serial number, e.g. "Toshiba 1234567890AB"."""
    parts: list[str] = []
    if label.maker_code is not None and (maker := maker_name(label.maker_code)):
        parts.append(maker)
    if label.serial_number:
        parts.append(label.serial_number)
    return " ".join(parts) or DEFAULT_TITLE


def _needs_relink(entry: ConfigEntry, device: str) -> bool:
    """Whether the entry holds the port that is about to be probed.

    The session locks its port, so a probe on the same port has to get the entry out
    of the way first. An entry waiting to retry counts too: its retry would race the
    probe for the port.
    """
    return (
        entry.state in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY)
        and entry.data.get(CONF_DEVICE) == device
    )


class BRouteConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up one meter, reached through one dongle."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._data: dict[str, Any] = {}
        self._form_step = "wisun"
        self._interface: str | None = None
        self._found: list[DiscoveredNode] = []
        self._errors: dict[str, str] = {}
        self._placeholders: dict[str, str] = {}
        self._probe_task: asyncio.Task[ProbeResult] | None = None
        self._progress_shown_at: float | None = None
        self._result: ProbeResult | None = None
        #: The probe's joined connection while this flow still owns it.
        self._handoff: ProbeHandoff | None = None
        self._relinked: ConfigEntry | None = None

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> BRouteOptionsFlow:
        """Options: how often to poll."""
        return BRouteOptionsFlow()

    # --- the user's way in ------------------------------------------------------------

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask how the meter is reached: a Wi-SUN dongle or the network."""
        return self.async_show_menu(step_id="user", menu_options=["wisun", "network"])

    async def async_step_wisun(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the port and the credentials."""
        if user_input is not None:
            user_input = _clean(user_input)
            self._data = {**self._data, **user_input}
            if not (errors := validate_credentials(user_input)):
                return await self._async_start_probe("wisun")
            self._errors = errors
        return await self._async_show_form("wisun")

    # --- a meter on the network -------------------------------------------------------

    async def async_step_network(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Look for meters on the network, or check an address typed by hand."""
        errors: dict[str, str] = {}
        if user_input is not None:
            interface = (user_input.get(CONF_INTERFACE) or "").strip() or None
            self._interface = interface
            address = (user_input.get(CONF_ADDRESS) or "").strip()
            try:
                if address:
                    node = await network_flow.async_probe_address(address, interface)
                    return await self._async_network_finish(node)
                self._found = await network_flow.async_discover_meters(interface)
            except NetworkMeterError as err:
                errors["base"] = network_flow.network_form_error(err)
            except BRouteError:
                LOGGER.exception("Unexpected error while looking for meters")
                errors["base"] = "unknown"
            else:
                if self._found:
                    return await self.async_step_network_pick()
                errors["base"] = "no_meters_found"
        names = await network_flow.async_interface_names(self.hass)
        base = NETWORK_SCHEMA
        if names:
            base = probatio.Schema(
                {
                    probatio.Optional(CONF_ADDRESS): TextSelector(),
                    probatio.Optional(CONF_INTERFACE): SelectSelector(
                        SelectSelectorConfig(
                            options=names, custom_value=True, mode=SelectSelectorMode.DROPDOWN
                        )
                    ),
                }
            )
        schema = self.add_suggested_values_to_schema(base, user_input or {})
        return self.async_show_form(step_id="network", data_schema=schema, errors=errors)

    async def async_step_network_pick(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Choose one of the meters that answered."""
        by_key = {str(node.address): node for node in self._found}
        if user_input is not None and user_input[CONF_ADDRESS] in by_key:
            return await self._async_network_finish(by_key[user_input[CONF_ADDRESS]])
        options = [
            SelectOptionDict(value=key, label=network_flow.node_label(node))
            for key, node in by_key.items()
        ]
        schema = probatio.Schema(
            {probatio.Required(CONF_ADDRESS): SelectSelector(SelectSelectorConfig(options=options))}
        )
        return self.async_show_form(step_id="network_pick", data_schema=schema)

    async def _async_network_finish(self, node: DiscoveredNode) -> ConfigFlowResult:
        """Create (or, reconfiguring, move) the entry of a meter that answered."""
        data = network_flow.entry_data(node, self._interface)
        unique_id = network_flow.unique_id_of(node)
        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            if unique_id != entry.unique_id:
                return self.async_abort(reason="wrong_meter")
            return self.async_update_reload_and_abort(entry, data={**entry.data, **data})
        await self.async_set_unique_id(unique_id, raise_on_progress=False)
        self._abort_if_unique_id_configured(updates={CONF_ADDRESS: data[CONF_ADDRESS]})
        return self.async_create_entry(title=network_flow.node_title(node), data=data)

    # --- USB discovery ------------------------------------------------------------------

    @override
    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> ConfigFlowResult:
        """A dongle was plugged in."""
        device = await self.hass.async_add_executor_job(usb.get_serial_by_id, discovery_info.device)
        if discovery_info.serial_number and (
            known := self._async_entry_of_dongle(discovery_info.serial_number)
        ):
            # A dongle we know came back on another path (another USB socket, a hub):
            # follow it, no credentials asked.
            if known.data.get(CONF_DEVICE) != device:
                self.hass.config_entries.async_update_entry(
                    known, data={**known.data, CONF_DEVICE: device}
                )
                if known.state is ConfigEntryState.LOADED:
                    self.hass.config_entries.async_schedule_reload(known.entry_id)
            return self.async_abort(reason="already_configured")
        self._async_abort_entries_match({CONF_DEVICE: device})
        self._async_abort_entries_match({CONF_DEVICE: discovery_info.device})
        # The meter's identity is only known after joining; until then the dongle
        # stands in, which keeps one flow per dongle and lets the user ignore it.
        await self.async_set_unique_id(
            f"usb:{discovery_info.serial_number or discovery_info.device}"
        )
        self._abort_if_unique_id_configured()
        self._data = {CONF_DEVICE: device}
        if discovery_info.serial_number:
            self._data[CONF_USB_SERIAL] = discovery_info.serial_number
        name = usb.human_readable_device_name(
            device,
            discovery_info.serial_number,
            discovery_info.manufacturer,
            discovery_info.description,
            discovery_info.vid,
            discovery_info.pid,
        )
        self.context["title_placeholders"] = {"name": name}
        return await self.async_step_usb_confirm()

    @callback
    def _async_entry_of_dongle(self, usb_serial: str) -> ConfigEntry | None:
        """The entry that was set up through this dongle (by its USB serial number)."""
        for entry in self._async_current_entries(include_ignore=False):
            if entry.data.get(CONF_USB_SERIAL) == usb_serial:
                return entry
        return None

    async def async_step_usb_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Confirm setting up the discovered dongle."""
        if user_input is not None:
            return await self.async_step_credentials()
        self._set_confirm_only()
        return self.async_show_form(
            step_id="usb_confirm",
            description_placeholders=self.context["title_placeholders"],
        )

    async def async_step_credentials(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the credentials of a meter behind a discovered dongle."""
        if user_input is not None:
            user_input = _clean(user_input)
            self._data = {**self._data, **user_input}
            if not (errors := validate_credentials(user_input)):
                return await self._async_start_probe("credentials")
            self._errors = errors
        return await self._async_show_form("credentials")

    # --- reauthentication -----------------------------------------------------------

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The meter rejected the credentials (re-issued, or a new meter)."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the new credentials."""
        entry = self._get_reauth_entry()
        if user_input is not None:
            user_input = _clean(user_input)
            self._data = {**entry.data, **user_input}
            if not (errors := validate_credentials(user_input)):
                return await self._async_start_probe("reauth_confirm")
            self._errors = errors
        return await self._async_show_form("reauth_confirm")

    # --- reconfiguration --------------------------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the entry to another port (another dongle, a network port)."""
        entry = self._get_reconfigure_entry()
        if network_flow.is_network_entry(entry.data):
            return await self.async_step_network_reconfigure(user_input)
        if user_input is not None:
            self._data = {**entry.data, **user_input}
            return await self._async_start_probe("reconfigure")
        return await self._async_show_form("reconfigure")

    async def async_step_network_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """A meter on the network got a new address: check it and store it."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            self._interface = (user_input.get(CONF_INTERFACE) or "").strip() or None
            try:
                node = await network_flow.async_probe_address(
                    user_input[CONF_ADDRESS], self._interface
                )
            except NetworkMeterError as err:
                errors["base"] = network_flow.network_form_error(err)
            else:
                return await self._async_network_finish(node)
        suggested = user_input or {
            CONF_ADDRESS: entry.data.get(CONF_ADDRESS),
            CONF_INTERFACE: entry.data.get(CONF_INTERFACE) or "",
        }
        return self.async_show_form(
            step_id="network_reconfigure",
            data_schema=self.add_suggested_values_to_schema(NETWORK_RECONFIGURE_SCHEMA, suggested),
            errors=errors,
        )

    # --- the live test ----------------------------------------------------------------

    async def _async_start_probe(self, form_step: str) -> ConfigFlowResult:
        """Check that the port is free, then run the probe (with progress if it takes long).

        A probe that ends within QUICK_RESULT_SECONDS is answered right away, on the
        form or with the entry; only a longer one gets the progress screen.
        """
        self._form_step = form_step
        own = self._own_entry()
        if form_step != "reauth_confirm" and (
            user := await self._async_port_user(self._data[CONF_DEVICE], own)
        ):
            # Opening the port would take the dongle away from the running entry.
            self._errors = {CONF_DEVICE: "port_in_use"}
            self._placeholders = {"entry_title": user}
            return await self._async_show_form(form_step)
        # A failed unload leaves the entry loaded; the probe then reports the busy port.
        if (
            own is not None
            and _needs_relink(own, self._data[CONF_DEVICE])
            and await self.hass.config_entries.async_unload(own.entry_id)
        ):
            self._relinked = own
        # A connection an earlier probe left open on this port would hold it.
        await async_close_port(self.hass, self._data[CONF_DEVICE])
        self._progress_shown_at = None
        self._probe_task = self.hass.async_create_task(
            self._async_probe(), "broute_meter config flow probe"
        )
        if QUICK_RESULT_SECONDS > 0:  # 0: always through the progress screen
            await asyncio.wait({self._probe_task}, timeout=QUICK_RESULT_SECONDS)
        if self._probe_task.done():
            if await self._async_take_probe_result():
                return await self.async_step_finish()
            return await self._async_show_form(form_step)
        return await self.async_step_probe()

    async def _async_probe(self) -> ProbeResult:
        """The probe, held back until the progress screen has been up long enough."""
        try:
            result = await async_probe(
                self.hass, self._data[CONF_DEVICE], self._data[CONF_RBID], self._data[CONF_PASSWORD]
            )
        except BaseException:
            await self._async_hold_progress()
            raise
        try:
            await self._async_hold_progress()
        except BaseException:
            # Cancelled (the flow went away) with the connection still open.
            await result.handoff.async_close()
            raise
        return result

    async def _async_hold_progress(self) -> None:
        task = asyncio.current_task()
        if self._progress_shown_at is not None and not (task and task.cancelling()):
            loop = asyncio.get_running_loop()
            remaining = self._progress_shown_at + MIN_PROGRESS_SECONDS - loop.time()
            if remaining > 0:
                await asyncio.sleep(remaining)

    async def async_step_probe(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Scan for the meter and join it; this can take a minute."""
        assert self._probe_task is not None
        if not self._probe_task.done():
            if self._progress_shown_at is None:
                self._progress_shown_at = asyncio.get_running_loop().time()
            return self.async_show_progress(
                step_id="probe", progress_action="probe", progress_task=self._probe_task
            )
        if await self._async_take_probe_result():
            return self.async_show_progress_done(next_step_id="finish")
        return self.async_show_progress_done(next_step_id="probe_failed")

    async def async_step_probe_failed(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Back to the form the probe was started from, with its error."""
        return await self._async_show_form(self._form_step)

    async def _async_take_probe_result(self) -> bool:
        """Collect the finished probe: True with a result, False with form errors."""
        assert self._probe_task is not None
        task, self._probe_task = self._probe_task, None
        try:
            self._result = task.result()
            self._handoff = self._result.handoff
        except BRouteError as err:
            field, key = form_error(err)
            self._errors = {field: key}
        except Exception:
            LOGGER.exception("Unexpected error while looking for the meter")
            self._errors = {"base": "unknown"}
        if self._errors:
            await self._async_restore_relinked()
            return False
        return True

    async def _async_close_probe_connection(self) -> None:
        """The flow ends without an entry to take the connection: free the port now."""
        if self._handoff is not None:
            handoff, self._handoff = self._handoff, None
            await handoff.async_close()

    def _leave_probe_connection(self, unique_id: str) -> None:
        """Leave the joined connection for the entry about to be set up (or reloaded)."""
        if self._handoff is not None:
            handoff, self._handoff = self._handoff, None
            handoff.leave_for(unique_id)

    @callback
    @override
    def async_remove(self) -> None:
        """The flow is gone (done, aborted, dialog closed): a connection it holds is closed.

        An entry unloaded for the probe of an abandoned reauth or reconfigure is set up
        again on its old settings once the port is free, so closing the dialog never
        leaves the meter switched off.
        """
        handoff, self._handoff = self._handoff, None
        task, self._probe_task = self._probe_task, None
        relinked, self._relinked = self._relinked, None
        if task is not None:
            task.cancel()
            task.add_done_callback(_close_probe_result)
        if relinked is None:
            if handoff is not None:
                handoff.async_close_soon()
            return
        self.hass.async_create_task(
            self._async_set_up_again(relinked, handoff, task),
            f"{DOMAIN} set up {relinked.title} again",
        )

    async def _async_set_up_again(
        self,
        entry: ConfigEntry,
        handoff: ProbeHandoff | None,
        task: asyncio.Task[ProbeResult] | None,
    ) -> None:
        if handoff is not None:
            await handoff.async_close()
        if task is not None:
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is None:
                await task.result().handoff.async_close()
        if entry.state is ConfigEntryState.NOT_LOADED:
            await self.hass.config_entries.async_setup(entry.entry_id)

    async def _async_restore_relinked(self) -> None:
        """Put an entry unloaded for the probe back, on its old settings."""
        if self._relinked is not None:
            entry, self._relinked = self._relinked, None
            await self.hass.config_entries.async_setup(entry.entry_id)

    async def async_step_finish(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Store what the probe found."""
        assert self._result is not None
        result = self._result
        mac = result.pan.mac.lower()
        # A probe that succeeded names the meter anew: the next setup learns its
        # identification fingerprint again (reauth/reconfigure after a meter swap).
        data = {
            **{k: v for k, v in self._data.items() if k not in _METER_ID_KEYS},
            CONF_PAN: result.pan.as_dict(),
            CONF_FIRMWARE: str(result.firmware),
        }

        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
            if mac != entry.unique_id:
                # A new meter (the utility swapped it) comes with new credentials:
                # keep the entry and its entities, follow the meter's identity -
                # unless another entry already has that meter.
                other = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, mac)
                if other is not None:
                    await self._async_close_probe_connection()
                    await self._async_restore_relinked()
                    return self.async_abort(reason="already_configured")
            self._relinked = None
            # The reload that follows sets the entry up on the probe's connection.
            self._leave_probe_connection(mac)
            return self.async_update_reload_and_abort(entry, unique_id=mac, data=data)

        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            if mac != entry.unique_id:
                await self._async_close_probe_connection()
                await self._async_restore_relinked()
                return self.async_abort(reason="wrong_meter")
            self._relinked = None
            self._leave_probe_connection(mac)
            return self.async_update_reload_and_abort(entry, data=data)

        await self.async_set_unique_id(mac, raise_on_progress=False)
        # The meter has an entry already: the flow aborts, and that entry may be
        # reloaded on this port at once, so the port is freed before.
        if self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, mac) is not None:
            await self._async_close_probe_connection()
        try:
            self._abort_if_unique_id_configured(
                updates={
                    CONF_DEVICE: data[CONF_DEVICE],
                    CONF_PAN: data[CONF_PAN],
                    CONF_FIRMWARE: data[CONF_FIRMWARE],
                }
            )
        except AbortFlow:
            await self._async_close_probe_connection()
            raise
        # The new entry's setup adopts the joined connection: no second join.
        self._leave_probe_connection(mac)
        return self.async_create_entry(title=result.title, data=data)

    # --- helpers ----------------------------------------------------------------------

    def _own_entry(self) -> ConfigEntry | None:
        """The entry this flow works on (reauth, reconfigure), if any."""
        if self.source == SOURCE_REAUTH:
            return self._get_reauth_entry()
        if self.source == SOURCE_RECONFIGURE:
            return self._get_reconfigure_entry()
        return None

    async def _async_port_user(self, device: str, own: ConfigEntry | None) -> str | None:
        """The title of another set-up entry that holds ``device``, if there is one.

        Uses Home Assistant's own attribution of serial ports to config entries, so
        other integrations' entries (e.g. the built-in Smart Meter B Route) count too.
        """
        consumers = await async_get_serial_port_consumers(self.hass, await self._async_scan_ports())
        canonical = await self.hass.async_add_executor_job(
            lambda: {port: _canonical_port(port) for port in [device, *consumers]}
        )
        for port, users in consumers.items():
            if canonical[port] != canonical[device]:
                continue
            for user in users:
                if user.active and (own is None or user.config_entry_id != own.entry_id):
                    return user.title
        return None

    async def _async_scan_ports(self) -> Sequence[USBDevice | SerialDevice]:
        """The serial ports Home Assistant lists (what the port picker offers)."""
        try:
            return await usb.async_scan_serial_ports(self.hass)
        except OSError:
            LOGGER.debug("Listing the serial ports failed", exc_info=True)
            return []

    async def _async_show_form(self, step_id: str) -> ConfigFlowResult:
        """Show a step's form, filled with what was entered, with any pending errors.

        A stored password is never sent back to the browser. The one just typed is
        kept when the error is about something else (the port, the radio), so only
        the field in error needs attention; after a password error it is asked again.
        """
        errors, self._errors = self._errors, {}
        placeholders, self._placeholders = self._placeholders, {}
        suggested: dict[str, Any] = {}
        if step_id in ("wisun", "reconfigure"):
            device = self._data.get(CONF_DEVICE)
            if device is None and step_id == "reconfigure":
                device = self._get_reconfigure_entry().data[CONF_DEVICE]
            listed = device is None or device in {
                port.device for port in await self._async_scan_ports()
            }
            schema = _port_schema(listed=listed, credentials=step_id == "wisun")
            suggested[CONF_DEVICE] = device
        else:
            schema = CREDENTIALS_ONLY_SCHEMA
        if step_id == "reauth_confirm":
            placeholders["title"] = self._get_reauth_entry().title
        fields = {str(key) for key in schema.schema}
        if step_id != "reconfigure" and CONF_RBID in self._data and errors:
            suggested[CONF_RBID] = self._data[CONF_RBID]
        if (
            CONF_PASSWORD in fields
            and errors
            and CONF_PASSWORD in self._data
            and not _PASSWORD_SUSPECT & set(errors.values())
        ):
            suggested[CONF_PASSWORD] = self._data[CONF_PASSWORD]
        # Errors about a field the step does not show go to the whole form.
        errors = {(key if key in fields else "base"): value for key, value in errors.items()}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema, {key: value for key, value in suggested.items() if value is not None}
            ),
            errors=errors,
            description_placeholders=placeholders or None,
        )


class BRouteOptionsFlow(OptionsFlowWithReload):
    """How often to poll the meter."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the poll interval."""
        if user_input is not None:
            return self.async_create_entry(data={**self.config_entry.options, **user_input})
        schema = probatio.Schema(
            {
                probatio.Required(CONF_SCAN_INTERVAL, default=DEFAULT_SCAN_INTERVAL): (
                    _whole_number(MIN_SCAN_INTERVAL, MAX_SCAN_INTERVAL, "s")
                ),
                probatio.Required(CONF_HISTORY_DAYS, default=DEFAULT_HISTORY_DAYS): (
                    _whole_number(MIN_HISTORY_DAYS, MAX_HISTORY_DAYS, "d")
                ),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(schema, self.config_entry.options),
        )


def _whole_number(low: int, high: int, unit: str) -> probatio.All[int]:
    """A number box that accepts whole numbers from ``low`` to ``high``."""
    return probatio.All(
        NumberSelector(
            NumberSelectorConfig(
                min=low, max=high, step=1, mode=NumberSelectorMode.BOX, unit_of_measurement=unit
            )
        ),
        probatio.Coerce(int),
        probatio.Range(min=low, max=high),
    )
