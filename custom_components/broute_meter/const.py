"""Constants of the broute_meter integration."""

from typing import Final

DOMAIN: Final = "broute_meter"
