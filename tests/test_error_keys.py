"""One error vocabulary: every library error's key has a message, in every language."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from custom_components.broute_meter.broute import errors
from custom_components.broute_meter.config_flow import form_error

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
    assert errors.error_translation_key(errors.CommandError("SKJOIN", "ER10")) == (
        "communication_error"
    )
    assert errors.error_translation_key(ValueError("x")) == "communication_error"
    assert errors.error_translation_key(errors.TransportLostError("x")) == "transport_lost"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_form_error_has_a_message(language: str) -> None:
    form = json.loads((INTEGRATION / language).read_text(encoding="utf-8"))["config"]["error"]
    shown = {form_error(cls("x")) for cls in _error_classes() if cls is not errors.CommandError}
    assert shown - set(form) == set()
    # What the user can act on gets its own advice, the rest "unknown".
    assert form_error(errors.JoinError("x")) == "meter_not_found"
    assert form_error(errors.PortNotReadyError("x")) == "cannot_connect"
    assert form_error(errors.EchonetDecodeError("x")) == "unknown"
