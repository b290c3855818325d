"""ROHM J11 dongle emulation: the binary UART protocol in front of the same meter.

The engine has the surface :class:`simulator.dongle.Dongle` offers the simulator and
the fault knobs (``feed``, ``state``, ``reset_volatile``, ``expire_session``, …) so
every fault works on both kinds of dongle. It encodes and decodes its own frames (the
simulator never imports the client library); docs/j11.md gives the layouts and which
behaviours are confirmed by public sources and which are this simulator's choices.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .dongle import DongleEngine, DongleModel, DongleState

if TYPE_CHECKING:
    from .echonet import Frame
    from .sim import Pan, Simulator

_LOGGER = logging.getLogger(__name__)

REQUEST_PREFIX = bytes.fromhex("D0EA83FC")
RESPONSE_PREFIX = bytes.fromhex("D0F9EE5D")
ECHONET_PORT = 0x0E1A
PANA_PORT = 0x02CC
#: SKSTACK channel 33 (0x21) and J11 channel 4 are both 922.5 MHz.
CHANNEL_OFFSET = 29
MAX_PORTS = 6
MAX_PAYLOAD = 1232

# Result codes (ROHM Table 34).
OK = 0x01
INVALID_COMMAND = 0x03
INVALID_PARAMETER = 0x04
PORT_ALREADY_OPEN = 0x0A
PORT_NOT_OPEN = 0x0B
MAC_CONNECTION_FAILED = 0x0E
NOT_STARTED = 0x10
BAD_LENGTH = 0x11
TOO_MANY_PORTS = 0x12
ROUTE_B_OPERATING = 0x34
PANA_IN_PROGRESS = 0x52
DATA_CHECKSUM_ERROR = 0xF1

#: (firmware ID, major, minor, revision) answered to 0x006B.
_VERSIONS = {DongleModel.BP35C2_J11: (0x0400, 1, 3, 0x0000158A)}


def checksum(data: bytes | bytearray) -> int:
    return sum(data) & 0xFFFF


def encode(code: int, data: bytes = b"", *, prefix: bytes = RESPONSE_PREFIX) -> bytes:
    """One frame with both sums (module → host unless told otherwise)."""
    head = prefix + code.to_bytes(2, "big") + (len(data) + 4).to_bytes(2, "big")
    return head + checksum(head).to_bytes(2, "big") + checksum(data).to_bytes(2, "big") + data


def ipv6_bytes(text: str) -> bytes:
    """Expanded IPv6 text (as the rest of the simulator keeps it) to 16 bytes."""
    return bytes.fromhex(text.replace(":", ""))


def _signed_byte(value: int) -> int:
    return max(-128, min(127, value)) & 0xFF


def lqi_to_rssi(lqi: int) -> int:
    return round(0.275 * lqi - 104.27)


class J11Dongle(DongleEngine):
    """Protocol engine of one J11-firmware dongle attached to the simulator."""

    def __init__(self, sim: Simulator, model: DongleModel, mac: str) -> None:
        # pending_ns is an SKSTACK-only knob; a J11 dongle resolves neighbours silently.
        super().__init__(sim, model, DongleState(mac=mac, echo=False))
        #: The regreh report: re-authentication (and any PANA) fails until a module reset.
        self.pana_stuck = False
        self._channel: int | None = None  # J11 numbering, set by 0x005F
        self._route_b: Pan | None = None
        self._ports: set[int] = set()
        self._pana_running = False

    # --- plumbing ------------------------------------------------------------------------

    def respond(self, code: int, data: bytes = b"") -> None:
        self.emit(encode(code | 0x2000, data))

    def notify(self, code: int, data: bytes = b"") -> None:
        self.emit(encode(code, data))

    def event(self, num: int, addr: str, param: str | None = None) -> None:
        """SKSTACK EVENT hook used by shared fault knobs: J11 has no such line.

        The transmit-limit knob calls it with EVENT 32/33; the J11 sources name no
        notification for the ARIB budget, so the dongle only refuses sends meanwhile.
        """
        _LOGGER.debug("j11 dongle: no notification for SKSTACK EVENT %02X", num)

    # --- input -----------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._buf += data
        while self._step():
            pass
        if len(self._buf) > 8192:  # a real UART buffer would overflow too
            self._buf.clear()

    def _step(self) -> bool:
        buf = self._buf
        start = buf.find(REQUEST_PREFIX)
        if start < 0:
            del buf[: max(0, len(buf) - 3)]
            return False
        del buf[:start]
        if len(buf) < 12:
            return False
        code = int.from_bytes(buf[4:6], "big")
        length = int.from_bytes(buf[6:8], "big")
        if checksum(buf[0:8]) != int.from_bytes(buf[8:10], "big") or not 4 <= length <= 2052:
            # A header we cannot trust: skip this start and hunt for the next one.
            del buf[:1]
            return True
        size = 8 + length
        if len(buf) < size:
            return False
        data = bytes(buf[12:size])
        data_sum = int.from_bytes(buf[10:12], "big")
        del buf[:size]
        if self.state.silent and code != 0x00D9:
            return True
        if checksum(data) != data_sum:
            self.respond(code, bytes([DATA_CHECKSUM_ERROR]))
            return True
        self._handle(code, data)
        return True

    def _handle(self, code: int, data: bytes) -> None:
        st = self.state
        shown = "********" if code == 0x0054 else data.hex().upper()
        st.last_commands.append(f"{code:04X} {shown}".rstrip())
        self.sim.stats.count_command(f"{code:04X}")
        _LOGGER.debug("j11 dongle <- %04X (%d bytes)", code, len(data))
        handler = _HANDLERS.get(code)
        if handler is None:
            self.respond(code, bytes([INVALID_COMMAND]))
            return
        handler(self, data)

    # --- commands ----------------------------------------------------------------------------

    def cmd_version(self, data: bytes) -> None:
        firmware, major, minor, revision = _VERSIONS[self.model]
        self.respond(
            0x006B,
            bytes([OK])
            + firmware.to_bytes(2, "big")
            + bytes([major, minor])
            + revision.to_bytes(4, "big"),
        )

    def cmd_reset(self, data: bytes) -> None:
        # No response: the module reboots and announces itself with 0x6019.
        self.state.silent = False
        self.reset_volatile()

    def reset_volatile(self) -> None:
        """Power-on state; the module announces the boot unless it hangs (``silent``)."""
        st = self.state
        self.cancel_all_nowait()
        st.joined = False
        st.transmit_limited = False
        st.rbid_set = st.password_set = False
        self._rbid = self._password = None
        self._channel = None
        self._route_b = None
        self._ports.clear()
        self._pana_running = False
        self.pana_stuck = False
        self.sim.meter_session_lost()
        self.spawn(self._boot())

    async def _boot(self) -> None:
        await self.sleep(0.3)
        if not self.state.silent:
            self.notify(0x6019)

    def cmd_initial_settings(self, data: bytes) -> None:
        if len(data) != 4:
            self.respond(0x005F, bytes([BAD_LENGTH]))
            return
        mode, sleep, channel, power = data
        if mode not in (1, 2, 3, 5) or sleep > 1 or not 4 <= channel <= 17 or power > 2:
            self.respond(0x005F, bytes([INVALID_PARAMETER]))
            return
        if self._route_b is not None:
            self.respond(0x005F, bytes([ROUTE_B_OPERATING]))
            return
        self._channel = channel if mode == 5 else None
        self.respond(0x005F, bytes([OK]))

    def cmd_set_auth(self, data: bytes) -> None:
        if len(data) != 44:
            self.respond(0x0054, bytes([BAD_LENGTH]))
            return
        if self._route_b is not None:
            self.respond(0x0054, bytes([ROUTE_B_OPERATING]))
            return
        self._rbid = data[:32].decode("ascii", "replace")
        self._password = data[32:].decode("ascii", "replace")
        self.state.rbid_set = self.state.password_set = True
        self.respond(0x0054, bytes([OK]))

    def credentials_match(self) -> bool:
        return self._rbid == self.sim.rbid and self._password == self.sim.password

    def cmd_active_scan(self, data: bytes) -> None:
        if len(data) not in (6, 14):
            self.respond(0x0051, bytes([BAD_LENGTH]))
            return
        duration, mask, flag = data[0], int.from_bytes(data[1:5], "big"), data[5]
        if (
            not 1 <= duration <= 14
            or flag > 1
            or (flag == 1) != (len(data) == 14)
            or mask & ~0x0003FFF0
        ):
            self.respond(0x0051, bytes([INVALID_PARAMETER]))
            return
        if self._channel is None:
            self.respond(0x0051, bytes([NOT_STARTED]))
            return
        pair_id = data[6:].decode("ascii", "replace") if flag else None
        self.sim.stats.scans += 1
        self.spawn(self._scan(duration, mask, pair_id))

    def _beacon(self, pan: Pan) -> bytes:
        rssi = _signed_byte(lqi_to_rssi(pan.lqi))
        return bytes.fromhex(pan.mac) + pan.pan_id.to_bytes(2, "big") + bytes([rssi])

    async def _scan(self, duration: int, mask: int, pair_id: str | None) -> None:
        channels = [ch for ch in range(4, 18) if mask & (1 << ch)]
        dwell = self.sim.timing.scan_dwell(duration)
        for channel in channels:
            await self.sleep(dwell)
            pans = [
                pan
                for pan in self.sim.visible_pans()
                if pan.channel - CHANNEL_OFFSET == channel
                and duration >= pan.min_scan_duration
                and (pair_id is None or pan.pair_id == pair_id)
            ]
            if pans:
                body = b"".join(self._beacon(pan) for pan in pans)
                self.notify(0x4051, bytes([0x00, channel, len(pans)]) + body)
            else:
                self.notify(0x4051, bytes([0x01, channel]))
        # The response closes the scan (ROHM's sample order: notifications, then 0x2051).
        self.respond(0x0051, bytes([OK]))

    def cmd_start_route_b(self, data: bytes) -> None:
        if data:
            self.respond(0x0053, bytes([BAD_LENGTH]))
            return
        if self._route_b is not None:
            self.respond(0x0053, bytes([ROUTE_B_OPERATING]))
            return
        if self._channel is None or self._rbid is None:
            self.respond(0x0053, bytes([NOT_STARTED]))
            return
        self.spawn(self._start_route_b(self._channel, self._rbid[-8:]))

    async def _start_route_b(self, channel: int, pair_id: str) -> None:
        # The module looks for the meter with the ID's pairing ID on its channel.
        await self.sleep(self.sim.timing.join_seconds * 0.3)
        for pan in self.sim.visible_pans():
            if pan.channel - CHANNEL_OFFSET == channel and pan.pair_id == pair_id:
                self._route_b = pan
                body = bytes([OK, channel]) + pan.pan_id.to_bytes(2, "big")
                body += bytes.fromhex(pan.mac) + bytes([_signed_byte(lqi_to_rssi(pan.lqi))])
                self.respond(0x0053, body)
                return
        self.respond(0x0053, bytes([MAC_CONNECTION_FAILED]))

    def cmd_end_route_b(self, data: bytes) -> None:
        if self._route_b is None:
            self.respond(0x0058, bytes([NOT_STARTED]))
            return
        self._drop_session()
        self._route_b = None
        self.respond(0x0058, bytes([OK]))

    def cmd_open_port(self, data: bytes) -> None:
        if len(data) != 2:
            self.respond(0x0005, bytes([BAD_LENGTH]))
            return
        port = int.from_bytes(data, "big")
        if port in self._ports:
            self.respond(0x0005, bytes([PORT_ALREADY_OPEN]))
        elif len(self._ports) >= MAX_PORTS:
            self.respond(0x0005, bytes([TOO_MANY_PORTS]))
        else:
            self._ports.add(port)
            self.respond(0x0005, bytes([OK]))

    def cmd_close_port(self, data: bytes) -> None:
        port = int.from_bytes(data, "big") if len(data) == 2 else -1
        if port not in self._ports:
            self.respond(0x0006, bytes([PORT_NOT_OPEN]))
            return
        self._ports.discard(port)
        self.respond(0x0006, bytes([OK]))

    def cmd_start_pana(self, data: bytes) -> None:
        if self._route_b is None:
            self.respond(0x0056, bytes([NOT_STARTED]))
            return
        if self._pana_running:
            self.respond(0x0056, bytes([PANA_IN_PROGRESS]))
            return
        self.respond(0x0056, bytes([OK]))
        self.sim.stats.joins += 1
        self._pana_running = True
        self.spawn(self._pana(self._route_b))

    async def _pana(self, pan: Pan) -> None:
        st = self.state
        st.joined = False
        self._cancel_lifetime()
        join_time = self.sim.timing.join_seconds
        mac = bytes.fromhex(pan.mac)
        try:
            await self.sleep(join_time * 0.3)
            if not pan.reachable() or self.pana_stuck:
                await self.sleep(join_time * 2)
                self.notify(0x6028, bytes([0x03]) + mac)
                return
            await self.sleep(join_time * 0.5)
            if not pan.is_main or not self.credentials_match():
                self.notify(0x6028, bytes([0x02]) + mac)
                return
            st.joined = True
            st.session_count += 1
            self.sim.meter_session_started()
            self.notify(0x6028, bytes([0x01]) + mac)
            self._start_lifetime()
        finally:
            self._pana_running = False
        await self.sleep(join_time * 0.05)
        self.meter_frame(self.sim.meter.instance_list_inf(), multicast=True)

    def cmd_end_pana(self, data: bytes) -> None:
        if not self.state.joined:
            self.respond(0x0057, bytes([NOT_STARTED]))
            return
        self._drop_session()
        self.respond(0x0057, bytes([OK]))

    def cmd_redo_pana(self, data: bytes) -> None:
        if not self.state.joined:
            self.respond(0x00D2, bytes([NOT_STARTED]))
            return
        self.respond(0x00D2, bytes([OK]))
        self.spawn(self._reauth())

    # --- the PANA session ----------------------------------------------------------------

    def _connection_notice(self, state: int) -> None:
        cfg = self.sim.config
        rssi = _signed_byte(lqi_to_rssi(cfg.lqi))
        self.notify(0x601A, bytes([state]) + bytes.fromhex(cfg.mac) + bytes([rssi]))

    def _drop_session(self) -> None:
        self.state.joined = False
        self._cancel_lifetime()
        self.sim.meter_session_lost()

    async def _reauth(self, seconds: float | None = None) -> None:
        if seconds is None:
            await self.sleep(self.sim.timing.join_seconds * 0.5)
        else:
            await asyncio.sleep(seconds)
        mac = bytes.fromhex(self.sim.config.mac)
        if self.state.joined and self.sim.meter_reachable() and not self.pana_stuck:
            self.notify(0x6028, bytes([0x01]) + mac)
            self._start_lifetime()
        else:
            self._drop_session()
            self.notify(0x6028, bytes([0x03]) + mac)

    def expire_session(self, reauth: bool | None, *, reauth_seconds: float | None = None) -> None:
        """The PANA lifetime ends: the module re-authenticates by itself, or loses it."""
        self._cancel_lifetime()
        if not self.state.joined:
            return
        if reauth is None:
            reauth = self.sim.config.auto_reauth
        if reauth:
            self.spawn(self._reauth(reauth_seconds))
        else:
            self._drop_session()
            self._connection_notice(0x04)  # PANA disconnected

    def end_session(self) -> None:
        """The meter ends the session."""
        was = self.state.joined
        self._drop_session()
        if was:
            self._connection_notice(0x04)

    # --- UDP ---------------------------------------------------------------------------------

    def cmd_transmit(self, data: bytes) -> None:
        if len(data) < 22 or len(data) != 22 + int.from_bytes(data[20:22], "big"):
            self.respond(0x0008, bytes([BAD_LENGTH]))
            return
        dest, dport = data[0:16], int.from_bytes(data[18:20], "big")
        payload = data[22:]
        if not 1 <= len(payload) <= MAX_PAYLOAD:
            self.respond(0x0008, bytes([INVALID_PARAMETER]))
            return
        if self._route_b is None:
            self.respond(0x0008, bytes([NOT_STARTED]))
            return
        st = self.state
        stats = self.sim.stats
        stats.sendto += 1
        echo = payload[:5]
        if st.transmit_limited or not st.joined:
            # Simulator's choice (no source gives the code): result OK, not transmitted.
            self.respond(0x0008, bytes([OK, 0x01]) + echo)
            return
        cfg = self.sim.config
        to_meter = dest == ipv6_bytes(cfg.ipv6)
        if to_meter and not self.sim.meter_reachable():
            self.respond(0x0008, bytes([OK, 0x05]) + echo)  # no MAC acknowledgement
            return
        airtime = self.sim.timing.airtime(len(payload))
        st.tx_time_ms += airtime * 1000
        stats.frames_to_meter += 1
        stats.bytes_to_meter += len(payload)
        stats.airtime_seconds += airtime
        self.respond(0x0008, bytes([OK, 0x00]) + echo)
        if dport == ECHONET_PORT and (to_meter or dest[:2] == b"\xff\x02"):
            self.sim.deliver_to_meter(payload, True)

    def meter_frame(self, frame: Frame, *, multicast: bool = False) -> None:
        """A 0x6018 carrying a frame from the main meter."""
        data = frame.encode()
        stats = self.sim.stats
        stats.frames_from_meter += 1
        stats.bytes_from_meter += len(data)
        stats.airtime_seconds += self.sim.timing.airtime(len(data))
        self._received((ECHONET_PORT, ECHONET_PORT), data, multicast=multicast, encrypted=True)

    def _received(
        self, ports: tuple[int, int], data: bytes, *, multicast: bool, encrypted: bool
    ) -> None:
        cfg = self.sim.config
        if ports[1] not in self._ports and ports[1] != PANA_PORT:
            return  # the module drops datagrams for ports nobody opened
        body = ipv6_bytes(cfg.ipv6) + ports[0].to_bytes(2, "big") + ports[1].to_bytes(2, "big")
        body += cfg.pan_id.to_bytes(2, "big")
        body += bytes([0x01 if multicast else 0x00, 0x02 if encrypted else 0x01])
        body += bytes([_signed_byte(lqi_to_rssi(cfg.lqi))]) + len(data).to_bytes(2, "big")
        self.notify(0x6018, body + data)

    def stray_pana(self) -> None:
        noise = bytes([0, 0, 0, 0x28, 0x80, 0, 0, 0x02]) + bytes(32)
        self._received((PANA_PORT, PANA_PORT), noise, multicast=False, encrypted=False)


_HANDLERS = {
    0x0005: J11Dongle.cmd_open_port,
    0x0006: J11Dongle.cmd_close_port,
    0x0008: J11Dongle.cmd_transmit,
    0x0051: J11Dongle.cmd_active_scan,
    0x0053: J11Dongle.cmd_start_route_b,
    0x0054: J11Dongle.cmd_set_auth,
    0x0056: J11Dongle.cmd_start_pana,
    0x0057: J11Dongle.cmd_end_pana,
    0x0058: J11Dongle.cmd_end_route_b,
    0x005F: J11Dongle.cmd_initial_settings,
    0x006B: J11Dongle.cmd_version,
    0x00D2: J11Dongle.cmd_redo_pana,
    0x00D9: J11Dongle.cmd_reset,
}
