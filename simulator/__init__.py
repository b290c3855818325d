"""Wi-SUN dongle + low-voltage smart meter simulator speaking the real byte protocol.

See ``simulator/README.md`` for the API, the timing model and the fault knobs.
"""

from .dongle import DongleModel, DongleState
from .faults import Faults
from .hv_meter import HvMeterConfig, SimulatedHvMeter
from .meter import MeterConfig, SimulatedMeter, mac_to_ipv6
from .sim import TEST_PASSWORD, TEST_RBID, Pan, Simulator
from .stats import Stats
from .timing import JST, ManualClock, RealClock, TimingModel
from .udp import UdpMeterServer

__all__ = [
    "JST",
    "TEST_PASSWORD",
    "TEST_RBID",
    "DongleModel",
    "DongleState",
    "Faults",
    "HvMeterConfig",
    "ManualClock",
    "MeterConfig",
    "Pan",
    "RealClock",
    "SimulatedHvMeter",
    "SimulatedMeter",
    "Simulator",
    "Stats",
    "TimingModel",
    "UdpMeterServer",
    "mac_to_ipv6",
]
