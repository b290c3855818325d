"""One error vocabulary: every library error's key has a message, in every language."""

from __future__ import annotations

import json
from pathlib import Path

from homeassistant.const import CONF_DEVICE
import pytest

from custom_components.broute_meter.broute import errors
from custom_components.broute_meter.config_flow import form_error
from custom_components.broute_meter.const import CONF_PASSWORD

INTEGRATION = Path(__file__).resolve().parents[1] / "custom_components" / "broute_meter"
LANGUAGES = ["strings.json", "translations/en.json", "translations/ja.json"]


def _error_classes() -> list[type[errors.BRouteError]]:
    return [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.BRouteError)
    ]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_error_key_has_a_message(language: str) -> None:
    exceptions = json.loads((INTEGRATION / language).read_text(encoding="utf-8"))["exceptions"]
    missing = {
        cls.__name__: cls.translation_key
        for cls in _error_classes()
        if cls.translation_key not in exceptions
    }
    assert missing == {}


def test_keys_are_inherited_and_mapped() -> None:
    assert errors.error_translation_key(errors.PortBusyError("x")) == "port_busy"
    assert errors.error_translation_key(errors.CommandError("SKJOIN", "ER10")) == "dongle_error"
    assert errors.error_translation_key(ValueError("x")) == "communication_error"
    assert errors.error_translation_key(errors.TransportLostError("x")) == "transport_lost"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_form_error_has_a_message(language: str) -> None:
    form = json.loads((INTEGRATION / language).read_text(encoding="utf-8"))["config"]["error"]
    shown = {form_error(cls("x"))[1] for cls in _error_classes() if cls is not errors.CommandError}
    assert shown - set(form) == set()
    # Every library error gets a message of its own kind, never "unknown"...
    assert "unknown" not in shown
    assert form_error(errors.CommandError("SKJOIN", "ER10")) == (CONF_DEVICE, "dongle_error")
    assert form_error(errors.JoinError("x")) == ("base", "meter_not_found")
    assert form_error(errors.TransportLostError("x")) == (CONF_DEVICE, "port_lost")
    assert form_error(errors.AuthenticationError("x")) == (CONF_PASSWORD, "invalid_auth")
    assert form_error(errors.EchonetDecodeError("x")) == ("base", "meter_unsupported")
    # ...and only a foreign exception is "unknown".
    assert form_error(ValueError("x")) == ("base", "unknown")
