"""Config flow: pick the dongle, enter the B-route credentials, find the meter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, override

from homeassistant.components import usb
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
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SerialPortSelector,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from . import coordinator as coordinator_module
from .broute.errors import BRouteError, DongleNotRespondingError, error_translation_key
from .broute.links.detect import Firmware, detect_firmware
from .broute.makers import maker_name
from .const import (
    CONF_FIRMWARE,
    CONF_HISTORY_DAYS,
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
    import asyncio
    from collections.abc import Mapping

    from homeassistant.helpers.service_info.usb import UsbServiceInfo

    from .broute.links.wisun import PanDescriptor
    from .broute.meters.base import DeviceIdentity
from .history import DEFAULT_HISTORY_DAYS, MAX_HISTORY_DAYS, MIN_HISTORY_DAYS

# The form's error key for each library error key the user can act on.
_FORM_ERRORS: Final[dict[str, str]] = {
    "port_not_found": "port_not_found",
    "port_permission": "port_permission",
    "port_busy": "port_busy",
    "cannot_connect": "cannot_connect",
    "port_not_ready": "cannot_connect",
    "dongle_not_responding": "dongle_not_responding",
    "invalid_auth": "invalid_auth",
    # A meter that was heard but would not finish joining, or fell silent, gets the
    # same advice as one that was not heard at all: the radio path is too weak.
    "meter_not_found": "meter_not_found",
    "join_failed": "meter_not_found",
    "meter_timeout": "meter_not_found",
}

DEFAULT_TITLE: Final = "Smart meter"

PASSWORD_SELECTOR: Final = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

CREDENTIALS_SCHEMA: Final = {
    probatio.Required(CONF_RBID): TextSelector(),
    probatio.Required(CONF_PASSWORD): PASSWORD_SELECTOR,
}

USER_SCHEMA: Final = probatio.Schema(
    {probatio.Required(CONF_DEVICE): SerialPortSelector(), **CREDENTIALS_SCHEMA}
)
CREDENTIALS_ONLY_SCHEMA: Final = probatio.Schema(CREDENTIALS_SCHEMA)
RECONFIGURE_SCHEMA: Final = probatio.Schema({probatio.Required(CONF_DEVICE): SerialPortSelector()})


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


def form_error(err: BaseException) -> str:
    """The form error key for a failed probe."""
    return _FORM_ERRORS.get(error_translation_key(err), "unknown")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """What a successful probe learned about the meter."""

    pan: PanDescriptor
    title: str
    firmware: Firmware = Firmware.SKSTACK


async def async_probe(device: str, rbid: str, password: str) -> ProbeResult:
    """Find out what the dongle speaks, scan for the meter, join it, read its identity.

    The firmware is detected, never asked: the dongle is asked for its version in both
    protocols (read-only, nothing written to its flash).
    """
    firmware = await detect_firmware(device)
    if firmware is Firmware.UNKNOWN:
        raise DongleNotRespondingError("the dongle answered neither SKSTACK-IP nor J11")
    LOGGER.debug("The dongle speaks %s", firmware)
    conn = coordinator_module.create_connection(device, rbid, password, firmware=firmware)
    try:
        await conn.connect()
        try:
            title = _title(await conn.meter.read_label())
        except BRouteError:
            # The join worked, which is what matters; the title can do without.
            LOGGER.debug("The meter did not tell its maker and serial number")
            title = DEFAULT_TITLE
        pan = conn.pan
    finally:
        await conn.close()
    assert pan is not None  # a joined link knows its PAN
    return ProbeResult(pan=pan, title=title, firmware=firmware)


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
        self._form_step = "user"
        self._errors: dict[str, str] = {}
        self._probe_task: asyncio.Task[ProbeResult] | None = None
        self._result: ProbeResult | None = None
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
        """Ask for the port and the credentials."""
        if user_input is not None:
            user_input = _clean(user_input)
            self._data = {**self._data, **user_input}
            if not (errors := validate_credentials(user_input)):
                return await self._async_start_probe("user")
            self._errors = errors
        return self._show_form("user", USER_SCHEMA)

    # --- USB discovery ------------------------------------------------------------------

    @override
    async def async_step_usb(self, discovery_info: UsbServiceInfo) -> ConfigFlowResult:
        """A dongle was plugged in."""
        device = await self.hass.async_add_executor_job(usb.get_serial_by_id, discovery_info.device)
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
        return self._show_form("credentials", CREDENTIALS_ONLY_SCHEMA)

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
        # Not pre-filled with the stored ID: a form never sends a stored secret back.
        return self._show_form(
            "reauth_confirm", CREDENTIALS_ONLY_SCHEMA, placeholders={"title": entry.title}
        )

    # --- reconfiguration --------------------------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the entry to another port (another dongle, a network port)."""
        entry = self._get_reconfigure_entry()
        if user_input is not None:
            self._data = {**entry.data, **user_input}
            return await self._async_start_probe("reconfigure")
        return self._show_form(
            "reconfigure", RECONFIGURE_SCHEMA, suggested={CONF_DEVICE: entry.data[CONF_DEVICE]}
        )

    # --- the live test ----------------------------------------------------------------

    async def _async_start_probe(self, form_step: str) -> ConfigFlowResult:
        """Remember where to come back to on failure, then run the probe."""
        self._form_step = form_step
        if self.source in (SOURCE_REAUTH, SOURCE_RECONFIGURE):
            entry = (
                self._get_reauth_entry()
                if self.source == SOURCE_REAUTH
                else self._get_reconfigure_entry()
            )
            # A failed unload leaves the entry loaded; the probe then reports the
            # busy port.
            if _needs_relink(entry, self._data[CONF_DEVICE]) and (
                await self.hass.config_entries.async_unload(entry.entry_id)
            ):
                self._relinked = entry
        return await self.async_step_probe()

    async def async_step_probe(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Scan for the meter and join it; this can take a minute."""
        if self._probe_task is None:
            # Not started eagerly: a probe that fails at once must still go through
            # the progress step, or the flow would re-run this step with the input.
            self._probe_task = self.hass.async_create_task(
                async_probe(
                    self._data[CONF_DEVICE], self._data[CONF_RBID], self._data[CONF_PASSWORD]
                ),
                "broute_meter config flow probe",
                eager_start=False,
            )
        if not self._probe_task.done():
            return self.async_show_progress(
                step_id="probe", progress_action="probe", progress_task=self._probe_task
            )
        task, self._probe_task = self._probe_task, None
        try:
            self._result = task.result()
        except BRouteError as err:
            self._errors = {"base": form_error(err)}
        except Exception:
            LOGGER.exception("Unexpected error while looking for the meter")
            self._errors = {"base": "unknown"}
        if self._errors:
            await self._async_restore_relinked()
            return self.async_show_progress_done(next_step_id=self._form_step)
        return self.async_show_progress_done(next_step_id="finish")

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
        data = {**self._data, CONF_PAN: result.pan.as_dict(), CONF_FIRMWARE: str(result.firmware)}

        if self.source == SOURCE_REAUTH:
            entry = self._get_reauth_entry()
            if mac != entry.unique_id:
                # A new meter (the utility swapped it) comes with new credentials:
                # keep the entry and its entities, follow the meter's identity -
                # unless another entry already has that meter.
                other = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, mac)
                if other is not None:
                    await self._async_restore_relinked()
                    return self.async_abort(reason="already_configured")
            self._relinked = None
            return self.async_update_reload_and_abort(entry, unique_id=mac, data=data)

        if self.source == SOURCE_RECONFIGURE:
            entry = self._get_reconfigure_entry()
            if mac != entry.unique_id:
                await self._async_restore_relinked()
                return self.async_abort(reason="wrong_meter")
            self._relinked = None
            return self.async_update_reload_and_abort(entry, data=data)

        await self.async_set_unique_id(mac, raise_on_progress=False)
        self._abort_if_unique_id_configured(
            updates={
                CONF_DEVICE: data[CONF_DEVICE],
                CONF_PAN: data[CONF_PAN],
                CONF_FIRMWARE: data[CONF_FIRMWARE],
            }
        )
        return self.async_create_entry(title=result.title, data=data)

    # --- helpers ----------------------------------------------------------------------

    def _show_form(
        self,
        step_id: str,
        schema: probatio.Schema,
        *,
        suggested: Mapping[str, Any] | None = None,
        placeholders: Mapping[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Show a form, filled with what was entered, with any pending errors.

        The password is never sent back to the browser, not even the one just typed.
        """
        errors, self._errors = self._errors, {}
        fields = {str(key) for key in schema.schema} - {CONF_PASSWORD}
        values = {key: value for key, value in self._data.items() if key in fields}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema, {**(suggested or {}), **values}
            ),
            errors=errors,
            description_placeholders=placeholders,
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
