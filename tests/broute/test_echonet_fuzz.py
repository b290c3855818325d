"""Property-based checks: whatever bytes arrive, the codec fails only with EchonetDecodeError."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import given, settings, strategies as st
import pytest

from custom_components.broute_meter.broute.echonet import (
    EnergyScale,
    Frame,
    Property,
    decode_coefficient,
    decode_coefficient_multiplier,
    decode_cumulative,
    decode_date,
    decode_digits,
    decode_fault,
    decode_fixed_time,
    decode_frame,
    decode_history1,
    decode_history2,
    decode_history2_day,
    decode_history3,
    decode_history3_day,
    decode_instance_list,
    decode_instantaneous_current,
    decode_instantaneous_power,
    decode_maker_code,
    decode_one_minute,
    decode_operation_status,
    decode_property_map,
    decode_release,
    decode_route_b_id,
    decode_serial,
    decode_time,
    decode_unit,
    encode_frame,
    encode_property_map,
)
from custom_components.broute_meter.broute.errors import EchonetDecodeError

if TYPE_CHECKING:
    from collections.abc import Callable

FUZZ = settings(max_examples=300, deadline=None)

DECODERS: list[Callable[[bytes], object]] = [
    decode_instantaneous_power,
    decode_instantaneous_current,
    decode_cumulative,
    decode_unit,
    decode_coefficient,
    decode_coefficient_multiplier,
    decode_digits,
    decode_fixed_time,
    decode_history1,
    decode_history2,
    decode_history2_day,
    decode_history3,
    decode_history3_day,
    decode_one_minute,
    decode_route_b_id,
    decode_property_map,
    decode_maker_code,
    decode_serial,
    decode_release,
    decode_date,
    decode_time,
    decode_instance_list,
    decode_operation_status,
    decode_fault,
]

byte = st.integers(0, 0xFF)
eoj = st.tuples(byte, byte, byte)
properties = st.lists(st.builds(Property, byte, st.binary(max_size=255)), max_size=8).map(tuple)
frames = st.builds(Frame, st.integers(0, 0xFFFF), eoj, eoj, byte, properties)
# Frames with at least one property, for PDC mutations.
frames_with_props = st.builds(
    Frame,
    st.integers(0, 0xFFFF),
    eoj,
    eoj,
    byte,
    st.lists(st.builds(Property, byte, st.binary(max_size=40)), min_size=1, max_size=6).map(tuple),
)


def _lengths_near(size: int) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes, biased towards the lengths a decoder accepts."""
    return st.one_of(
        st.binary(max_size=260),
        st.integers(max(0, size - 2), size + 2).flatmap(
            lambda n: st.binary(min_size=n, max_size=n)
        ),
    )


@FUZZ
@given(st.binary(max_size=300))
def test_decode_frame_raises_only_decode_errors(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except EchonetDecodeError:
        return
    assert encode_frame(frame) == data  # anything accepted is exactly one frame


@FUZZ
@given(st.binary(max_size=290).map(lambda tail: b"\x10\x81" + tail))
def test_decode_frame_with_valid_header_raises_only_decode_errors(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except EchonetDecodeError:
        return
    assert encode_frame(frame) == data


# The EDT size of every fixed-size decoder; the others take variable lengths.
FIXED_SIZES: dict[Callable[[bytes], object], int] = {
    decode_instantaneous_power: 4,
    decode_instantaneous_current: 4,
    decode_cumulative: 4,
    decode_unit: 1,
    decode_coefficient: 4,
    decode_coefficient_multiplier: 1,
    decode_digits: 1,
    decode_fixed_time: 11,
    decode_history1: 194,
    decode_history2_day: 7,
    decode_history3_day: 7,
    decode_one_minute: 15,
    decode_route_b_id: 16,
    decode_maker_code: 3,
    decode_serial: 12,
    decode_release: 4,
    decode_date: 4,
    decode_time: 2,
    decode_operation_status: 1,
    decode_fault: 1,
}
VARIABLE_SIZES: dict[Callable[[bytes], object], int] = {
    decode_history2: 23,
    decode_history3: 23,
    decode_property_map: 17,
    decode_instance_list: 4,
}


@pytest.mark.parametrize("decoder", DECODERS, ids=[d.__name__ for d in DECODERS])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_property_decoders_raise_only_decode_errors(
    decoder: Callable[[bytes], object], data: st.DataObject
) -> None:
    size = FIXED_SIZES.get(decoder) or VARIABLE_SIZES[decoder]
    edt = data.draw(_lengths_near(size))
    try:
        decoder(edt)
    except EchonetDecodeError:
        return
    if decoder is decode_route_b_id:
        assert len(edt) in (8, 16)  # the spec's 16 bytes and one emulator's 8
    elif decoder in FIXED_SIZES:
        assert len(edt) == size  # accepted only at its one valid length


@FUZZ
@given(frames)
def test_encode_decode_round_trip(frame: Frame) -> None:
    decoded = decode_frame(encode_frame(frame))
    assert decoded == frame
    assert decoded.values() == {p.epc: p.edt for p in frame.properties if p.edt}


@FUZZ
@given(frames, st.data())
def test_truncated_frames_rejected(frame: Frame, data: st.DataObject) -> None:
    encoded = encode_frame(frame)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(EchonetDecodeError):
        decode_frame(encoded[:cut])


@FUZZ
@given(frames_with_props, st.integers(-255, 255).filter(bool))
def test_wrong_pdc_of_last_property_rejected(frame: Frame, delta: int) -> None:
    encoded = bytearray(encode_frame(frame))
    last = frame.properties[-1]
    pdc_at = len(encoded) - len(last.edt) - 1
    assert encoded[pdc_at] == len(last.edt)
    wrong = len(last.edt) + delta
    if not 0 <= wrong <= 0xFF:
        wrong %= 0x100
    if wrong == len(last.edt):
        return
    encoded[pdc_at] = wrong
    with pytest.raises(EchonetDecodeError):
        decode_frame(bytes(encoded))


@FUZZ
@given(frames_with_props, st.integers(1, 255))
def test_wrong_opc_rejected(frame: Frame, extra: int) -> None:
    encoded = bytearray(encode_frame(frame))
    opc = len(frame.properties)
    encoded[11] = (opc + extra) % 0x100
    if encoded[11] == opc:
        return
    with pytest.raises(EchonetDecodeError):
        decode_frame(bytes(encoded))


@FUZZ
@given(st.frozensets(st.integers(0x80, 0xFF)))
def test_property_map_round_trip(epcs: frozenset[int]) -> None:
    encoded = encode_property_map(epcs)
    assert encoded[0] == len(epcs)
    assert len(encoded) == (1 + len(epcs) if len(epcs) < 16 else 17)
    assert decode_property_map(encoded) == epcs


@FUZZ
@given(
    st.integers(1, 8).flatmap(
        lambda digits: st.tuples(
            st.just(digits), st.integers(0, 10**digits - 1), st.integers(0, 10**digits - 1)
        )
    )
)
def test_delta_lands_on_the_new_reading(case: tuple[int, int, int]) -> None:
    digits, previous, raw = case
    scale = EnergyScale(digits=digits)
    step = scale.delta(previous, raw)
    assert 0 <= step < 10**digits
    assert (previous + step) % 10**digits == raw
    assert scale.is_plausible_step(previous, raw, step)
    if step:
        assert not scale.is_plausible_step(previous, raw, step - 1)
