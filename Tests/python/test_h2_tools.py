"""Debian's nghttp2 command-line tools (nghttp, h2load) drive a server over h2c, and the
protocol edge cases only a raw HTTP/2 client can produce get the statuses the gRPC spec names."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from health_frames import framed_check


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install Debian's nghttp2-client (see .ci/run)", pytrace=False)
    return path


def _nghttp(url: str, body_file, *headers: str) -> str:
    args = [_tool("nghttp"), "-v", "-n", "-d", str(body_file), "-H", "content-type: application/grpc",
            "-H", "te: trailers"]
    for header in headers:
        args += ["-H", header]
    result = subprocess.run(args + [url], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _grpc_status(output: str) -> str:
    found = re.findall(r"grpc-status: (\d+)", output)
    assert found, f"no grpc-status in nghttp output:\n{output}"
    return found[-1]


def test_nghttp_calls_health_check(interop_server, tmp_path):
    body = tmp_path / "check.bin"
    body.write_bytes(framed_check(""))
    output = _nghttp(f"http://{interop_server}/grpc.health.v1.Health/Check", body)
    assert ":status: 200" in output
    assert _grpc_status(output) == "0"


def test_compressed_message_without_encoding_is_internal(interop_server, tmp_path):
    body = tmp_path / "compressed.bin"
    framed = bytearray(framed_check(""))
    framed[0] = 1  # compressed flag set, but no grpc-encoding header was sent
    body.write_bytes(bytes(framed))
    output = _nghttp(f"http://{interop_server}/grpc.health.v1.Health/Check", body)
    assert _grpc_status(output) == "13"  # INTERNAL, as the gRPC spec requires


def test_unsupported_grpc_encoding_is_unimplemented(interop_server, tmp_path):
    body = tmp_path / "check.bin"
    body.write_bytes(framed_check(""))
    output = _nghttp(f"http://{interop_server}/grpc.health.v1.Health/Check", body, "grpc-encoding: snappy")
    assert _grpc_status(output) == "12"
    assert "grpc-accept-encoding: identity" in output


def test_truncated_message_is_invalid_argument(interop_server, tmp_path):
    body = tmp_path / "truncated.bin"
    body.write_bytes(framed_check("abc")[:-2])  # the prefix promises two bytes more than follow
    output = _nghttp(f"http://{interop_server}/grpc.health.v1.Health/Check", body)
    assert _grpc_status(output) == "3"


def test_h2load_drives_many_streams(interop_server, tmp_path):
    body = tmp_path / "check.bin"
    body.write_bytes(framed_check(""))
    result = subprocess.run(
        [_tool("h2load"), "-n", "2000", "-c", "4", "-m", "50", "-d", str(body),
         "-H", "content-type: application/grpc", "-H", "te: trailers",
         f"http://{interop_server}/grpc.health.v1.Health/Check"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    match = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored",
                      result.stdout)
    assert match, result.stdout
    total, _, done, succeeded, failed, errored = map(int, match.groups())
    assert (total, done, succeeded, failed, errored) == (2000, 2000, 2000, 0, 0), result.stdout
