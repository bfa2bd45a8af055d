"""Shared pieces of the reliability tests (test_reliability*.py): every RPC method of the suite as the
generated Python descriptors list it, raw-bytes callables for any call shape, a generic "fill every
field" message builder (rich, valid encodings to mutate), and process-level helpers (kill -9 of a
managed process, its resident memory).

`CRM_RELIABILITY_SCALE` (default 1) multiplies the iteration counts; `benchmarks/reliability` runs
the same tests at a larger scale against release binaries.
"""

from __future__ import annotations

import importlib
import os
import random
import re
import signal
from dataclasses import dataclass
from pathlib import Path

import grpc

SCALE = max(1, int(os.environ.get("CRM_RELIABILITY_SCALE", "1")))

# process name -> (proto module of its main service, service name)
MAIN_SERVICES = {
    "leads": ("crm.leads.v1.leads_pb2", "LeadService"),
    "customers": ("crm.customers.v1.customers_pb2", "CustomerService"),
    "opportunities": ("crm.opportunities.v1.opportunities_pb2", "OpportunityService"),
    "tickets": ("crm.tickets.v1.tickets_pb2", "TicketService"),
    "forecast": ("crm.forecast.v1.forecast_pb2", "ForecastService"),
    "gateway": ("crm.gateway.v1.gateway_pb2", "GatewayService"),
}
BACKENDS = ("leads", "customers", "opportunities", "tickets", "forecast")
# Which processes also host crm.events.v1.EventSink (they consume other services' events).
EVENT_CONSUMERS = ("leads", "customers", "opportunities", "tickets", "forecast")


@dataclass(frozen=True)
class Method:
    service: str          # full name, e.g. crm.leads.v1.LeadService
    name: str             # e.g. CreateLead
    input: object         # request message class
    output: object        # response message class
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"

    @property
    def shape(self) -> str:
        return {(False, False): "unary", (False, True): "server", (True, False): "client",
                (True, True): "bidi"}[(self.client_streaming, self.server_streaming)]

    def __str__(self) -> str:
        return self.path


def message_class(descriptor):
    from google.protobuf import message_factory
    return message_factory.GetMessageClass(descriptor)


def service_methods(module_name: str, service_name: str) -> list[Method]:
    """Every method of one service, read from the generated module's descriptor (never a hand list,
    so a method added to a .proto is covered the day it is added)."""
    module = importlib.import_module(module_name)
    service = module.DESCRIPTOR.services_by_name[service_name]
    return [Method(service.full_name, m.name, message_class(m.input_type), message_class(m.output_type),
                   m.client_streaming, m.server_streaming)
            for m in service.methods]


def methods_of(process: str) -> list[Method]:
    """Every method the process serves (its main service, plus EventSink for consumers)."""
    module, service = MAIN_SERVICES[process]
    methods = service_methods(module, service)
    if process in EVENT_CONSUMERS:
        methods += service_methods("crm.events.v1.events_pb2", "EventSink")
    return methods


def raw_call(channel: grpc.Channel, method: Method, payloads: list[bytes], metadata, timeout: float = 10.0):
    """Calls `method` with already-encoded request bodies (no serialisation: bytes go out as given).
    Returns the list of raw response bodies; raises grpc.RpcError on a non-OK status."""
    kwargs = dict(request_serializer=None, response_deserializer=None)
    if method.shape == "unary":
        return [channel.unary_unary(method.path, **kwargs)(payloads[0], metadata=metadata, timeout=timeout)]
    if method.shape == "server":
        return list(channel.unary_stream(method.path, **kwargs)(payloads[0], metadata=metadata, timeout=timeout))
    if method.shape == "client":
        return [channel.stream_unary(method.path, **kwargs)(iter(payloads), metadata=metadata, timeout=timeout)]
    return list(channel.stream_stream(method.path, **kwargs)(iter(payloads), metadata=metadata, timeout=timeout))


def status_of(call) -> tuple[grpc.StatusCode, str]:
    """(code, details) of a call: OK with "" when it succeeds."""
    try:
        call()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        return error.code(), error.details() or ""


# --------------------------------------------------------------------------------------------
# A message with every field set: valid bytes that reach deep into each decoder
# --------------------------------------------------------------------------------------------

def filled(message_cls, rng: random.Random, depth: int = 0):
    """An instance of `message_cls` with every field set (one member of each oneof), recursing into
    sub-messages to depth 3. Values are random but valid for their type."""
    from google.protobuf.descriptor import FieldDescriptor as F
    message = message_cls()
    seen_oneofs = set()
    for field in message.DESCRIPTOR.fields:
        if field.containing_oneof is not None and not field.containing_oneof.name.startswith("_"):
            if field.containing_oneof.name in seen_oneofs:
                continue
            seen_oneofs.add(field.containing_oneof.name)
        is_map = field.message_type is not None and field.message_type.GetOptions().map_entry
        repeated = _is_repeated(field) and not is_map
        if field.type == F.TYPE_MESSAGE:
            if depth >= 3:
                continue
            if is_map:
                key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
                target = getattr(message, field.name)
                for _ in range(2):
                    key = _scalar(key_field, rng)
                    if value_field.type == F.TYPE_MESSAGE:
                        target[key].CopyFrom(filled(message_class(value_field.message_type), rng, depth + 1))
                    else:
                        target[key] = _scalar(value_field, rng)
            elif repeated:
                for _ in range(2):
                    getattr(message, field.name).add().CopyFrom(
                        filled(message_class(field.message_type), rng, depth + 1))
            else:
                getattr(message, field.name).CopyFrom(filled(message_class(field.message_type), rng, depth + 1))
        elif repeated:
            getattr(message, field.name).extend(_scalar(field, rng) for _ in range(3))
        else:
            setattr(message, field.name, _scalar(field, rng))
    return message


def _is_repeated(field) -> bool:
    is_repeated = getattr(field, "is_repeated", None)
    if is_repeated is not None:
        return is_repeated if isinstance(is_repeated, bool) else is_repeated()
    return field.label == field.LABEL_REPEATED


def _scalar(field, rng: random.Random):
    from google.protobuf.descriptor import FieldDescriptor as F
    t = field.type
    if t == F.TYPE_STRING:
        return rng.choice(["x", "Zürich GmbH", "+49 151 2345 6789", "a@example.com", "2026-03-31", "team-a", "ü" * 40])
    if t == F.TYPE_BYTES:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 12)))
    if t == F.TYPE_BOOL:
        return rng.random() < 0.5
    if t == F.TYPE_ENUM:
        return rng.choice([v.number for v in field.enum_type.values])
    if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return rng.choice([0.5, -1.0, 1e9, 3.25])
    if t in (F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32):
        return rng.choice([1, -1, 2**31 - 1, -(2**31), 42])
    if t in (F.TYPE_UINT32, F.TYPE_FIXED32):
        return rng.choice([1, 2**32 - 1, 42])
    if t in (F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64):
        return rng.choice([1, -1, 2**63 - 1, -(2**63), 1_767_603_600_000])
    if t in (F.TYPE_UINT64, F.TYPE_FIXED64):
        return rng.choice([1, 2**64 - 1, 1_767_603_600_000])
    raise AssertionError(f"unhandled field type {t} of {field.full_name}")


# --------------------------------------------------------------------------------------------
# Hostile bodies: what a broken or malicious peer might send as a protobuf message
# --------------------------------------------------------------------------------------------

def hostile_bodies(valid: bytes, rng: random.Random, count: int) -> list[bytes]:
    """`count` bodies derived from `valid`: truncations, bit flips, spliced garbage, lying length
    prefixes, overlong varints, invalid wire types, deep nesting, and plain random bytes."""
    fixed = [
        b"\xff" * 11,                                   # a varint longer than 10 bytes
        b"\x08" + b"\x80" * 9 + b"\x02",                # a varint overflowing 64 bits
        b"\x0a\xff\xff\xff\xff\x0f",                    # length-delimited field claiming 4 GiB
        b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x01",   # length that does not fit in Int
        b"\x0f",                                        # wire type 7 (invalid)
        b"\x0e\x01",                                    # wire type 6 (invalid)
        b"\x0b\x0c",                                    # a group start/end (deprecated wire types 3/4)
        b"\x00\x01",                                    # field number 0
        b"\xf8\xff\xff\xff\xff\x01\x01",               # field number beyond 2^29
        b"\x0a" * 2000,                                 # nested lengths that run off the end
        (b"\x0a\x7f" * 64),                             # claimed sub-messages longer than the rest
        b"\x09\x01\x02\x03",                            # truncated fixed64
        b"\x0d\x01",                                    # truncated fixed32
        b"\x12\x03\xff\xfe\xfd",                        # invalid UTF-8 in a string field
    ]
    bodies = list(fixed)
    while len(bodies) < count:
        kind = rng.randrange(6)
        if kind == 0 and valid:
            bodies.append(valid[:rng.randrange(len(valid))])
        elif kind == 1 and valid:
            mutated = bytearray(valid)
            for _ in range(rng.randint(1, 4)):
                mutated[rng.randrange(len(mutated))] ^= 1 << rng.randrange(8)
            bodies.append(bytes(mutated))
        elif kind == 2 and valid:
            at = rng.randrange(len(valid) + 1)
            bodies.append(valid[:at] + rng.randbytes(rng.randint(1, 16)) + valid[at:])
        elif kind == 3 and valid:
            mutated = bytearray(valid)
            at = rng.randrange(len(mutated))
            mutated[at:at + 1] = rng.choice([b"\xff\xff\xff\xff\x07", b"\x80\x80\x80\x80\x10", b"\xff" * 10])
            bodies.append(bytes(mutated))
        elif kind == 4:
            depth = rng.randint(50, 3000)  # nested sub-messages in field 1, deeper than any schema
            body = b""
            for _ in range(depth):
                body = b"\x0a" + _varint(len(body)) + body
            bodies.append(body)
        else:
            bodies.append(rng.randbytes(rng.randint(1, 300)))
    return bodies[:count]


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------

def rss_kb(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text()).group(1))


def kill9(suite, name: str) -> int:
    """SIGKILLs a suite process (no shutdown at all: the crash the durability tests are about) and
    forgets it, so the fixture does not report the deliberate death. Returns the exit code seen."""
    process = suite.processes.pop(name)
    process.proc.send_signal(signal.SIGKILL)
    code = process.proc.wait(10)
    process._running = False  # ManagedProcess.stop() would otherwise report "died during the test"
    return code
