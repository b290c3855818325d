"""Constants of the broute_meter integration."""

from datetime import timedelta
import logging
from typing import Final

DOMAIN: Final = "broute_meter"
LOGGER: Final = logging.getLogger(__package__)

# entry.data keys. The port lives under "device" (homeassistant.const.CONF_DEVICE) so
# Home Assistant's usb integration can show which entry uses which port.
CONF_RBID: Final = "rbid"
CONF_PASSWORD: Final = "password"  # noqa: S105 - a key name, not a secret
CONF_PAN: Final = "pan"
CONF_USB_SERIAL: Final = "usb_serial"
# A keyed fingerprint of the meter's B-route identification number (never the value)
# and the per-entry random key it is made with.
CONF_METER_KEY: Final = "meter_key"
CONF_METER_FINGERPRINT: Final = "meter_fingerprint"

#: What the dongle speaks ("skstack" or "j11"), detected by the config flow; an entry
#: from before detection existed has no key and is SKSTACK-IP.
CONF_FIRMWARE: Final = "firmware"

# entry.options keys.
CONF_SCAN_INTERVAL: Final = "scan_interval"
DEFAULT_SCAN_INTERVAL: Final = 30
MIN_SCAN_INTERVAL: Final = 10
MAX_SCAN_INTERVAL: Final = 3600
CONF_HISTORY_DAYS: Final = "history_days"

RBID_LENGTH: Final = 32
PASSWORD_LENGTH: Final = 12

# A join that keeps failing for this long is worth a repair issue: by then it is no
# longer a passing radio hiccup but something the user has to look at.
METER_NOT_FOUND_GRACE: Final = timedelta(minutes=30)
ISSUE_METER_NOT_FOUND: Final = "meter_not_found"

# A fixed-time (30-minute) reading older than this is read again on the next poll,
# in case the meter's own 30-minute notification was lost.
FIXED_TIME_MAX_AGE: Final = timedelta(minutes=40)

MODEL_LV_METER: Final = "Low-voltage smart electric energy meter"

# entry.data keys of a meter on the network (Wi-Fi B-route, high-voltage terminal).
CONF_CONNECTION: Final = "connection"
CONNECTION_NETWORK: Final = "network"
CONF_ADDRESS: Final = "address"
CONF_INTERFACE: Final = "interface"
CONF_IDENTIFICATION: Final = "identification"
CONF_METER_CLASS: Final = "meter_class"
METER_CLASS_LOW_VOLTAGE: Final = "low_voltage"
METER_CLASS_HIGH_VOLTAGE: Final = "high_voltage"

MODEL_HV_METER: Final = "High-voltage smart electric energy meter"
CONF_IDENTITY: Final = "identity"
