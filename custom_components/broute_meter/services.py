"""The ``broute_meter.import_history`` action: its schema and its registration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
import probatio

from .const import DOMAIN
from .history import MAX_HISTORY_DAYS, MIN_HISTORY_DAYS

if TYPE_CHECKING:
    from .history import HistoryImporter

SERVICE_IMPORT_HISTORY: Final = "import_history"
ATTR_DAYS: Final = "days"
ATTR_CONFIG_ENTRY_ID: Final = "config_entry_id"

SERVICE_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(ATTR_DAYS): probatio.Coerce(int),
        probatio.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
    }
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register ``broute_meter.import_history`` (once, from ``async_setup``)."""

    async def _import_history(call: ServiceCall) -> None:
        days: int = call.data[ATTR_DAYS]
        if not MIN_HISTORY_DAYS <= days <= MAX_HISTORY_DAYS:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_days",
                translation_placeholders={
                    "days": str(days),
                    "min": str(MIN_HISTORY_DAYS),
                    "max": str(MAX_HISTORY_DAYS),
                },
            )
        entry_id: str | None = call.data.get(ATTR_CONFIG_ENTRY_ID)
        if entry_id is not None:
            entry = hass.config_entries.async_get_entry(entry_id)
            if entry is None or entry.domain != DOMAIN:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="entry_not_found",
                    translation_placeholders={"entry_id": entry_id},
                )
            if entry.state is not ConfigEntryState.LOADED:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="entry_not_loaded",
                    translation_placeholders={"title": entry.title},
                )
            entries = [entry]
        else:
            entries = hass.config_entries.async_loaded_entries(DOMAIN)
            if not entries:
                raise ServiceValidationError(
                    translation_domain=DOMAIN, translation_key="no_loaded_entries"
                )
        for entry in entries:
            importer: HistoryImporter | None = getattr(entry.runtime_data, "history", None)
            if importer is None:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="entry_not_loaded",
                    translation_placeholders={"title": entry.title},
                )
            importer.async_request_import(days)

    hass.services.async_register(
        DOMAIN, SERVICE_IMPORT_HISTORY, _import_history, schema=SERVICE_SCHEMA
    )
