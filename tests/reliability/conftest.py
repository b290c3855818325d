"""Fixtures of the reliability tests: Home Assistant with the recorder, simulators on 127.0.0.1.

Modules that run the integration use the ``integration`` fixture (via ``pytestmark``);
the fuzz tests need neither Home Assistant nor sockets.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures import METER_TIME, SimFactory, entry_for, port_of

__all__ = ["METER_TIME", "SimFactory", "entry_for", "port_of"]


@pytest.fixture
def integration(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """Load this repository's integration, the recorder first (a manifest dependency)."""


@pytest.fixture
def session_timing(connection_timing: Any) -> Any:
    """The compressed timings of the integration's connections (tests may replace them)."""
    return connection_timing
