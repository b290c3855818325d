"""Shared test configuration.

Importing the integration here, at collection time, makes Home Assistant's loader find
this repository's ``custom_components`` instead of the test harness's own. The shared
simulator, entry, clock and timing fixtures live in ``tests/fixtures.py``.
"""

import logging

from custom_components.broute_meter.const import DOMAIN  # noqa: F401

pytest_plugins = ["tests.fixtures"]

# The Home Assistant test plugin turns SQLAlchemy's SQL echo on (INFO); the recorder's
# thread then prints every statement into pytest's output. Nothing here reads it.
logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
