"""The Swift protobuf codec, checked against Python protobuf as the reference.

Every message type of every .proto under proto/ (found through the generated
``*_pb2`` modules' file descriptors, so new protos are covered automatically)
gets a batch of random instances.  Python serializes them; one
``crm-codec-probe`` process decodes each into its generated Swift type and
re-encodes it.  For canonical input the Swift bytes must be *identical* to
Python's deterministic encoding -- with one deliberate exception, the order of
map entries (Swift sorts them by key, upb's "deterministic" order is not a
key sort; see expected_encoding) -- and Python must parse them back to an
equal message.

On top of the canonical round trip we feed encodings a conformant parser must
accept but that no canonical encoder produces (unpacked repeated scalars,
fields out of order, repeated occurrences of singular fields, unknown fields,
wrong wire types), and malformed input that must be rejected without killing
the probe.  Python is the oracle: every non-canonical encoding is first
parsed by Python and must give back the original message (the Swift types
drop unknown fields, so the expected output is the original canonical
encoding).  Two places where Python's upb runtime is lenient or idiosyncratic
are checked against the protobuf spec instead, see
t_unknown_fields_in_map_entries and the field-number-0 note in build_cases.
A last check feeds map<string, _> keys that are canonically equivalent
Unicode but different code points, which must stay distinct keys.

Probe protocol (one JSON object per line each way):
    -> {"type": "grpc.testing.SimpleRequest", "hex": "0a0b..."}
    <- {"hex": "..."}   or   {"error": "..."}
"""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess
import threading
from dataclasses import dataclass
from typing import Callable, Iterable

import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

SEED = 20240229
INSTANCES_PER_TYPE = 30
MAX_DEPTH = 3  # nested messages are filled down to this depth
PROBE_TIMEOUT_S = 300.0
MAX_REPORTED_FAILURES = 15

FD = FieldDescriptor

# ===========================================================================
# Discovering message types
# ===========================================================================


def _is_map_entry(desc: Descriptor) -> bool:
    return desc.GetOptions().map_entry


def _is_map(f: FieldDescriptor) -> bool:
    return f.type == FD.TYPE_MESSAGE and _is_map_entry(f.message_type)


def all_message_descriptors(pb2_modules) -> list[Descriptor]:
    """Every message type (nested ones included) of every generated file.

    Map entry types are skipped: they are synthesized by protoc, have no
    Swift type of their own, and are exercised through their map fields.
    """
    found: dict[str, Descriptor] = {}

    def visit(desc: Descriptor) -> None:
        if _is_map_entry(desc):
            return
        found.setdefault(desc.full_name, desc)
        for nested in desc.nested_types:
            visit(nested)

    for module in pb2_modules:
        for desc in module.DESCRIPTOR.message_types_by_name.values():
            visit(desc)
    return [found[name] for name in sorted(found)]


def message_class(desc: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(desc)


def canonical(msg: Message) -> bytes:
    """Python's deterministic encoding -- what we send to the probe.  It is
    what the Swift encoder must produce too, except for the order of map
    entries: see expected_encoding."""
    return msg.SerializeToString(deterministic=True)


# ===========================================================================
# Random messages
# ===========================================================================

_VARINT_TYPES = {FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64,
                 FD.TYPE_SINT32, FD.TYPE_SINT64, FD.TYPE_BOOL, FD.TYPE_ENUM}
_FIXED32_TYPES = {FD.TYPE_FIXED32, FD.TYPE_SFIXED32, FD.TYPE_FLOAT}
_FIXED64_TYPES = {FD.TYPE_FIXED64, FD.TYPE_SFIXED64, FD.TYPE_DOUBLE}
_PACKABLE_TYPES = _VARINT_TYPES | _FIXED32_TYPES | _FIXED64_TYPES

# (bits, signed) for each integer type; sint/sfixed share int's value space.
_INT_SHAPES = {
    FD.TYPE_INT32: (32, True), FD.TYPE_SINT32: (32, True), FD.TYPE_SFIXED32: (32, True),
    FD.TYPE_INT64: (64, True), FD.TYPE_SINT64: (64, True), FD.TYPE_SFIXED64: (64, True),
    FD.TYPE_UINT32: (32, False), FD.TYPE_FIXED32: (32, False),
    FD.TYPE_UINT64: (64, False), FD.TYPE_FIXED64: (64, False),
}


def _int_edges(bits: int, signed: bool) -> list[int]:
    # The values where varint length, zigzag and sign extension change.
    if signed:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return [0, 1, -1, 63, -64, 127, 128, -129, 300, 1 << 20, hi, lo, hi - 1, lo + 1]
    hi = (1 << bits) - 1
    return [0, 1, 127, 128, 16383, 16384, 1 << (bits - 1), hi, hi - 1]


def _f32(x: float) -> float:
    """Rounds to the nearest float32 so Python and Swift hold the same value."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


_FLOAT_EDGES = [0.0, -0.0, 1.0, -2.5, _f32(0.1), 3.4028234663852886e38, -3.4028234663852886e38,
                1.1754943508222875e-38, 1.401298464324817e-45, math.inf, -math.inf]
_DOUBLE_EDGES = [0.0, -0.0, 1.0, -2.5, 0.1, 1.7976931348623157e308, -1.7976931348623157e308,
                 2.2250738585072014e-308, 5e-324, math.inf, -math.inf]
# -0.0 deserves a note: proto3 omits a field only when it holds the default,
# and the reference implementations compare floats *bitwise* for that, so -0.0
# is written on the wire.  An encoder that tests `value != 0` drops it.

_STRING_EDGES = [
    "", "a", "hello, world", "ünïcödé", "日本語のテキスト", "中文字符",
    "😀🚀👍🏽",              # non-BMP, plus a skin-tone modifier sequence
    "e\u0301",                # decomposed é: must survive byte-for-byte
    "nul\u0000inside",        # NUL is valid UTF-8
    "mixed ascii 😀 中文 ü",
    "x" * 200,                # needs a two-byte length prefix
    "😀" * 40,
]
_BYTES_EDGES = [b"", b"\x00", b"\xff\xff\xff", bytes(range(256)), b"\x80" * 130]


class RandomMessages:
    """Fills messages field by field from their descriptors.

    Values are drawn half from edge values (where encoders typically go
    wrong) and half at random; random integers get a random bit length so all
    varint lengths show up, not just the 10-byte ones.
    """

    def __init__(self, rng: random.Random):
        self.rng = rng

    # -- scalar values -------------------------------------------------------

    def scalar(self, f: FieldDescriptor, *, edge: bool | None = None):
        rng = self.rng
        if edge is None:
            edge = rng.random() < 0.5
        t = f.type
        if t in _INT_SHAPES:
            bits, signed = _INT_SHAPES[t]
            if edge:
                return rng.choice(_int_edges(bits, signed))
            magnitude = rng.getrandbits(rng.randint(0, bits - 1 if signed else bits))
            return -magnitude - 1 if signed and rng.random() < 0.4 else magnitude
        if t == FD.TYPE_BOOL:
            return rng.random() < 0.5
        if t == FD.TYPE_FLOAT:
            if edge:
                return rng.choice(_FLOAT_EDGES)
            while True:  # a random bit pattern covers subnormals and huge exponents
                value = struct.unpack("<f", rng.getrandbits(32).to_bytes(4, "little"))[0]
                if not math.isnan(value):  # NaN != NaN would break equality checks
                    return value
        if t == FD.TYPE_DOUBLE:
            if edge:
                return rng.choice(_DOUBLE_EDGES)
            while True:
                value = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
                if not math.isnan(value):
                    return value
        if t == FD.TYPE_STRING:
            if edge:
                return rng.choice(_STRING_EDGES)
            alphabet = "abcXYZ019 _-ü€日本😀🚀\n\t"
            return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        if t == FD.TYPE_BYTES:
            if edge:
                return rng.choice(_BYTES_EDGES)
            return rng.randbytes(rng.randint(0, 40))
        if t == FD.TYPE_ENUM:
            known = [v.number for v in f.enum_type.values]
            # proto3 enums are open: unknown numbers must be kept, not dropped.
            if rng.random() < 0.25:
                return rng.choice([77, 1000, -3])
            return rng.choice(known)
        raise AssertionError(f"unexpected scalar type {t} for {f.full_name}")

    def default(self, f: FieldDescriptor):
        return {FD.TYPE_STRING: "", FD.TYPE_BYTES: b"", FD.TYPE_BOOL: False,
                FD.TYPE_FLOAT: 0.0, FD.TYPE_DOUBLE: 0.0}.get(f.type, 0)

    # -- whole messages -------------------------------------------------------

    def fill(self, msg: Message, depth: int = 0, *, density: float = 0.6,
             edge: bool | None = None) -> Message:
        rng = self.rng
        for f in msg.DESCRIPTOR.fields:
            if rng.random() >= density:
                continue
            if _is_map(f):
                self._fill_map(getattr(msg, f.name), f, depth, edge)
            elif f.is_repeated:
                self._fill_repeated(getattr(msg, f.name), f, depth, edge)
            elif f.type == FD.TYPE_MESSAGE:
                if depth + 1 > MAX_DEPTH:
                    continue
                sub = getattr(msg, f.name)
                sub.SetInParent()  # present even if it stays empty (encodes as 0 bytes)
                if rng.random() < 0.8:
                    self.fill(sub, depth + 1, density=density, edge=edge)
            elif f.has_presence:
                # proto3 `optional`: sometimes explicitly set to the default,
                # which must still be encoded (presence is the whole point).
                value = self.default(f) if rng.random() < 0.4 else self.scalar(f, edge=edge)
                setattr(msg, f.name, value)
            else:
                setattr(msg, f.name, self.scalar(f, edge=edge))
        return msg

    def _fill_repeated(self, container, f, depth, edge) -> None:
        count = self.rng.randint(0, 5 if depth < 2 else 2)
        if f.type == FD.TYPE_MESSAGE:
            if depth + 1 > MAX_DEPTH:
                return
            for _ in range(count):
                self.fill(container.add(), depth + 1, edge=edge)
        else:
            container.extend(self.scalar(f, edge=edge) for _ in range(count))

    def _fill_map(self, container, f, depth, edge) -> None:
        key_field = f.message_type.fields_by_name["key"]
        value_field = f.message_type.fields_by_name["value"]
        for _ in range(self.rng.randint(0, 3)):
            key = self.scalar(key_field, edge=edge)
            if value_field.type == FD.TYPE_MESSAGE:
                if depth + 1 > MAX_DEPTH:
                    return
                sub = container[key]  # creates the entry
                if self.rng.random() < 0.8:
                    self.fill(sub, depth + 1, edge=edge)
            else:
                container[key] = self.scalar(value_field, edge=edge)

    def instances(self, desc: Descriptor, count: int) -> list[Message]:
        cls = message_class(desc)
        result = [cls(),                                     # all defaults: zero bytes
                  self.fill(cls(), density=1.0, edge=True),  # every field, edge values
                  self.fill(cls(), density=1.0, edge=False)] # every field, random values
        while len(result) < count:
            result.append(self.fill(cls()))
        return result[:count]


# ===========================================================================
# Wire format, at the level of records (tag + payload)
# ===========================================================================

WT_VARINT, WT_FIXED64, WT_LEN, WT_SGROUP, WT_EGROUP, WT_FIXED32 = 0, 1, 2, 3, 4, 5


def encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 are sign-extended to 64 bits
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint too long")


def tag(number: int, wire_type: int) -> bytes:
    return encode_varint(number << 3 | wire_type)


@dataclass
class Record:
    """One field occurrence.  ``value`` is an int for varints, the raw
    little-endian bytes for fixed32/fixed64, the payload for length-delimited
    records, and the encoded contents for groups."""

    number: int
    wire_type: int
    value: int | bytes

    def encode(self) -> bytes:
        head = tag(self.number, self.wire_type)
        if self.wire_type == WT_VARINT:
            return head + encode_varint(self.value)
        if self.wire_type in (WT_FIXED32, WT_FIXED64):
            return head + self.value
        if self.wire_type == WT_LEN:
            return head + encode_varint(len(self.value)) + self.value
        if self.wire_type == WT_SGROUP:
            return head + self.value + tag(self.number, WT_EGROUP)
        raise AssertionError(self.wire_type)


def parse_records(data: bytes) -> list[Record]:
    """Splits a well-formed encoding into records.  Only used on bytes that
    Python produced or that this file built (which may contain unknown
    groups), so errors here are harness bugs."""
    records, pos = _parse_records_until(data, 0, None)
    if pos != len(data):
        raise ValueError("trailing bytes after records")
    return records


def _parse_records_until(data: bytes, pos: int, group: int | None) -> tuple[list[Record], int]:
    records = []
    while pos < len(data):
        key, pos = decode_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == WT_VARINT:
            value, pos = decode_varint(data, pos)
        elif wire_type == WT_FIXED64:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire_type == WT_FIXED32:
            value, pos = data[pos:pos + 4], pos + 4
        elif wire_type == WT_LEN:
            length, pos = decode_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire_type == WT_SGROUP:
            start = pos
            _, pos = _parse_records_until(data, pos, number)
            value = data[start:pos - len(tag(number, WT_EGROUP))]
        elif wire_type == WT_EGROUP and number == group:
            return records, pos
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
        records.append(Record(number, wire_type, value))
    if group is not None:
        raise ValueError("unterminated group")
    return records, pos


def encode_records(records: Iterable[Record]) -> bytes:
    return b"".join(r.encode() for r in records)


def natural_wire_type(f: FieldDescriptor) -> int:
    if f.type in _VARINT_TYPES:
        return WT_VARINT
    if f.type in _FIXED32_TYPES:
        return WT_FIXED32
    if f.type in _FIXED64_TYPES:
        return WT_FIXED64
    return WT_LEN


def split_packed(f: FieldDescriptor, payload: bytes) -> list[Record]:
    """The elements of a packed run as individual (unpacked) records.  The
    element bytes are reused as they are, so no value is reinterpreted."""
    wire_type = natural_wire_type(f)
    records, pos = [], 0
    while pos < len(payload):
        if wire_type == WT_VARINT:
            value, pos = decode_varint(payload, pos)
        else:
            width = 4 if wire_type == WT_FIXED32 else 8
            value, pos = payload[pos:pos + width], pos + width
        records.append(Record(f.number, wire_type, value))
    return records


def pack(f: FieldDescriptor, elements: list[Record]) -> Record:
    """The inverse of split_packed: one packed record holding ``elements``."""
    payload = b"".join(encode_varint(e.value) if e.wire_type == WT_VARINT else e.value
                       for e in elements)
    return Record(f.number, WT_LEN, payload)


def _is_packed_record(desc: Descriptor, r: Record) -> bool:
    f = desc.fields_by_number.get(r.number)
    return (f is not None and f.is_repeated and f.type in _PACKABLE_TYPES
            and r.wire_type == WT_LEN)


# transform(descriptor, records, rng, in_map) -> records; ``in_map`` is true
# for map entries and for every message nested inside one.
Transform = Callable[[Descriptor, list[Record], random.Random, bool], list[Record]]


def rewrite(desc: Descriptor, data: bytes, transform: Transform, rng: random.Random,
            in_map: bool = False) -> bytes:
    """Applies ``transform`` to the records of a message and, recursively, of
    every nested message (map entries included), innermost first."""
    records = parse_records(data)
    for r in records:
        f = desc.fields_by_number.get(r.number)
        if f is not None and f.type == FD.TYPE_MESSAGE and r.wire_type == WT_LEN:
            r.value = rewrite(f.message_type, r.value, transform, rng,
                              in_map or _is_map_entry(f.message_type))
    return encode_records(transform(desc, records, rng, in_map))


# ===========================================================================
# Map entry order
# ===========================================================================
#
# The Swift encoder writes map entries sorted by key (ascending numbers,
# false < true, strings bytewise with a prefix before its extensions).
# Python's "deterministic" mode is deterministic but *not* that order: upb
# sorts and then emits the entries backwards, so integer keys come out
# descending (compared as unsigned 64-bit, so -1 first), true before false,
# and a string key after all keys it is a prefix of ("ab" before "a", ""
# last).  Everything else in Python's output is the reference byte for byte,
# so the expected Swift output is Python's bytes with each map's entries
# re-sorted by key.


def _decoded_map_key(key_field: FieldDescriptor, entry_payload: bytes):
    """The sort key of one map entry (the key's value in its natural order)."""
    raw = next((r.value for r in parse_records(entry_payload) if r.number == 1), None)
    t = key_field.type
    if t == FD.TYPE_STRING:
        return raw or b""  # bytes order == code point order for UTF-8
    if raw is None:
        return 0
    if t in (FD.TYPE_FIXED32, FD.TYPE_FIXED64, FD.TYPE_SFIXED32, FD.TYPE_SFIXED64):
        signed = t in (FD.TYPE_SFIXED32, FD.TYPE_SFIXED64)
        return int.from_bytes(raw, "little", signed=signed)
    if t in (FD.TYPE_SINT32, FD.TYPE_SINT64):
        return (raw >> 1) ^ -(raw & 1)  # zigzag
    if t in (FD.TYPE_INT32, FD.TYPE_INT64):
        return raw - (1 << 64) if raw >= 1 << 63 else raw  # sign-extended varint
    return raw  # uint32, uint64, bool


def t_sort_map_entries(desc, records, rng, in_map):
    """Puts the entries of every map field in ascending key order, in the
    slots those entries already occupy."""
    out = list(records)
    for f in desc.fields:
        if not _is_map(f):
            continue
        slots = [i for i, r in enumerate(out) if r.number == f.number]
        key_field = f.message_type.fields_by_number[1]
        ordered = sorted((out[i] for i in slots),
                         key=lambda r: _decoded_map_key(key_field, r.value))
        for i, r in zip(slots, ordered):
            out[i] = r
    return out


def expected_encoding(desc: Descriptor, python_bytes: bytes) -> bytes:
    """What the Swift encoder must write for a message Python encoded as
    ``python_bytes`` (Python's canonical encoding with sorted maps)."""
    return rewrite(desc, python_bytes, t_sort_map_entries, random.Random(0))


# ===========================================================================
# Non-canonical (but valid) encodings
# ===========================================================================


def t_unpacked(desc, records, rng, in_map):
    """Packed repeated scalars sent one record per element, as proto2 did;
    parsers must accept both forms for every packable field."""
    out = []
    for r in records:
        if _is_packed_record(desc, r):
            out.extend(split_packed(desc.fields_by_number[r.number], r.value))
        else:
            out.append(r)
    return out


def t_reversed(desc, records, rng, in_map):
    """Fields in descending number order.  The sort is stable, so elements
    of one repeated field (and repeated occurrences) keep their order."""
    return sorted(records, key=lambda r: -r.number)


def _random_utf8(rng: random.Random) -> bytes:
    return "".join(rng.choice("xyz€日😀") for _ in range(rng.randint(0, 6))).encode()


def _random_payload_for(f: FieldDescriptor, rng: random.Random) -> Record:
    """Some other valid value for field ``f`` (used as an earlier occurrence
    that a later one must override)."""
    wire_type = natural_wire_type(f)
    if wire_type == WT_VARINT:
        return Record(f.number, wire_type, rng.getrandbits(rng.choice([1, 7, 35, 64])))
    if wire_type == WT_FIXED32:
        return Record(f.number, wire_type, struct.pack("<f", 1.5) if f.type == FD.TYPE_FLOAT
                      else rng.randbytes(4))
    if wire_type == WT_FIXED64:
        return Record(f.number, wire_type, struct.pack("<d", -7.25) if f.type == FD.TYPE_DOUBLE
                      else rng.randbytes(8))
    if f.type == FD.TYPE_STRING:
        return Record(f.number, wire_type, _random_utf8(rng))
    if f.type == FD.TYPE_BYTES:
        return Record(f.number, wire_type, rng.randbytes(rng.randint(0, 8)))
    return Record(f.number, wire_type, b"")  # an empty message


def t_duplicated(desc, records, rng, in_map):
    """Fields that occur more than once, which parsers must resolve as:
    scalars/strings/bytes -> the last occurrence wins; singular messages ->
    the occurrences are merged; packed runs -> concatenated; map entries with
    the same key -> the last entry wins (no merging of message values)."""
    out = []
    seen_map_fields = set()
    for r in records:
        f = desc.fields_by_number.get(r.number)
        if f is None:
            out.append(r)
        elif _is_map(f):
            if f.number not in seen_map_fields:
                seen_map_fields.add(f.number)
                # An earlier entry with the same key: either a different
                # value or no value at all (which means "default value").
                entry = parse_records(r.value)
                key_records = [e for e in entry if e.number == 1]
                value_field = f.message_type.fields_by_number[2]
                shadow = key_records + ([] if rng.random() < 0.3
                                        else [_random_payload_for(value_field, rng)])
                out.append(Record(r.number, WT_LEN, encode_records(shadow)))
            out.append(r)
        elif f.is_repeated:
            if _is_packed_record(desc, r):
                elements = split_packed(f, r.value)
                if len(elements) >= 2:
                    # Two packed runs, or a packed run followed by unpacked
                    # elements: both must concatenate.
                    cut = rng.randint(1, len(elements) - 1)
                    out.append(pack(f, elements[:cut]))
                    if rng.random() < 0.5:
                        out.extend(elements[cut:])
                    else:
                        out.append(pack(f, elements[cut:]))
                    continue
            out.append(r)
        elif f.type == FD.TYPE_MESSAGE:
            # Split the sub-message's records over two occurrences; merging
            # them must give back the original sub-message.
            inner = parse_records(r.value)
            cut = rng.randint(0, len(inner))
            out.append(Record(r.number, WT_LEN, encode_records(inner[:cut])))
            out.append(Record(r.number, WT_LEN, encode_records(inner[cut:])))
        else:
            out.append(_random_payload_for(f, rng))
            out.append(r)
    return out


_UNKNOWN_NUMBERS = [900, 901, 902, 903, 904, 1000, 19999, 536870911]  # last = max field number


def _unknown_record(rng: random.Random, desc: Descriptor, depth: int = 0) -> Record:
    number = rng.choice([n for n in _UNKNOWN_NUMBERS if n not in desc.fields_by_number])
    kind = rng.choice(["varint", "fixed64", "len", "fixed32", "group"] if depth < 2
                      else ["varint", "fixed64", "len", "fixed32"])
    if kind == "varint":
        return Record(number, WT_VARINT, rng.choice([0, 1, 300, (1 << 64) - 1, rng.getrandbits(64)]))
    if kind == "fixed64":
        return Record(number, WT_FIXED64, rng.randbytes(8))
    if kind == "fixed32":
        return Record(number, WT_FIXED32, rng.randbytes(4))
    if kind == "len":
        # Arbitrary bytes: unknown payloads are opaque, they need not parse.
        return Record(number, WT_LEN, rng.randbytes(rng.randint(0, 20)))
    # A (deprecated) group: start tag, fields, matching end tag.  Unknown
    # groups must be skipped like any other unknown field.
    # (Field numbers inside a group are the group's business, not desc's.)
    inner = [_unknown_record(rng, desc, depth + 1) for _ in range(rng.randint(0, 3))]
    return Record(number, WT_SGROUP, encode_records(inner))


def t_unknown_fields(desc, records, rng, in_map):
    """Unknown field numbers of every wire type, at random positions in every
    (nested) message.  They must be skipped; the Swift types do not keep them,
    so the re-encoding equals the encoding without them.

    Map entries (and messages inside them) are left alone here, see
    t_unknown_fields_in_map_entries."""
    if in_map:
        return records
    out = list(records)
    for _ in range(rng.randint(1, 3)):
        out.insert(rng.randint(0, len(out)), _unknown_record(rng, desc))
    return out


def t_unknown_fields_in_map_entries(desc, records, rng, in_map):
    """Unknown fields inside map entries (and inside message values of map
    entries): the entry must still be parsed, key and value kept and the
    unknown fields skipped, as the C++, Java and Go runtimes do.

    Python's upb runtime is *not* the oracle for this one: when a map entry
    contains unknown fields anywhere, upb moves the whole entry into the
    parent's unknown fields (to round-trip it byte for byte), so after
    discarding unknown fields the entry is gone.  The expected result here is
    the original message, which the harness checks at the wire level instead
    (see strip_unknown_fields)."""
    if not in_map:
        return records
    out = list(records)
    for _ in range(rng.randint(1, 2)):
        out.insert(rng.randint(0, len(out)), _unknown_record(rng, desc))
    return out


def strip_unknown_fields(desc: Descriptor, data: bytes) -> bytes:
    """Drops, recursively, every record whose number the message does not
    declare: a wire-level model of "skip unknown fields", independent of any
    protobuf runtime."""
    def transform(d, records, rng, in_map):
        return [r for r in records if r.number in d.fields_by_number]
    return rewrite(desc, data, transform, random.Random(0))


def t_wrong_wire_type(desc, records, rng, in_map):
    """A known field number with a wire type that does not fit the field.
    The spec treats such a record as an unknown field: skipped, and the
    field keeps whatever value it had.  (Not inside map entries, for the
    reason given in t_unknown_fields_in_map_entries.)"""
    if not desc.fields or in_map:
        return records
    f = rng.choice(desc.fields)
    fitting = {natural_wire_type(f)}
    if f.is_repeated and f.type in _PACKABLE_TYPES:
        fitting.add(WT_LEN)  # packed form
    wire_type = rng.choice(sorted({WT_VARINT, WT_FIXED64, WT_LEN, WT_FIXED32} - fitting))
    value = {WT_VARINT: rng.getrandbits(20), WT_FIXED64: rng.randbytes(8),
             WT_FIXED32: rng.randbytes(4), WT_LEN: rng.randbytes(rng.randint(0, 6))}[wire_type]
    out = list(records)
    out.insert(rng.randint(0, len(out)), Record(f.number, wire_type, value))
    return out


def t_combined(desc, records, rng, in_map):
    records = t_duplicated(desc, records, rng, in_map)
    records = t_unpacked(desc, records, rng, in_map)
    records = t_unknown_fields(desc, records, rng, in_map)
    return t_reversed(desc, records, rng, in_map)


NONCANONICAL: dict[str, Transform] = {
    "unpacked": t_unpacked,
    "reversed": t_reversed,
    "duplicated": t_duplicated,
    "unknown-fields": t_unknown_fields,
    "wrong-wire-type": t_wrong_wire_type,
    "combined": t_combined,
    "unknown-fields-in-map-entries": t_unknown_fields_in_map_entries,
}
# Categories whose expected result is not what Python's parser makes of the
# input (see t_unknown_fields_in_map_entries); checked at the wire level.
NOT_PYTHON_CHECKED = {"unknown-fields-in-map-entries"}


# ===========================================================================
# Malformed input
# ===========================================================================


def _generic_garbage() -> list[tuple[str, bytes]]:
    """Byte strings that are invalid whatever the message type."""
    return [
        ("tag without a value", b"\x08"),
        ("truncated tag varint", b"\x80"),
        ("truncated varint value", b"\x08\x80"),
        ("varint value longer than 10 bytes", b"\x08" + b"\xff" * 10 + b"\x01"),
        ("tag varint longer than 10 bytes", b"\xff" * 10 + b"\x01"),
        ("length prefix beyond the end", b"\x12\x05ab"),
        ("length prefix of 2^32-1", b"\x0a" + encode_varint((1 << 32) - 1) + b"\x00"),
        ("length prefix of 2^64-1", b"\x0a" + encode_varint((1 << 64) - 1) + b"\x00"),
        ("truncated fixed32", b"\x0d\x01\x02"),
        ("truncated fixed64", b"\x09\x01\x02\x03\x04"),
        ("wire type 6", b"\x0e\x00"),
        ("wire type 7", b"\x0f\x00"),
        ("wire type 7 on field 100", tag(100, 7) + b"\x00"),
        ("field number 0 (varint)", b"\x00\x01"),
        ("field number 0 (length-delimited)", b"\x02\x00"),
        ("field number above 2^29-1", encode_varint(((1 << 29) << 3) | WT_VARINT) + b"\x00"),
        ("end-group tag without a start", b"\x0c"),
        ("unterminated group", tag(900, WT_SGROUP) + b"\x08\x01"),
        ("mismatched end-group tag", tag(900, WT_SGROUP) + tag(901, WT_EGROUP)),
    ]


def _typed_garbage(desc: Descriptor, valid: list[bytes], rng: random.Random) -> list[tuple[str, bytes]]:
    """Invalid encodings that target this type's own fields, so the error is
    found inside the field decoders (strings, packed runs, sub-messages)."""
    cases = []
    for f in desc.fields:
        if f.type == FD.TYPE_STRING:
            for label, raw in [("byte 0xff", b"\xff"), ("overlong NUL", b"\xc0\x80"),
                               ("UTF-16 surrogate", b"\xed\xa0\x80"),
                               ("truncated sequence", "日".encode()[:2])]:
                cases.append((f"invalid UTF-8 ({label}) in string field {f.name}",
                              Record(f.number, WT_LEN, b"ok" + raw).encode()))
        elif f.type == FD.TYPE_MESSAGE:
            what = "map entry" if _is_map(f) else "sub-message"
            cases.append((f"malformed {what} in field {f.name}",
                          Record(f.number, WT_LEN, b"\x0e\x00").encode()))
            cases.append((f"{what} in field {f.name} cut short",
                          Record(f.number, WT_LEN, b"\x12\x05ab").encode()))
        elif f.is_repeated and f.type in _PACKABLE_TYPES:
            body = b"\x01\x80" if natural_wire_type(f) == WT_VARINT else b"\x01\x02\x03"
            cases.append((f"packed run of {f.name} ends mid-element",
                          Record(f.number, WT_LEN, body).encode()))
    for data in valid:
        if data:
            cases.append(("valid encoding minus its last byte", data[:-1]))
            cut = rng.randint(0, len(data) - 1)
            cases.append((f"valid encoding cut at byte {cut}", data[:cut]))
    return cases


# ===========================================================================
# The probe
# ===========================================================================


@dataclass
class Case:
    category: str
    type_name: str
    data: bytes
    expect_error: bool = False
    expected: bytes | None = None     # the bytes the probe must return
    reference: Message | None = None  # what those bytes must parse back to
    note: str = ""

    def describe(self) -> str:
        shown = self.data.hex()
        if len(shown) > 160:
            shown = shown[:160] + f"...({len(self.data)} bytes)"
        return f"[{self.category}] {self.type_name} {self.note} input={shown}"


@dataclass
class ProbeRun:
    cases: list[Case]
    responses: list[str]
    returncode: int | None
    stderr: str
    timed_out: bool

    def crash_hint(self) -> str:
        n = len(self.responses)
        culprit = self.cases[n].describe() if n < len(self.cases) else "?"
        return (f"crm-codec-probe answered only {n} of {len(self.cases)} lines "
                f"(exit code {self.returncode}, timed out: {self.timed_out}); "
                f"the first unanswered line was {culprit}\n"
                f"--- probe stderr (tail) ---\n{self.stderr[-3000:]}")


def run_probe(path, cases: list[Case]) -> ProbeRun:
    """Feeds every case to one probe process.

    stdin is written from its own thread while stdout is read here, so
    neither side can block on a full pipe and the probe may buffer its output
    however it likes.  Closing stdin is the probe's signal to exit.
    """
    proc = subprocess.Popen([str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    stderr_chunks: list[bytes] = []

    def write_all() -> None:
        try:
            for case in cases:
                line = json.dumps({"type": case.type_name, "hex": case.data.hex()})
                proc.stdin.write(line.encode() + b"\n")
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the probe died; the missing responses will say where

    def drain_stderr() -> None:
        for chunk in iter(lambda: proc.stderr.read(65536), b""):
            stderr_chunks.append(chunk)

    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        proc.kill()

    threads = [threading.Thread(target=write_all, daemon=True),
               threading.Thread(target=drain_stderr, daemon=True)]
    for t in threads:
        t.start()
    watchdog = threading.Timer(PROBE_TIMEOUT_S, on_timeout)
    watchdog.start()
    try:
        responses = [raw.decode("utf-8", errors="replace").strip()
                     for raw in iter(proc.stdout.readline, b"")]
        returncode = proc.wait(30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    for t in threads:
        t.join(5)
    # Ignore blank lines a probe might print; they carry no answer.
    responses = [r for r in responses if r]
    return ProbeRun(cases, responses, returncode,
                    b"".join(stderr_chunks).decode("utf-8", errors="replace"),
                    timed_out.is_set())


# ===========================================================================
# Building the cases
# ===========================================================================


def _reference_after_parse(cls: type[Message], data: bytes) -> Message:
    """What a conformant parser that drops unknown fields makes of ``data``."""
    msg = cls.FromString(data)
    msg.DiscardUnknownFields()
    return msg


def build_cases(descriptors: list[Descriptor]) -> tuple[list[Case], list[str]]:
    """All probe lines, plus a list of harness self-check failures.

    Each non-canonical encoding is checked with Python first: it must parse
    to exactly the original message, otherwise the transform (not the Swift
    code) is wrong and it is reported as a harness error.
    """
    cases: list[Case] = []
    harness_errors: list[str] = []
    generic_labels = {label for label, _ in _generic_garbage()}

    for desc in descriptors:
        name = desc.full_name
        cls = message_class(desc)
        instances = RandomMessages(random.Random(f"{SEED}:{name}")).instances(desc, INSTANCES_PER_TYPE)
        encoded = [canonical(m) for m in instances]
        expected = [expected_encoding(desc, data) for data in encoded]

        for i, (msg, data) in enumerate(zip(instances, encoded)):
            cases.append(Case("random", name, data, expected=expected[i], reference=msg,
                              note=f"#{i}"))
            if rewrite(desc, data, lambda d, r, g, m: r, random.Random(0)) != data:
                harness_errors.append(f"record parser does not round-trip {name} #{i}")
            if cls.FromString(expected[i]) != msg:
                harness_errors.append(f"sorting the map entries of {name} #{i} changes it")
            for category, transform in NONCANONICAL.items():
                rng = random.Random(f"{SEED}:{name}:{i}:{category}")
                variant = rewrite(desc, data, transform, rng)
                if variant == data:
                    continue  # nothing to rewrite in this instance
                try:
                    parsed = _reference_after_parse(cls, variant)
                except DecodeError as exc:
                    harness_errors.append(f"{category} variant of {name} #{i} does not parse: {exc}")
                    continue
                if category in NOT_PYTHON_CHECKED:
                    intact = strip_unknown_fields(desc, variant) == data
                else:
                    intact = parsed == msg
                if not intact:
                    harness_errors.append(f"{category} variant of {name} #{i} changes the message")
                    continue
                cases.append(Case(category, name, variant, expected=expected[i], reference=msg,
                                  note=f"#{i}"))

        # Malformed input: each one must be an error, and the probe must then
        # carry on -- the canary after it must still round-trip.
        canary = Case("canary", name, encoded[2], expected=expected[2], reference=instances[2])
        garbage_rng = random.Random(f"{SEED}:{name}:garbage")
        for label, data in _generic_garbage() + _typed_garbage(desc, encoded[1:6], garbage_rng):
            try:
                cls.FromString(data)
            except DecodeError:
                cases.append(Case("malformed", name, data, expect_error=True, note=label))
                cases.append(canary)
            else:
                if label in generic_labels:
                    # Invalid by the spec whatever Python says: upb does not
                    # validate field numbers of messages that declare no
                    # fields (grpc.testing.Empty accepts field number 0).
                    cases.append(Case("malformed", name, data, expect_error=True, note=label))
                    cases.append(canary)
                    if desc.fields:
                        harness_errors.append(f"Python accepts garbage {label!r} for {name}")
                # Otherwise: a cut of a valid encoding that landed on a record
                # boundary, which is valid and simply not a garbage case.

    cases.append(Case("malformed", "crm.no.such.Type", b"", expect_error=True,
                      note="unknown message type name"))
    if descriptors:
        first = descriptors[0]
        cases.append(Case("canary", first.full_name, b"", expected=b"",
                          reference=message_class(first)()))

    cases.extend(_unicode_map_key_cases(descriptors))
    return cases, harness_errors


def _unicode_map_key_cases(descriptors: list[Descriptor]) -> list[Case]:
    """map<string, V> keys that are canonically equivalent Unicode but
    different code points ("é" vs "e" + combining acute, "Å" vs the Angstrom
    sign).  Protobuf compares strings by code points, so these are distinct
    keys; a map keyed by Swift `String` (which compares by canonical
    equivalence) would silently merge them."""
    cases = []
    keys = ["\u00e9", "e\u0301", "\u00c5", "\u212b", "A\u030a"]
    for desc in descriptors:
        for f in desc.fields:
            if not (_is_map(f) and f.message_type.fields_by_name["key"].type == FD.TYPE_STRING):
                continue
            cls = message_class(desc)
            msg = cls()
            value_field = f.message_type.fields_by_name["value"]
            rng = random.Random(f"{SEED}:{desc.full_name}:{f.name}:unicode-keys")
            container = getattr(msg, f.name)
            for key in keys:
                if value_field.type == FD.TYPE_MESSAGE:
                    container[key].SetInParent()
                else:
                    container[key] = RandomMessages(rng).scalar(value_field, edge=False)
            data = canonical(msg)
            cases.append(Case("unicode-map-keys", desc.full_name, data,
                              expected=expected_encoding(desc, data),
                              reference=msg, note=f"field {f.name}"))
    return cases


# ===========================================================================
# Fixtures and tests
# ===========================================================================


@pytest.fixture(scope="module")
def descriptors(proto_stubs) -> list[Descriptor]:
    return all_message_descriptors(proto_stubs.pb2_modules)


@pytest.fixture(scope="module")
def codec_cases(descriptors) -> tuple[list[Case], list[str]]:
    return build_cases(descriptors)


@pytest.fixture(scope="module")
def probe_run(codec_cases, binary) -> ProbeRun:
    cases, _ = codec_cases
    return run_probe(binary("crm-codec-probe"), cases)


def _describe_difference(expected: bytes, got: bytes) -> str:
    """Where two encodings part ways, with some context (whole encodings of
    large messages would drown the report)."""
    at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b),
              min(len(expected), len(got)))
    start = max(0, at - 24)
    return (f"bytes differ from the expected encoding at offset {at} "
            f"(expected {len(expected)} bytes, got {len(got)} bytes)\n"
            f"      expected[{start}:]: {expected[start:at + 40].hex()}\n"
            f"      got     [{start}:]: {got[start:at + 40].hex()}")


def _check_case(run: ProbeRun, index: int, case: Case) -> str | None:
    """None if the probe's answer to ``case`` is right, else why not."""
    if index >= len(run.responses):
        return "no response (see crash report)"
    raw = run.responses[index]
    try:
        answer = json.loads(raw)
    except json.JSONDecodeError:
        return f"response is not JSON: {raw[:200]!r}"
    if not isinstance(answer, dict) or len({"hex", "error"} & answer.keys()) != 1:
        return f"response must have exactly one of 'hex' / 'error': {raw[:200]!r}"
    if case.expect_error:
        if "error" not in answer:
            return f"accepted malformed input, answered {raw[:200]!r}"
        if not isinstance(answer["error"], str) or not answer["error"]:
            return f"error must be a non-empty string, got {answer['error']!r}"
        return None
    if "error" in answer:
        return f"rejected valid input: {answer['error']!r}"
    try:
        returned = bytes.fromhex(answer["hex"])
    except (TypeError, ValueError):
        return f"'hex' is not hex: {answer['hex']!r:.200}"
    if returned != case.expected:
        return _describe_difference(case.expected, returned)
    try:
        reparsed = type(case.reference).FromString(returned)
    except DecodeError as exc:
        return f"Python cannot parse the returned bytes: {exc}"
    if reparsed != case.reference:
        return "returned bytes parse to a different message"
    return None


def _assert_category(run: ProbeRun, categories: set[str]) -> None:
    selected = [(i, c) for i, c in enumerate(run.cases) if c.category in categories]
    assert selected, f"no cases in categories {sorted(categories)}"
    if len(run.responses) < len(run.cases):
        pytest.fail(run.crash_hint(), pytrace=False)
    failures = []
    for index, case in selected:
        problem = _check_case(run, index, case)
        if problem:
            failures.append(f"{case.describe()}\n    -> {problem}")
    if failures:
        shown = "\n".join(failures[:MAX_REPORTED_FAILURES])
        pytest.fail(f"{len(failures)} of {len(selected)} cases failed "
                    f"(first {min(len(failures), MAX_REPORTED_FAILURES)} shown):\n{shown}",
                    pytrace=False)


def test_descriptor_discovery(descriptors):
    names = {d.full_name for d in descriptors}
    for required in ["grpc.testing.Empty", "grpc.testing.SimpleRequest",
                     "grpc.testing.StreamingOutputCallRequest", "grpc.testing.TestOrcaReport",
                     "grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse"]:
        assert required in names
    assert any(name.startswith("crm.") for name in names), "no crm.* message types found"
    assert not any(_is_map_entry(d) for d in descriptors)


def test_harness_self_check(codec_cases):
    """Every non-canonical encoding was verified before being sent; a failure
    here is a bug in this file, not in the Swift code.  (Needs no probe.)"""
    _, harness_errors = codec_cases
    assert not harness_errors, "\n".join(harness_errors[:30])


def test_probe_answers_every_line_and_exits_cleanly(probe_run):
    if len(probe_run.responses) != len(probe_run.cases) or probe_run.timed_out:
        pytest.fail(probe_run.crash_hint(), pytrace=False)
    assert probe_run.returncode == 0, f"probe exited with {probe_run.returncode} at EOF"


def test_random_messages_round_trip_byte_identical(probe_run):
    _assert_category(probe_run, {"random"})


@pytest.mark.parametrize("category", list(NONCANONICAL))
def test_noncanonical_encoding_decodes_to_same_message(probe_run, category):
    _assert_category(probe_run, {category})


def test_malformed_input_is_rejected_and_probe_survives(probe_run):
    # "canary" lines follow every malformed line: a probe that gets wedged
    # or loses its place after an error fails them.
    _assert_category(probe_run, {"malformed", "canary"})


def test_map_string_keys_compare_by_code_points(probe_run, descriptors):
    if not any(c.category == "unicode-map-keys" for c in probe_run.cases):
        pytest.fail("no map<string, _> field in any proto; this check needs one "
                    "(grpc.testing.TestOrcaReport has two)")
    _assert_category(probe_run, {"unicode-map-keys"})
