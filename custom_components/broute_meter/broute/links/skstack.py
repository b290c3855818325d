"""Dongles with SKSTACK-IP text firmware: the line protocol and the Wi-SUN driver.

:class:`SkStack` speaks the line protocol; :class:`SkStackDriver` implements the
:class:`~.wisun.WiSunDriver` commands with it (reset, credentials, scan, PANA join,
UDP send); :class:`SkStackLink` is the :class:`~.wisun.WiSunLink` over it.

SKSTACK-IP line protocol: commands, responses, events and received UDP packets.

One reader task owns the input stream. It splits it into lines on CR *or* LF (the
product-configuration commands answer with a lone CR), except for binary ``ERXUDP``
payloads which are cut by their declared length because they may contain CR/LF bytes.
Every line is routed by its prefix, never by "the last command sent", because events
and packets can arrive in the middle of any command's answer.

Both command dialects are handled:

* "A1" — Single-hop Edition (ROHM BP35A1, TESSERA RL7023 Stick-D/IPS),
* "DSE" — Dual Stack Edition with an extra ``side`` argument/field (ROHM BP35C0/C2,
  RATOC RS-WSUHA-P, TESSERA RL7023 Stick-D/DSS).

The dialect is learnt from the dongle's own answers (SKSCAN's argument count, the
shape of EVENT and ERXUDP lines) and remembered.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import enum
import logging
import re
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ..echonet import loggable_payload
from ..errors import (
    BRouteError,
    CommandError,
    DongleError,
    DongleNotRespondingError,
    TransportLostError,
)
from ..transport import close_port, describe_port, protect_secrets, release_secrets
from .wisun import DriverEvent, JoinOutcome, PanDescriptor, WiSunLink, WiSunTiming

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from ..transport import PortWriter

_LOGGER = logging.getLogger(__name__)
#: The traffic log (redacted) is separate so it can be enabled on its own.
TRAFFIC_LOGGER = logging.getLogger(f"{__name__}.traffic")

ECHONET_PORT: Final = 0x0E1A
PANA_PORT: Final = 0x02CC
#: SKSENDTO handle 1 is the UDP socket bound to 3610 on every SKSTACK-IP dongle.
ECHONET_HANDLE: Final = 1
#: smdn's limit for one SKSENDTO; larger ERXUDP lengths mean we are reading garbage.
MAX_DATALEN: Final = 0x04D0
#: Longer than any real line (a binary ERXUDP header plus MAX_DATALEN bytes fits).
MAX_LINE: Final = 4096

# Events (hex numbers as printed by the dongle).
EVENT_NS_RECEIVED: Final = 0x01
EVENT_NA_RECEIVED: Final = 0x02
EVENT_BEACON: Final = 0x20
EVENT_UDP_SENT: Final = 0x21
EVENT_SCAN_DONE: Final = 0x22
EVENT_PANA_FAILED: Final = 0x24
EVENT_PANA_OK: Final = 0x25
EVENT_PEER_TERMINATED: Final = 0x26
EVENT_TERMINATED: Final = 0x27
EVENT_TERMINATE_TIMEOUT: Final = 0x28
EVENT_SESSION_EXPIRED: Final = 0x29
EVENT_TX_LIMIT: Final = 0x32
EVENT_TX_LIMIT_RELEASED: Final = 0x33
#: Events that carry a parameter after the address (and, on DSE, the side).
_EVENTS_WITH_PARAM: Final = frozenset({EVENT_UDP_SENT})
#: Events known to carry no parameter; with the one above, their shape shows the dialect.
_EVENTS_WITHOUT_PARAM: Final = frozenset({0x20, 0x22, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29})

_IPV6_RE: Final = re.compile(r"^[0-9A-Fa-f]{4}(?::[0-9A-Fa-f]{4}){7}$")
_HEX_RE: Final = re.compile(r"^[0-9A-Fa-f]+$")
_ERROR_RE: Final = re.compile(r"^FAIL\s+(ER[0-9A-Fa-f]{2})\s*$")
_RESPONSE_PREFIXES: Final = ("EVER", "EAPPVER", "EINFO", "ESREG", "EADDR", "ENEIGHBOR", "EPORT")
_ECHO_PREFIXES: Final = ("SK", "WOPT", "ROPT", "WUART", "RUART")
_SECRET_COMMANDS: Final = (
    (re.compile(r"(SKSETPWD\s+[0-9A-Fa-f]+\s+)\S+"), r"\1********"),
    (re.compile(r"(SKSETRBID\s+)\S+"), r"\1********"),
)


class Dialect(enum.StrEnum):
    """SKSTACK-IP command dialect of the dongle."""

    A1 = "A1"
    DSE = "DSE"


@dataclass(frozen=True, slots=True)
class Event:
    """An ``EVENT`` line."""

    num: int
    sender: str
    side: int | None = None
    param: int | None = None


@dataclass(frozen=True, slots=True)
class PanDescription:
    """One ``EPANDESC`` block (a beacon answer during an active scan)."""

    channel: int
    pan_id: int
    addr: str
    lqi: int | None = None
    channel_page: int | None = None
    side: int | None = None
    pair_id: str | None = None


@dataclass(frozen=True, slots=True)
class UdpPacket:
    """One ``ERXUDP`` packet."""

    sender: str
    dest: str
    rport: int
    lport: int
    sender_mac: str
    secured: bool
    side: int | None
    rssi: int | None
    data: bytes


@dataclass(slots=True)
class Response:
    """What a command produced: its data lines and the value after ``OK``."""

    lines: list[str] = field(default_factory=list)
    value: str | None = None


class Redactor:
    """Removes the B-route credentials from anything that is logged."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """Remember the strings that must never be logged."""
        self._secrets: list[str] = []
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Add more strings to hide (longest first, so overlapping ones vanish whole)."""
        self._secrets = sorted({*self._secrets, *(s for s in secrets if s)}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Return ``text`` with the secrets replaced."""
        for pattern, repl in _SECRET_COMMANDS:
            text = pattern.sub(repl, text)
        folded = text.casefold()
        for secret in self._secrets:
            # Case-insensitive: the ID is hex and may come back in either case.
            if secret.casefold() in folded:
                text = re.sub(re.escape(secret), "********", text, flags=re.IGNORECASE)
                folded = text.casefold()
        return text


def _parse_int(token: str, base: int = 16) -> int:
    return int(token, base)


def parse_event(line: str, dialect: Dialect | None) -> tuple[Event, Dialect | None]:
    """Parse an ``EVENT`` line; also return the dialect its shape proves, if any.

    A1: ``EVENT <num> <ip>[ <param>]``; DSE: ``EVENT <num> <ip> <side>[ <param>]``.
    """
    tokens = line.split()
    if len(tokens) < 2 or tokens[0] != "EVENT":
        raise ValueError("not an EVENT line")
    num = _parse_int(tokens[1])
    sender = tokens[2] if len(tokens) > 2 else ""
    rest = tokens[3:]
    learnt: Dialect | None = None
    if num in _EVENTS_WITH_PARAM or num in _EVENTS_WITHOUT_PARAM:
        # The parameter count of these events is known, so the shape tells the dialect.
        expected = 1 if num in _EVENTS_WITH_PARAM else 0
        if len(rest) == expected + 1:
            learnt = Dialect.DSE
        elif len(rest) == expected:
            learnt = Dialect.A1
    use = dialect or learnt
    side: int | None = None
    param: int | None = None
    if use is Dialect.DSE and rest:
        side = _parse_int(rest[0])
        rest = rest[1:]
    if rest:
        param = _parse_int(rest[0])
    return Event(num, sender, side, param), learnt


def _split_erxudp_header(tokens: list[str]) -> tuple[int, int | None, int | None, int] | None:
    """Locate SECURED/SIDE/RSSI/DATALEN among the tokens after SENDERLLA.

    Returns (secured, side, rssi, datalen) or None. Parsing is by token shape rather
    than by a fixed count: SECURED and SIDE are one digit, DATALEN is four hex digits,
    and an RSSI field (DSE with SA2=1) precedes SECURED.
    """
    idx = 0
    rssi: int | None = None
    if idx < len(tokens) and len(tokens[idx]) != 1:
        rssi_token = tokens[idx]
        try:
            rssi = int(rssi_token, 10) if rssi_token.startswith("-") else int(rssi_token, 16)
        except ValueError:
            return None
        idx += 1
    if idx >= len(tokens) or tokens[idx] not in ("0", "1"):
        return None
    secured = int(tokens[idx])
    idx += 1
    side: int | None = None
    if idx < len(tokens) and len(tokens[idx]) == 1:
        if not _HEX_RE.match(tokens[idx]):
            return None
        side = _parse_int(tokens[idx])
        idx += 1
    if idx != len(tokens) - 1:
        return None
    datalen_token = tokens[idx]
    if len(datalen_token) != 4 or not _HEX_RE.match(datalen_token):
        return None
    return secured, side, rssi, int(datalen_token, 16)


def parse_erxudp_line(line: str) -> UdpPacket:
    """Parse a complete hex-ASCII ``ERXUDP`` line (8, 9 or 10 fields)."""
    tokens = line.split()
    if len(tokens) < 9 or tokens[0] != "ERXUDP":
        raise ValueError("not an ERXUDP line")
    data_hex = tokens[-1]
    head = _split_erxudp_header(tokens[6:-1])
    if head is None:
        raise ValueError("malformed ERXUDP header")
    secured, side, rssi, datalen = head
    if len(data_hex) != 2 * datalen or not _HEX_RE.match(data_hex):
        raise ValueError("ERXUDP data does not match its length")
    return _make_packet(tokens[1:6], secured, side, rssi, bytes.fromhex(data_hex))


def _make_packet(
    addr: list[str], secured: int, side: int | None, rssi: int | None, data: bytes
) -> UdpPacket:
    sender, dest, rport, lport, mac = addr
    if not (_IPV6_RE.match(sender) and _IPV6_RE.match(dest)):
        raise ValueError("bad ERXUDP address")
    return UdpPacket(
        sender=sender.upper(),
        dest=dest.upper(),
        rport=_parse_int(rport),
        lport=_parse_int(lport),
        sender_mac=mac.upper(),
        secured=bool(secured),
        side=side,
        rssi=rssi,
        data=data,
    )


def parse_pandesc(lines: Iterable[str]) -> PanDescription:
    """Build a PanDescription from the indented ``Key:Value`` lines of an EPANDESC."""
    values: dict[str, str] = {}
    for raw in lines:
        key, sep, value = raw.strip().partition(":")
        if sep:
            values[key.strip().lower()] = value.strip()
    try:
        return PanDescription(
            channel=_parse_int(values["channel"]),
            pan_id=_parse_int(values["pan id"]),
            addr=values["addr"].upper(),
            lqi=_parse_int(values["lqi"]) if "lqi" in values else None,
            channel_page=_parse_int(values["channel page"]) if "channel page" in values else None,
            side=_parse_int(values["side"]) if "side" in values else None,
            pair_id=values.get("pairid"),
        )
    except (KeyError, ValueError) as exc:
        raise ValueError(f"incomplete EPANDESC ({exc})") from None


type Notice = Event | PanDescription


class Subscription:
    """A queue of events and scan results, registered before the command that causes them.

    Registering first closes the race where e.g. ``EVENT 25`` arrives in the same read
    as the ``OK`` of ``SKJOIN``.
    """

    def __init__(self, owner: SkStack) -> None:
        """Attach to ``owner``; use as a context manager to detach."""
        self._owner = owner
        self._queue: asyncio.Queue[Notice | BaseException] = asyncio.Queue()

    def __enter__(self) -> Subscription:
        """Start receiving."""
        self._owner._subscriptions.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop receiving."""
        with contextlib.suppress(ValueError):
            self._owner._subscriptions.remove(self)

    def put(self, item: Notice | BaseException) -> None:
        """Queue one item (called by the reader)."""
        self._queue.put_nowait(item)

    async def get(self, limit: float) -> Notice:
        """Return the next event or EPANDESC; TimeoutError after ``limit`` seconds."""
        async with asyncio.timeout(limit):
            item = await self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    async def wait_event(self, nums: Iterable[int], limit: float) -> Event:
        """Return the first event whose number is in ``nums``; skip everything else."""
        wanted = frozenset(nums)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            item = await self.get(max(deadline - loop.time(), 0.0))
            if isinstance(item, Event) and item.num in wanted:
                return item


@dataclass(slots=True)
class _Pending:
    name: str
    future: asyncio.Future[Response]
    response: Response = field(default_factory=Response)
    bare_line: bool = False  # SKLL64: answered by one line, no OK
    sendto: bool = False
    ok_seen: bool = False
    send_result: int | None = None


class SkStack:
    """An SKSTACK-IP dongle on an open stream."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: PortWriter,
        *,
        secrets: Iterable[str] = (),
        on_event: Callable[[Event], None] | None = None,
        on_udp: Callable[[UdpPacket], None] | None = None,
        on_lost: Callable[[BaseException], None] | None = None,
        on_reset: Callable[[], None] | None = None,
        command_timeout: float = 5.0,
        dialect: Dialect | None = None,
    ) -> None:
        """Wrap a stream; call :meth:`start` to begin reading."""
        self._reader = reader
        self._writer = writer
        self.redact = Redactor(secrets)
        self.on_event = on_event
        self.on_udp = on_udp
        self.on_lost = on_lost
        self.on_reset = on_reset
        self.command_timeout = command_timeout
        self.dialect: Dialect | None = dialect
        #: True: ERXUDP data is raw bytes; False: hex text; None: not known (guess per line).
        self.binary_payload: bool | None = None
        #: Whether the dongle echoes commands; None until known.
        self.echo: bool | None = None
        self.version: str | None = None
        self._lock = asyncio.Lock()
        self._pending: _Pending | None = None
        self._subscriptions: list[Subscription] = []
        self._pandesc: list[str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost: BaseException | None = None
        self._closing = False

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Start the reader task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._read_loop(), name="broute skstack reader"
            )

    @property
    def lost(self) -> BaseException | None:
        """Why the stream ended, if it did."""
        return self._lost

    async def stop(self) -> None:
        """Stop reading (the caller closes the port)."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._fail_waiters(TransportLostError("port closed"))

    # --- logging -------------------------------------------------------------------

    def _log(self, direction: str, text: str) -> None:
        """The single traffic logging point: everything passes the redactor."""
        if TRAFFIC_LOGGER.isEnabledFor(logging.DEBUG):
            TRAFFIC_LOGGER.debug("%s %s", direction, self.redact(text))

    # --- reading -------------------------------------------------------------------

    async def _read_loop(self) -> None:
        buf = bytearray()
        try:
            while True:
                chunk = await self._reader.read(4096)
                if not chunk:
                    raise TransportLostError("the port closed (end of stream)")
                buf += chunk
                self._consume(buf)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure of the stream ends this session with it
            lost = (
                exc
                if isinstance(exc, TransportLostError)
                else TransportLostError(f"reading the port failed: {type(exc).__name__}")
            )
            if not isinstance(exc, TransportLostError):
                lost.__cause__ = exc
            if buf:
                self._consume(buf, final=True)
            self._flush_pandesc()
            self._lost = lost
            self._fail_waiters(lost)
            if not self._closing:
                _LOGGER.debug("Dongle stream ended: %s", lost)
                if self.on_lost is not None:
                    self.on_lost(lost)

    def _consume(self, buf: bytearray, *, final: bool = False) -> None:
        """Take every complete line (or ERXUDP packet) off the front of ``buf``."""
        while buf:
            if buf[0] in b"\r\n":
                del buf[0]
                continue
            if buf.startswith(b"ERXUDP "):
                try:
                    used = self._try_erxudp(buf, final=final)
                except ValueError:  # a malformed header must not end the reader
                    used = 0
                if used is None:
                    return  # wait for more bytes
                if used > 0:
                    del buf[:used]
                    continue
                # used == 0: not a well-formed packet header; treat as a plain line
            end = _line_end(buf)
            if end < 0:
                if final:
                    end = len(buf)
                elif len(buf) > MAX_LINE:
                    _LOGGER.debug("Dropping %d bytes without a line end", len(buf))
                    buf.clear()
                    return
                else:
                    return
            raw = bytes(buf[:end])
            del buf[: end + 1]
            self._handle_raw_line(raw)

    def _try_erxudp(self, buf: bytearray, *, final: bool) -> int | None:
        """Cut one ERXUDP packet off ``buf``.

        Returns the bytes used, None when more input is needed, 0 when the bytes do not
        form a packet header (they are then handled as an ordinary line).
        """
        # The header is ASCII up to and including "<DATALEN> "; find it token by token.
        line_end = _line_end(buf)
        limit = len(buf) if line_end < 0 else line_end
        tokens: list[tuple[int, int]] = []  # (start, end) of each token
        pos = 0
        while pos < limit and len(tokens) < 12:
            while pos < limit and buf[pos] == 0x20:
                pos += 1
            start = pos
            while pos < limit and buf[pos] != 0x20:
                pos += 1
            if pos >= limit:
                break  # last token is not complete (no trailing space)
            tokens.append((start, pos))
            if len(tokens) >= 8:
                words = [buf[s:e].decode("ascii", "replace") for s, e in tokens]
                head = _split_erxudp_header(words[6:])
                if head is not None and len(words[-1]) == 4:
                    return self._take_erxudp_payload(buf, words, head, pos + 1, final=final)
        if line_end >= 0 or final or len(buf) > 200:
            return 0
        return None

    def _take_erxudp_payload(
        self,
        buf: bytearray,
        words: list[str],
        head: tuple[int, int | None, int | None, int],
        start: int,
        *,
        final: bool,
    ) -> int | None:
        secured, side, rssi, datalen = head
        if datalen > MAX_DATALEN:
            return 0
        hex_len = 2 * datalen
        binary = self.binary_payload
        if binary is None:
            # Unknown mode: hex text is 2×DATALEN hex digits followed by the line end.
            if len(buf) < start + hex_len + 1 and not final:
                # Binary data shorter than the hex form may already be complete.
                if len(buf) >= start + datalen and not _looks_hex(buf[start : start + datalen]):
                    binary = True
                else:
                    return None
            else:
                tail = buf[start + hex_len : start + hex_len + 1]
                binary = not (
                    _looks_hex(buf[start : start + hex_len]) and bytes(tail) in (b"\r", b"\n")
                )
        if binary:
            if len(buf) < start + datalen:
                return 0 if final else None
            data = bytes(buf[start : start + datalen])
            used = start + datalen
        else:
            end = _line_end(buf, start)
            if end < 0:
                return 0 if final else None
            text = buf[start:end].decode("ascii", "replace").strip()
            if len(text) != hex_len or not _HEX_RE.match(text):
                _LOGGER.debug("Dropping ERXUDP whose data does not match DATALEN")
                return end + 1
            data = bytes.fromhex(text)
            used = end + 1
        header = " ".join(words)
        self._log("<", f"{header} {loggable_payload(data)}")
        try:
            packet = _make_packet(words[1:6], secured, side, rssi, data)
        except ValueError:
            _LOGGER.debug("Dropping malformed ERXUDP header")
            return used
        if self.dialect is None:
            self.dialect = Dialect.A1 if side is None else Dialect.DSE
        self._deliver_udp(packet)
        return used

    def _handle_raw_line(self, raw: bytes) -> None:
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            _LOGGER.debug("Dropping a non-ASCII line of %d bytes", len(raw))
            self._log("<?", raw.hex())
            return
        if not line.strip():
            return
        self._log("<", line)
        try:
            self._route_line(line)
        except Exception:  # a bad line must never stop the reader
            _LOGGER.debug("Dropping a line that could not be parsed", exc_info=True)

    def _route_line(self, line: str) -> None:
        if line[0] in " \t":
            if self._pandesc is not None:
                self._pandesc.append(line)
            else:
                _LOGGER.debug("Dropping an indented line outside EPANDESC")
            return
        self._flush_pandesc()
        text = line.strip()
        head = text.split(" ", 1)[0]
        pending = self._pending
        if text == "EPANDESC":
            self._pandesc = []
        elif head == "EVENT":
            self._handle_event(text)
        elif head == "ERXUDP":
            packet = parse_erxudp_line(text)
            if self.dialect is None:
                self.dialect = Dialect.A1 if packet.side is None else Dialect.DSE
            self._deliver_udp(packet)
        elif head == "OK":
            if pending is None:
                _LOGGER.debug("Unexpected OK")
                return
            pending.response.value = text[2:].strip() or None
            pending.ok_seen = True
            self._maybe_finish(pending)
        elif head == "FAIL":
            match = _ERROR_RE.match(text)
            if match is None:
                _LOGGER.debug("Dropping a malformed FAIL line")
            elif pending is not None and not pending.future.done():
                pending.future.set_exception(CommandError(pending.name, match.group(1).upper()))
        elif head.startswith(_ECHO_PREFIXES):
            self._handle_echo(head)
        elif head in _RESPONSE_PREFIXES:
            if pending is not None:
                pending.response.lines.append(text)
        elif _IPV6_RE.match(text):
            if pending is not None and pending.bare_line and not pending.future.done():
                pending.response.lines.append(text.upper())
                pending.future.set_result(pending.response)
        else:
            _LOGGER.debug("Dropping an unrecognised line")

    def _handle_echo(self, head: str) -> None:
        if self.echo is False and head != "SKRESET":
            # Echo was switched off and is back: the dongle restarted behind our back.
            _LOGGER.debug("Command echo is back on: the dongle was reset")
            self.echo = True
            if self.on_reset is not None:
                self.on_reset()
        elif self.echo is None:
            self.echo = True

    def _handle_event(self, text: str) -> None:
        event, learnt = parse_event(text, self.dialect)
        if self.dialect is None and learnt is not None:
            self.dialect = learnt
        pending = self._pending
        if (
            event.num == EVENT_UDP_SENT
            and pending is not None
            and pending.sendto
            and event.param in (0, 1)
        ):
            pending.send_result = event.param
            self._maybe_finish(pending)
        for sub in list(self._subscriptions):
            sub.put(event)
        if self.on_event is not None:
            self.on_event(event)

    def _flush_pandesc(self) -> None:
        lines, self._pandesc = self._pandesc, None
        if lines is None:
            return
        try:
            desc = parse_pandesc(lines)
        except ValueError:
            _LOGGER.debug("Dropping an incomplete EPANDESC block")
            return
        for sub in list(self._subscriptions):
            sub.put(desc)

    def _deliver_udp(self, packet: UdpPacket) -> None:
        if PANA_PORT in (packet.rport, packet.lport):
            return  # PANA handshake traffic, handled by the dongle itself
        if self.on_udp is not None:
            try:
                self.on_udp(packet)
            except Exception:  # a consumer's bug must not stop the reader
                _LOGGER.exception("on_udp callback failed")

    def _maybe_finish(self, pending: _Pending) -> None:
        if pending.future.done():
            return
        if pending.sendto and pending.send_result is None:
            return
        if not pending.ok_seen:
            return
        pending.future.set_result(pending.response)

    def _fail_waiters(self, exc: BaseException) -> None:
        pending = self._pending
        if pending is not None and not pending.future.done():
            pending.future.set_exception(exc)
        for sub in list(self._subscriptions):
            sub.put(exc)

    # --- writing -------------------------------------------------------------------

    async def _write(self, data: bytes, log_text: str) -> None:
        if self._lost is not None:
            raise TransportLostError("the port is gone") from self._lost
        self._log(">", log_text)
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (OSError, RuntimeError, ConnectionError) as exc:
            raise TransportLostError(f"writing to the port failed: {type(exc).__name__}") from exc

    async def write_raw(self, data: bytes) -> None:
        """Write bytes outside any command (e.g. the bare CRLF that clears input)."""
        async with self._lock:
            await self._write(data, repr(data))

    async def command(
        self,
        name: str,
        *args: str,
        time_limit: float | None = None,
        bare_line: bool = False,
    ) -> Response:
        """Send one command and wait for ``OK`` (or the bare line for SKLL64).

        Raises CommandError on ``FAIL ERxx`` and DongleNotRespondingError on silence.
        """
        line = " ".join((name, *args))
        return await self._run(
            _Pending(name, asyncio.get_running_loop().create_future(), bare_line=bare_line),
            f"{line}\r\n".encode("ascii"),
            line,
            time_limit,
        )

    async def _run(
        self, pending: _Pending, data: bytes, log_text: str, time_limit: float | None
    ) -> Response:
        async with self._lock:
            self._pending = pending
            try:
                await self._write(data, log_text)
                try:
                    async with asyncio.timeout(time_limit or self.command_timeout):
                        return await asyncio.shield(pending.future)
                except TimeoutError:
                    raise DongleNotRespondingError(f"{pending.name} was not answered") from None
            finally:
                self._pending = None
                if not pending.future.done():
                    pending.future.cancel()
                elif not pending.future.cancelled():
                    pending.future.exception()  # mark retrieved

    async def sendto(
        self,
        ipaddr: str,
        data: bytes,
        *,
        port: int = ECHONET_PORT,
        handle: int = ECHONET_HANDLE,
        sec: int = 1,
        side: int = 0,
        time_limit: float | None = None,
    ) -> bool:
        """Send one UDP datagram; True when the dongle reports EVENT 21 … 00.

        The header is followed directly by the raw payload (no CRLF). Both ``OK`` and the
        final ``EVENT 21`` (00 sent / 01 failed; 02 only means "neighbour solicitation
        sent, keep waiting") are awaited, in either order, so the next send never
        overlaps this one. A dongle whose dialect is still unknown is tried in the DSE
        form first and in the A1 form on ``FAIL ER05``.
        """
        forms = _forms(self.dialect)
        for i, form in enumerate(forms):
            head = ["SKSENDTO", str(handle), ipaddr, f"{port:04X}", str(sec)]
            if form is Dialect.DSE:
                head.append(str(side))
            head.append(f"{len(data):04X}")
            header = " ".join(head)
            pending = _Pending("SKSENDTO", asyncio.get_running_loop().create_future(), sendto=True)
            try:
                await self._run(
                    pending,
                    header.encode("ascii") + b" " + data,
                    f"{header} {loggable_payload(data)}",
                    time_limit,
                )
            except CommandError as exc:
                if exc.code == "ER05" and i + 1 < len(forms):
                    continue
                raise
            except DongleNotRespondingError:
                if pending.ok_seen:
                    # OK came, the final EVENT 21 did not: count it as a failed send.
                    _LOGGER.debug("SKSENDTO: no EVENT 21 after OK")
                    return False
                raise
            self.dialect = form
            return pending.send_result == 0
        raise AssertionError("unreachable")  # pragma: no cover

    def subscribe(self) -> Subscription:
        """Return a subscription to events and EPANDESC blocks (a context manager)."""
        return Subscription(self)

    # --- convenience commands --------------------------------------------------------

    async def scan(
        self, duration: int, *, mask: int = 0xFFFFFFFF, mode: int = 2, time_limit: float
    ) -> list[PanDescription]:
        """Active scan; returns the EPANDESCs seen before ``EVENT 22``.

        With the dialect unknown the DSE form is sent first and the A1 form after
        ``FAIL ER05`` (the other form is also tried when a remembered dialect is refused).
        """
        forms = _forms(self.dialect)
        # When unknown, the EVENT 20/22 lines (whose shape proves it) set the dialect;
        # an accepted argument count alone could be a lenient parser.
        was_unknown = self.dialect is None
        accepted = forms[0]
        found: list[PanDescription] = []
        with self.subscribe() as sub:
            for i, form in enumerate(forms):
                args = [str(mode), f"{mask:08X}", f"{duration:X}"]
                if form is Dialect.DSE:
                    args.append("0")
                try:
                    await self.command("SKSCAN", *args)
                except CommandError as exc:
                    if exc.code in ("ER04", "ER05", "ER06") and i + 1 < len(forms):
                        _LOGGER.debug(
                            "SKSCAN rejected in %s form (%s); trying %s",
                            form,
                            exc.code,
                            forms[i + 1],
                        )
                        continue
                    raise
                accepted = form
                if not was_unknown:
                    self.dialect = form
                break
            loop = asyncio.get_running_loop()
            deadline = loop.time() + time_limit
            while True:
                try:
                    item = await sub.get(max(deadline - loop.time(), 0.0))
                except TimeoutError:
                    raise DongleNotRespondingError("the scan did not finish") from None
                if isinstance(item, PanDescription):
                    found.append(item)
                elif item.num == EVENT_SCAN_DONE:
                    if self.dialect is None:
                        self.dialect = accepted
                    return found

    async def read_payload_mode(self) -> bool:
        """Ask ROPT how ERXUDP data is shown; True for binary.

        Dongles without ROPT (RL7023 Stick-D/IPS answers ER04) print hex. WOPT is never
        written: it wears the module's flash and binary payloads are parsed anyway.
        """
        try:
            resp = await self.command("ROPT")
        except CommandError as exc:
            if exc.code != "ER04":
                raise
            self.binary_payload = False
            return False
        value = resp.value or "00"
        try:
            self.binary_payload = not (int(value, 16) & 0x01)
        except ValueError:
            self.binary_payload = None
            return True
        return self.binary_payload


def _forms(known: Dialect | None) -> list[Dialect]:
    """Dialects to try, the known (or more common) one first."""
    if known is Dialect.A1:
        return [Dialect.A1, Dialect.DSE]
    return [Dialect.DSE, Dialect.A1]


def _line_end(buf: bytearray, start: int = 0) -> int:
    cr = buf.find(b"\r", start)
    lf = buf.find(b"\n", start)
    if cr < 0:
        return lf
    if lf < 0:
        return cr
    return min(cr, lf)


def _looks_hex(data: bytes | bytearray) -> bool:
    return bool(data) and all(c in b"0123456789ABCDEFabcdef" for c in data)


# --- the Wi-SUN driver ---------------------------------------------------------------

_EVENT_MAP: Final = {
    EVENT_SESSION_EXPIRED: DriverEvent.SESSION_EXPIRED,
    EVENT_PANA_OK: DriverEvent.REAUTHENTICATED,
    EVENT_PANA_FAILED: DriverEvent.SESSION_LOST,
    EVENT_PEER_TERMINATED: DriverEvent.SESSION_LOST,
    EVENT_TERMINATED: DriverEvent.TERMINATED,
    EVENT_TERMINATE_TIMEOUT: DriverEvent.TERMINATED,
    EVENT_TX_LIMIT: DriverEvent.TX_LIMIT,
    EVENT_TX_LIMIT_RELEASED: DriverEvent.TX_LIMIT_RELEASED,
}
#: What a dongle reports even in the middle of a join.
_ALWAYS: Final = frozenset({DriverEvent.TX_LIMIT, DriverEvent.TX_LIMIT_RELEASED})


class SkStackDriver:
    """An SKSTACK-IP dongle on an open port, as a :class:`~.wisun.WiSunDriver`."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: PortWriter,
        *,
        port: str,
        timing: WiSunTiming,
        dialect: Dialect | None = None,
    ) -> None:
        """Wrap the port and start reading it."""
        self.on_event: Callable[[DriverEvent], None] | None = None
        self.on_datagram: Callable[[str, bytes], None] | None = None
        self.on_lost: Callable[[BaseException], None] | None = None
        self._port = port
        self._writer = writer
        self._timing = timing
        self._secrets: tuple[str, ...] = ()
        self._joining = False
        # Where SKLL64 says the meter is, when it disagrees with the computed address.
        self._alias: dict[str, str] = {}
        self.stack = SkStack(
            reader,
            writer,
            on_event=self._on_event,
            on_udp=self._on_udp,
            on_lost=self._on_lost,
            on_reset=self._on_reset,
            command_timeout=timing.command_timeout,
            dialect=dialect,
        )
        self.stack.start()

    @property
    def firmware(self) -> str | None:
        """The EVER version of the dongle, once read."""
        return self.stack.version

    @property
    def dialect(self) -> Dialect | None:
        """The command dialect, once known."""
        return self.stack.dialect

    @property
    def binary_payload(self) -> bool | None:
        """True if the dongle shows ERXUDP data as raw bytes, False for hex text."""
        return self.stack.binary_payload

    def diagnostics(self) -> dict[str, Any]:
        """Dialect, firmware and payload form (nothing identifying)."""
        return {
            "firmware_kind": "skstack",
            "dialect": None if self.dialect is None else str(self.dialect),
            "firmware": self.firmware,
            "binary_payload": self.binary_payload,
        }

    # --- what the stack reports ----------------------------------------------------

    def _emit(self, event: DriverEvent) -> None:
        if self._joining and event not in _ALWAYS:
            return  # the join waits for its own events
        if self.on_event is not None:
            self.on_event(event)

    def _on_event(self, event: Event) -> None:
        mapped = _EVENT_MAP.get(event.num)
        if mapped is not None:
            self._emit(mapped)

    def _on_reset(self) -> None:
        self._emit(DriverEvent.DONGLE_RESET)

    def _on_lost(self, exc: BaseException) -> None:
        if self.on_lost is not None:
            self.on_lost(exc)

    def _on_udp(self, packet: UdpPacket) -> None:
        if ECHONET_PORT not in (packet.rport, packet.lport) or self.on_datagram is None:
            return
        sender = packet.sender.upper()
        for computed, actual in self._alias.items():
            if sender == actual:
                sender = computed
        self.on_datagram(sender, packet.data)

    # --- commands ------------------------------------------------------------------

    async def initialise(self, rbid: str, password: str) -> None:
        """SKRESET, echo off, version, payload form, then the credentials (no flash write)."""
        if not self._secrets:
            self._secrets = (rbid, password)
            self.stack.redact.add(rbid, password)
            protect_secrets(rbid, password)
        stack = self.stack
        stack.echo = None  # SKRESET switches echo back on; not a sign of a surprise reset
        # A bare line end first: leftover input would otherwise make SKRESET fail.
        await stack.write_raw(b"\r\n")
        for attempt in range(2):
            try:
                await stack.command("SKRESET", time_limit=self._timing.reset_timeout)
                break
            except (CommandError, DongleNotRespondingError) as exc:
                if attempt:
                    raise DongleNotRespondingError(
                        f"the dongle on {describe_port(self._port)} does not answer "
                        "SKSTACK-IP commands"
                    ) from exc
                await stack.write_raw(b"\r\n")
        await stack.command("SKSREG", "SFE", "0")
        stack.echo = False
        try:
            ver = await stack.command("SKVER")
            for line in ver.lines:
                if line.startswith("EVER"):
                    stack.version = line.partition(" ")[2].strip() or None
        except CommandError:
            _LOGGER.debug("SKVER not supported")
        await stack.read_payload_mode()
        await stack.command("SKSETPWD", f"{len(password):X}", password)
        await stack.command("SKSETRBID", rbid)

    async def scan(self, duration: int, pair_id: str) -> list[PanDescriptor]:
        """One SKSCAN; every PAN that answered with a well-formed EPANDESC."""
        found = await self.stack.scan(duration, time_limit=self._timing.scan_timeout(duration))
        pans: list[PanDescriptor] = []
        for desc in found:
            try:
                pans.append(
                    PanDescriptor(desc.channel, desc.pan_id, desc.addr, desc.lqi, desc.pair_id)
                )
            except ValueError:
                _LOGGER.debug("Dropping an EPANDESC with impossible values")
        return pans

    async def join(self, pan: PanDescriptor) -> JoinOutcome:
        """Channel, PAN ID, SKLL64, SKJOIN; wait for EVENT 25 (joined) or 24 (rejected)."""
        stack = self.stack
        await stack.command("SKSREG", "S2", f"{pan.channel:02X}")
        await stack.command("SKSREG", "S3", f"{pan.pan_id:04X}")
        ipv6 = pan.ipv6
        try:
            answer = await stack.command("SKLL64", pan.mac, bare_line=True)
            if answer.lines and _IPV6_RE.match(answer.lines[0]):
                if answer.lines[0] != ipv6:
                    _LOGGER.debug("SKLL64 disagrees with the computed address; using SKLL64's")
                    self._alias[pan.ipv6] = answer.lines[0]
                ipv6 = answer.lines[0]
        except DongleError as exc:
            _LOGGER.debug("SKLL64 failed (%s); using the computed address", exc)
        self._joining = True
        try:
            with stack.subscribe() as sub:
                await stack.command("SKJOIN", ipv6)
                try:
                    event = await sub.wait_event(
                        (EVENT_PANA_OK, EVENT_PANA_FAILED), self._timing.join_timeout
                    )
                except TimeoutError:
                    return JoinOutcome.NO_ANSWER
        finally:
            self._joining = False
        if event.num == EVENT_PANA_FAILED:
            return JoinOutcome.REJECTED
        return JoinOutcome.JOINED

    async def send(self, meter_ipv6: str, payload: bytes) -> bool:
        """SKSENDTO on the ECHONET Lite socket; False on EVENT 21 01."""
        sent = await self.stack.sendto(self._alias.get(meter_ipv6, meter_ipv6), payload)
        if not sent:
            _LOGGER.debug("The dongle could not send the datagram (EVENT 21 01)")
        return sent

    async def check(self) -> None:
        """SKINFO: answered by the dongle itself, no air time."""
        await self.stack.command("SKINFO", time_limit=self._timing.command_timeout)

    async def terminate(self) -> None:
        """SKTERM and wait (bounded) for EVENT 27/28."""
        stack = self.stack
        if stack.lost is not None:
            return
        with stack.subscribe() as sub:
            try:
                await stack.command("SKTERM", time_limit=self._timing.term_timeout)
                await sub.wait_event(
                    (EVENT_TERMINATED, EVENT_TERMINATE_TIMEOUT), self._timing.term_timeout
                )
            except (BRouteError, TimeoutError) as exc:
                _LOGGER.debug("SKTERM: %s", exc)

    async def stop(self) -> None:
        """Stop reading and close the port."""
        await self.stack.stop()
        await close_port(self._writer, close_timeout=self._timing.close_timeout)
        if self._secrets:
            release_secrets(*self._secrets)
            self._secrets = ()


class SkStackDrivers:
    """Makes the driver of each opened port, remembering the dialect the last one learnt."""

    def __init__(self) -> None:
        """Nothing learnt yet."""
        self.last: SkStackDriver | None = None

    def __call__(
        self, reader: asyncio.StreamReader, writer: PortWriter, *, port: str, timing: WiSunTiming
    ) -> SkStackDriver:
        """A driver for the freshly opened port."""
        dialect = None if self.last is None else self.last.dialect
        self.last = SkStackDriver(reader, writer, port=port, timing=timing, dialect=dialect)
        return self.last


class SkStackLink(WiSunLink):
    """A meter behind a dongle with SKSTACK-IP firmware."""

    kind: ClassVar[str] = "skstack"

    def __init__(
        self,
        port: str,
        rbid: str,
        password: str,
        *,
        pan: PanDescriptor | None = None,
        timing: WiSunTiming | None = None,
    ) -> None:
        """Prepare the link; nothing is opened before :meth:`open`."""
        self.drivers = SkStackDrivers()
        super().__init__(port, rbid, password, driver_factory=self.drivers, pan=pan, timing=timing)

    @property
    def dialect(self) -> Dialect | None:
        """SKSTACK-IP dialect of the dongle, once known."""
        return None if self.drivers.last is None else self.drivers.last.dialect

    @property
    def dongle_version(self) -> str | None:
        """The dongle's firmware version, once read."""
        return None if self.drivers.last is None else self.drivers.last.firmware

    @property
    def binary_payload(self) -> bool | None:
        """True if the dongle shows ERXUDP data as raw bytes, False for hex text."""
        return None if self.drivers.last is None else self.drivers.last.binary_payload

    def diagnostics(self) -> dict[str, Any]:
        """The Wi-SUN link's facts, with what the dongle told even after it closed."""
        return {
            **super().diagnostics(),
            "dialect": None if self.dialect is None else str(self.dialect),
            "dongle_version": self.dongle_version,
        }
