"""The Socket.IO dialect's packet codec against python-socketio's and python-engineio's own (the test
client's library): the same text for the same packet, the same packet read from the same text, and a
refusal wherever theirs refuses."""

from __future__ import annotations

import json
import math

import pytest
from engineio import packet as eio
from hypothesis import given, settings
from hypothesis import strategies as st
from socketio import packet as sio

from bazaar.entry.ws.socketio_packets import (
    MalformedPacket,
    decode_engineio,
    decode_socketio,
    encode_engineio,
    encode_socketio,
)

# JSON values as the front end's events carry them. Integers stay under python-socketio's 100 digits
# (it refuses longer ones; Python's own limit, 4,300 digits, guards ours), floats finite (NaN is not
# equal to itself).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
namespaces = st.sampled_from(["/", "/chat", "/a/b"]) | st.from_regex(r"/[a-z0-9_]{1,8}", fullmatch=True)
ack_ids = st.none() | st.integers(0, 10**15)
socketio_types = st.sampled_from([0, 1, 2, 3, 4])  # 5 and 6 (binary) are only ever read, to be refused


@settings(max_examples=300, deadline=None)
@given(socketio_types, json_values, ack_ids, namespaces)
def test_a_socketio_packet_is_written_as_python_socketio_writes_it(packet_type, data, ack_id, namespace):
    theirs = sio.Packet(packet_type, data, namespace=namespace, id=ack_id, binary=False).encode()
    assert encode_socketio(packet_type, data, ack_id, namespace) == "4" + theirs


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 6),
    st.none() | st.text() | st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)
def test_an_engineio_packet_is_written_as_python_engineio_writes_it(packet_type, data):
    assert encode_engineio(packet_type, data) == eio.Packet(packet_type, data).encode()


def read_by_python_socketio(text: str):
    """(type, namespace, id, data, attachments) as python-socketio reads `text`, or None where it refuses.
    It does not read an empty text at all (it makes a default EVENT packet instead); we refuse it."""
    if not text:
        return None
    try:
        packet = sio.Packet(encoded_packet=text)
    except (ValueError, IndexError, RecursionError):
        return None
    if not isinstance(packet.packet_type, int):
        return None
    return packet.packet_type, packet.namespace or "/", packet.id, packet.data, packet.attachment_count


def read_by_us(text: str):
    try:
        packet = decode_socketio(text)
    except MalformedPacket:
        return None
    return packet.packet_type, packet.namespace, packet.id, packet.data, packet.attachments


def same(read_a, read_b) -> bool:
    """Equal reads; floats compared as JSON writes them (1.0 == 1 in Python, not on the wire)."""
    return json.dumps(read_a) == json.dumps(read_b)


@st.composite
def plausible_packets(draw) -> str:
    """Text shaped like a Socket.IO packet, each part present or not, some of it wrong."""
    parts = [draw(st.sampled_from(list("0123456789") + ["", "x", "-"]))]
    if draw(st.booleans()):
        parts.append(draw(st.sampled_from(["1-", "12-", "0-", "-", "a-", "12345678901-"])))
    if draw(st.booleans()):
        parts.append(draw(namespaces) + draw(st.sampled_from([",", "", "?x=1,", "?q,"])))
    if draw(st.booleans()):
        parts.append(draw(st.from_regex(r"[0-9]{1,120}", fullmatch=True)))
    if draw(st.booleans()):
        value = json.dumps(draw(json_values))
        parts.append(draw(st.sampled_from([value, value[:-1], " " + value, value + "]"])))
    return "".join(parts)


# Unicode digits other than 0-9 ("٣", "²") are excluded: python-socketio reads "٣" as 3 (int() takes it);
# this codec refuses them (below).
ascii_digit_text = st.text(
    alphabet=st.characters(blacklist_categories=("Nd", "No", "Cs")) | st.sampled_from(list("0123456789")),
    max_size=40,
)


@settings(max_examples=1000, deadline=None)
@given(plausible_packets() | ascii_digit_text)
def test_a_socketio_packet_is_read_as_python_socketio_reads_it(text):
    theirs, ours = read_by_python_socketio(text), read_by_us(text)
    assert (theirs is None) == (ours is None), (text, theirs, ours)
    if theirs is not None:
        assert same(theirs, ours), (text, theirs, ours)


@pytest.mark.parametrize("text", ['٣["x"]', '2٣["x"]', "²", "", "x", "2" + "1" * 101 + "[]", "2[" * 100_000])
def test_what_is_not_a_socketio_packet_is_refused(text):
    with pytest.raises(MalformedPacket):
        decode_socketio(text)


@pytest.mark.parametrize(
    "text, read",
    [("3", (3, "")), ("2probe", (2, "probe")), ('42["join-session",{}]', (4, '2["join-session",{}]'))],
)
def test_an_engineio_packet_is_its_type_and_the_text_after_it(text, read):
    assert decode_engineio(text) == read


@pytest.mark.parametrize("text", ["", "b", "bAAE=", "x4", "٤2[]"])
def test_what_is_not_an_engineio_text_packet_is_refused(text):
    with pytest.raises(MalformedPacket):
        decode_engineio(text)


def test_floats_survive_the_round_trip():
    packet = decode_socketio(encode_socketio(2, ["x", 0.1, math.pi])[1:])
    assert packet.data == ["x", 0.1, math.pi]
