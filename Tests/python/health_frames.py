"""Hand-built gRPC request bodies for raw HTTP/2 tools (nghttp, h2load)."""

import struct


def framed(message: bytes, compressed: bool = False) -> bytes:
    """One gRPC length-prefixed message: flag byte + 4-byte big-endian length + bytes."""
    return struct.pack(">BI", 1 if compressed else 0, len(message)) + message


def framed_check(service: str) -> bytes:
    """grpc.health.v1.HealthCheckRequest{service} framed, encoded by hand (field 1, string)."""
    encoded = service.encode()
    message = (b"\x0a" + bytes([len(encoded)]) + encoded) if encoded else b""
    return framed(message)
