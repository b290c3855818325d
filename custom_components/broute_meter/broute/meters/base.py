"""What every ECHONET Lite meter object shares: one EOJ behind a client, and who made it.

The device-object superclass properties (0x80-0x9F) mean the same on every class, so
their decoding lives here once; :mod:`.low_voltage` (0x0288) and a high-voltage model
(0x028A) add their own class properties on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..echonet import (
    EPC,
    decode_maker_code,
    decode_property_map,
    decode_release,
    decode_serial,
)
from ..makers import maker_name

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from ..client import EchonetClient
    from ..echonet import EOJ

#: Superclass properties that identify the device (one frame with class properties).
IDENTITY_EPCS: tuple[int, ...] = (EPC.MAKER_CODE, EPC.SERIAL_NUMBER, EPC.GET_PROPERTY_MAP)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceIdentity:
    """Who made the device, its serial and what it offers (superclass properties)."""

    maker_code: int | None = None
    manufacturer: str | None = None
    serial_number: str | None = None
    #: ECHONET Lite Appendix release letter (0x82); learnt with the first poll.
    release: str | None = None
    get_map: frozenset[int] | None = None
    set_map: frozenset[int] | None = None
    status_change_map: frozenset[int] | None = None

    def offers(self, epc: int) -> bool:
        """Whether the Get map lists ``epc`` (assumed when the device has no map)."""
        return self.get_map is None or epc in self.get_map

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for diagnostics."""
        return {
            "maker_code": None if self.maker_code is None else f"{self.maker_code:06X}",
            "manufacturer": self.manufacturer,
            "serial_number": self.serial_number,
            "release": self.release,
            "get_map": _map_list(self.get_map),
        }


def decode_identity(values: Mapping[int, bytes]) -> dict[str, Any]:
    """The :class:`DeviceIdentity` fields found in a Get answer (missing ones left out).

    Raises EchonetDecodeError for a malformed value.
    """
    fields: dict[str, Any] = {}
    if EPC.MAKER_CODE in values:
        maker = decode_maker_code(values[EPC.MAKER_CODE])
        fields["maker_code"] = maker
        # A maker missing from the table is still named by its ECHONET code.
        fields["manufacturer"] = maker_name(maker) or f"ECHONET maker 0x{maker:06X}"
    if EPC.SERIAL_NUMBER in values:
        fields["serial_number"] = decode_serial(values[EPC.SERIAL_NUMBER]) or None
    if EPC.RELEASE in values:
        fields["release"] = decode_release(values[EPC.RELEASE])
    for epc, name in (
        (EPC.GET_PROPERTY_MAP, "get_map"),
        (EPC.SET_PROPERTY_MAP, "set_map"),
        (EPC.STATUS_CHANGE_PROPERTY_MAP, "status_change_map"),
    ):
        if epc in values:
            fields[name] = frozenset(decode_property_map(values[epc]))
    return fields


class EchonetMeter:
    """One meter object (``eoj``) reached through an :class:`EchonetClient`."""

    #: The object this model speaks to; subclasses set their class.
    eoj: ClassVar[EOJ]

    def __init__(self, client: EchonetClient) -> None:
        """Attach to ``client`` (whose link may still be down)."""
        self.client = client

    async def _get(
        self, epcs: Iterable[int], on_request: Callable[[], None] | None = None
    ) -> dict[int, bytes]:
        """Get; ``on_request`` is called once per call, answered or not (progress figures)."""
        try:
            return await self.client.get(self.eoj, epcs)
        finally:
            if on_request is not None:
                on_request()

    async def _set(
        self, epc: int, edt: bytes, on_request: Callable[[], None] | None = None
    ) -> None:
        try:
            await self.client.set(self.eoj, epc, edt)
        finally:
            if on_request is not None:
                on_request()

    async def read_label(self) -> DeviceIdentity:
        """Maker and serial only (one short frame), e.g. to name a config entry."""
        values = await self._get((EPC.MAKER_CODE, EPC.SERIAL_NUMBER))
        return DeviceIdentity(**decode_identity(values))


def _map_list(epcs: frozenset[int] | None) -> list[str] | None:
    return None if epcs is None else [f"{epc:02X}" for epc in sorted(epcs)]
