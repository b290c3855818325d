"""Shared test configuration.

Importing the integration here, at collection time, makes Home Assistant's loader find
this repository's ``custom_components`` instead of the test harness's own. The shared
simulator, entry, clock and timing fixtures live in ``tests/fixtures.py``.
"""

from custom_components.broute_meter.const import DOMAIN  # noqa: F401

pytest_plugins = ["tests.fixtures"]
