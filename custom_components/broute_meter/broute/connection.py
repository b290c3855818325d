"""One meter as an application holds it: a link, an ECHONET Lite client, a meter model.

The Home Assistant integration and the probe command open a :class:`MeterConnection`
instead of wiring the parts by hand; each part stays usable on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
import logging
from typing import TYPE_CHECKING, Any, Self

from .client import ClientTiming, EchonetClient
from .links.detect import Firmware
from .links.j11 import J11Link
from .links.skstack import SkStackLink
from .links.wisun import WiSunLink, WiSunTiming
from .meters.low_voltage import FixedTimePushed, LowVoltageMeter

if TYPE_CHECKING:
    from collections.abc import Callable

    from .echonet import Frame
    from .link import Link, LinkStatus
    from .links.wisun import PanDescriptor

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionTiming:
    """The link's and the client's timings together; ``fast()`` for tests."""

    link: WiSunTiming = field(default_factory=WiSunTiming)
    client: ClientTiming = field(default_factory=ClientTiming)

    @classmethod
    def fast(cls) -> Self:
        """Short timings for tests against a time-compressed simulator."""
        return cls(WiSunTiming.fast(), ClientTiming.fast())

    def evolve(self, **changes: Any) -> Self:
        """A copy with fields of either part changed by name (names are unique)."""
        link_names = {f.name for f in fields(WiSunTiming)}
        client_names = {f.name for f in fields(ClientTiming)}
        unknown = changes.keys() - link_names - client_names
        if unknown:
            raise TypeError(f"no timing field {', '.join(sorted(unknown))}")
        return replace(
            self,
            link=replace(self.link, **{k: v for k, v in changes.items() if k in link_names}),
            client=replace(self.client, **{k: v for k, v in changes.items() if k in client_names}),
        )


class MeterConnection:
    """A low-voltage meter behind a Wi-SUN dongle (SKSTACK-IP or ROHM J11 firmware),
    or, built with :meth:`over_link`, over another link such as UDP."""

    def __init__(
        self,
        port: str,
        rbid: str,
        password: str,
        *,
        pan: PanDescriptor | None = None,
        timing: ConnectionTiming | None = None,
        firmware: Firmware | str = Firmware.SKSTACK,
        on_push: Callable[[FixedTimePushed], None] | None = None,
        on_notification: Callable[[Frame], None] | None = None,
    ) -> None:
        """Prepare link, client and meter; nothing is opened before :meth:`connect`.

        ``on_push`` gets the meter's typed push events; ``on_notification`` every INF
        and INFC frame as it came (for tools that look at more than the meter model).
        ``firmware`` is what :func:`~.links.detect.detect_firmware` found (``"skstack"``
        or ``"j11"``); it picks the driver, the link's repair ladder is the same.
        """
        timing = timing or ConnectionTiming()
        self.timing = timing
        self.firmware = Firmware(firmware)
        link_class: type[SkStackLink | J11Link]
        if self.firmware is Firmware.SKSTACK:
            link_class = SkStackLink
        elif self.firmware is Firmware.J11:
            link_class = J11Link
        else:
            raise ValueError(f"no link for firmware {self.firmware}")
        link = link_class(port, rbid, password, pan=pan, timing=timing.link)
        self.link: Link = link
        self.client = EchonetClient(
            self.link, timing=timing.client, on_notification=self._on_notification
        )
        link.is_busy = lambda: self.client.busy
        self.meter = LowVoltageMeter(self.client)
        self.on_push = on_push
        self.on_notification = on_notification

    @classmethod
    def over_link(
        cls,
        link: Link,
        *,
        timing: ClientTiming | None = None,
        on_push: Callable[[FixedTimePushed], None] | None = None,
        on_notification: Callable[[Frame], None] | None = None,
    ) -> Self:
        """A low-voltage meter over a link opened elsewhere, e.g. a :class:`UdpLink`
        to a 2nd-generation meter on its Wi-Fi B-route (no credentials, no PAN)."""
        self = cls.__new__(cls)
        self.timing = ConnectionTiming(client=timing or ClientTiming())
        self.link = link
        self.client = EchonetClient(
            link, timing=self.timing.client, on_notification=self._on_notification
        )
        self.meter = LowVoltageMeter(self.client)
        self.on_push = on_push
        self.on_notification = on_notification
        return self

    def __repr__(self) -> str:
        """Never shows the credentials."""
        return f"<MeterConnection {self.link!r}>"

    @property
    def status(self) -> LinkStatus:
        """The link's latest state report."""
        return self.link.status

    @property
    def pan(self) -> PanDescriptor | None:
        """Where the meter is (persist it: the next connect skips the scan); None
        over a link without PANs."""
        return self.link.pan if isinstance(self.link, WiSunLink) else None

    def add_status_listener(self, listener: Callable[[LinkStatus], None]) -> Callable[[], None]:
        """Call ``listener`` on every state change of the link; returns its remover."""
        return self.link.add_status_listener(listener)

    async def connect(self) -> None:
        """Open the port, initialise the dongle, find and join the meter."""
        await self.link.open()

    async def close(self) -> None:
        """Leave the meter and release the port; a request still waiting fails. Idempotent."""
        await self.link.close()
        await self.client.aclose()

    async def __aenter__(self) -> Self:
        """``async with MeterConnection(...) as conn:`` connects…"""
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """…and closes."""
        await self.close()

    def diagnostics(self) -> dict[str, Any]:
        """Redacted facts about the link and the requests (no port, no credential)."""
        return {**self.link.diagnostics(), "requests": self.client.stats.as_dict()}

    def _on_notification(self, frame: Frame) -> None:
        if self.on_notification is not None:
            self.on_notification(frame)
        event = self.meter.decode_push(frame)
        if event is not None and self.on_push is not None:
            self.on_push(event)


__all__ = ["ConnectionTiming", "MeterConnection"]
