"""Shared fixtures for the Python half of the test suite.

The Swift runtime is tested from the outside: stock Python gRPC / protobuf are
the reference implementations, and the Swift binaries built by SwiftPM are
driven as black boxes.  This file provides

* ``proto_stubs``   - Python stubs generated with grpc_tools.protoc from every
                      .proto under <repo>/proto, importable for the session;
* ``binary``        - locate a binary in $CRM_BIN_DIR (fails, never skips);
* ``start_process`` - launch a ``--listen 127.0.0.1:0`` server binary, learn
                      its address, and check it shuts down cleanly;
* ``interop_server``- a running crm-interop-server, one per test module.
"""

from __future__ import annotations

import collections
import importlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

# interop_cases.py is a helper module full of plain `assert` statements; let
# pytest rewrite them so failures show the compared values.  This must happen
# before anything imports it.
pytest.register_assert_rewrite("interop_cases")

REPO_ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO_ROOT / "proto"

# How long a freshly started server may take to print its "listening on" line.
# Generous because a debug Swift binary can be slow to start on a loaded CI box.
STARTUP_TIMEOUT_S = 30.0
# The contract for every server binary: SIGTERM -> graceful shutdown -> exit 0
# within this many seconds (in-flight calls get up to 10 s; a loaded CI box needs slack).
SHUTDOWN_TIMEOUT_S = 20.0

_LISTEN_RE = re.compile(r"^listening on (?P<host>\S+):(?P<port>\d+)\s*$")


# --------------------------------------------------------------------------
# Binaries
# --------------------------------------------------------------------------


def bin_dir() -> Path:
    return Path(os.environ.get("CRM_BIN_DIR") or REPO_ROOT / ".build" / "debug")


def find_binary(name: str) -> Path:
    """Path of a built binary, or a loud test failure.

    A missing binary means the build is broken or was not run; skipping would
    let a broken build look green, so this always fails.
    """
    path = bin_dir() / name
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"required binary {name!r} not found (or not executable) at {path}.\n"
            f"Build it first (`swift build` in {REPO_ROOT}) or point CRM_BIN_DIR "
            f"at the directory that holds it.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def binary():
    """``binary(name) -> Path`` of an executable in CRM_BIN_DIR (fails if missing)."""
    return find_binary


# --------------------------------------------------------------------------
# Managed server processes
# --------------------------------------------------------------------------


class _Drain(threading.Thread):
    """Reads one pipe of a child to EOF so the child can never block on a full
    pipe buffer, keeping the tail of the output for failure messages."""

    def __init__(self, pipe, label: str, on_line=None):
        super().__init__(name=f"drain-{label}", daemon=True)
        self._pipe = pipe
        self._on_line = on_line
        self.lines: collections.deque[str] = collections.deque(maxlen=5000)

    def run(self) -> None:
        for raw in iter(self._pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            self.lines.append(line)
            if self._on_line is not None:
                self._on_line(line)
        self._pipe.close()


@dataclass
class ManagedProcess:
    """A server binary started with ``--listen 127.0.0.1:0``.

    The port is chosen by the kernel (port 0) so parallel test runs never
    collide; the server tells us which port it got on its first stdout line.
    """

    name: str
    args: tuple[str, ...] = ()
    env: dict[str, str] | None = None
    listen: str = "127.0.0.1:0"
    address: str = ""
    proc: subprocess.Popen | None = None
    _first_line: list[str] = field(default_factory=list)
    _first_line_seen: threading.Event = field(default_factory=threading.Event)
    _running: bool = False  # set once start() succeeded; stop() checks only those
    _stdout: _Drain | None = None
    _stderr: _Drain | None = None

    def start(self) -> "ManagedProcess":
        try:
            self._start()
        except BaseException:
            self._kill()
            raise
        self._running = True
        return self

    def _start(self) -> None:
        path = find_binary(self.name)
        argv = [str(path), "--listen", self.listen, *self.args]
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env,
        )
        self._stdout = _Drain(self.proc.stdout, f"{self.name}-stdout", self._note_line)
        self._stderr = _Drain(self.proc.stderr, f"{self.name}-stderr")
        self._stdout.start()
        self._stderr.start()

        # Wait for the first line, but also notice a child that dies first
        # (otherwise we would sit out the whole timeout on a crash).
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._first_line_seen.wait(0.1):
            if self.proc.poll() is not None:
                self._stdout.join(2)
                if self._first_line_seen.is_set():
                    break
                self._fail(f"exited with code {self.proc.returncode} before "
                           f"printing its listening address")
            if time.monotonic() >= deadline:
                self._kill()
                self._fail(f"printed no 'listening on HOST:PORT' line within "
                           f"{STARTUP_TIMEOUT_S:.0f} s")
        line = self._first_line[0]
        match = _LISTEN_RE.match(line)
        if not match:
            self._kill()
            self._fail(f"first stdout line {line!r} is not 'listening on HOST:PORT'")
        self.address = f"{match['host']}:{match['port']}"

    def _note_line(self, line: str) -> None:
        if not self._first_line_seen.is_set():
            self._first_line.append(line)
            self._first_line_seen.set()

    def output_tail(self, n: int = 60) -> str:
        def tail(drain):
            if drain is None:
                return "<not started>"
            return "\n".join(list(drain.lines)[-n:]) or "<empty>"
        return (f"--- stdout of {self.name} (tail) ---\n{tail(self._stdout)}\n"
                f"--- stderr of {self.name} (tail) ---\n{tail(self._stderr)}")

    def _fail(self, what: str) -> None:
        # Give the drain threads a moment so the message shows the last words.
        for drain in (self._stdout, self._stderr):
            if drain is not None:
                drain.join(1)
        pytest.fail(f"{self.name} {what}\n{self.output_tail()}", pytrace=False)

    def _kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def assert_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._fail(f"is not running (exit code "
                       f"{None if self.proc is None else self.proc.returncode})")

    def stop(self) -> None:
        """SIGTERM, then require a clean exit 0 within SHUTDOWN_TIMEOUT_S.

        Graceful shutdown is part of the contract, so a hang or a non-zero
        code fails the test that owns the process (reported at teardown).
        """
        if not self._running:
            return  # start() failed and has already reported why
        self._running = False
        if self.proc.poll() is not None:
            self._fail(f"died during the test (exit code {self.proc.returncode}) "
                       f"before it was asked to stop")
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self._fail(f"did not exit within {SHUTDOWN_TIMEOUT_S:.0f} s of SIGTERM "
                       f"(killed with SIGKILL)")
        if code != 0:
            self._fail(f"exited with code {code} after SIGTERM (expected 0)")
        self._stdout.join(2)
        self._stderr.join(2)


@pytest.fixture
def start_process():
    """``start_process(name, *args, env=None) -> ManagedProcess``.

    Every process started through this fixture is stopped (and its clean exit
    asserted) when the test finishes.
    """
    started: list[ManagedProcess] = []

    def _start(name: str, *args: str, env: dict[str, str] | None = None,
               listen: str = "127.0.0.1:0") -> ManagedProcess:
        process = ManagedProcess(name, tuple(args), env, listen)
        started.append(process)
        return process.start()

    yield _start
    _stop_all(started)


def _stop_all(processes: list[ManagedProcess]) -> None:
    # Stop every process even if an earlier one fails, then report the first
    # failure; otherwise one bad shutdown would leak the other children.
    failure: BaseException | None = None
    for process in reversed(processes):
        try:
            process.stop()
        except BaseException as exc:  # pytest.fail raises an Exception subclass
            failure = failure or exc
            process._kill()
    if failure is not None:
        raise failure


@pytest.fixture(scope="module")
def interop_server_process():
    """The crm-interop-server process shared by one test module."""
    process = ManagedProcess("crm-interop-server")
    try:
        process.start()
        yield process
    finally:
        _stop_all([process])


@pytest.fixture(scope="module")
def interop_server(interop_server_process) -> str:
    """``"127.0.0.1:PORT"`` of a running crm-interop-server."""
    return interop_server_process.address


# --------------------------------------------------------------------------
# Generated protobuf / gRPC stubs
# --------------------------------------------------------------------------


@dataclass
class GeneratedStubs:
    out_dir: Path
    proto_files: list[str]
    pb2_modules: list[ModuleType]
    grpc_modules: list[ModuleType]


def _generate_stubs(out_dir: Path) -> GeneratedStubs:
    proto_files = sorted(p.relative_to(PROTO_ROOT).as_posix()
                         for p in PROTO_ROOT.rglob("*.proto"))
    if not proto_files:
        pytest.fail(f"no .proto files found under {PROTO_ROOT}", pytrace=False)

    # grpc_tools ships the well-known types; none of our protos should need
    # them, but include them so a stray import gives a clear protoc error
    # rather than "file not found".
    import grpc_tools
    wkt_include = Path(grpc_tools.__file__).parent / "_proto"

    # Run protoc in a subprocess so its diagnostics can be captured and shown.
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
           f"-I{wkt_include}", f"--python_out={out_dir}",
           f"--grpc_python_out={out_dir}", *proto_files]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=PROTO_ROOT)
    if result.returncode != 0:
        pytest.fail("grpc_tools.protoc failed on the repository's .proto files:\n"
                    f"{' '.join(cmd)}\n{result.stdout}{result.stderr}", pytrace=False)

    _make_importable(out_dir)

    pb2_modules, grpc_modules = [], []
    for rel in proto_files:
        base = rel[: -len(".proto")].replace("/", ".").replace("-", "_")
        pb2_modules.append(importlib.import_module(base + "_pb2"))
        grpc_modules.append(importlib.import_module(base + "_pb2_grpc"))
    return GeneratedStubs(out_dir, proto_files, pb2_modules, grpc_modules)


def _make_importable(out_dir: Path) -> None:
    """Put the generated tree on the import path.

    protoc names Python modules after the .proto path, so grpc/testing/*.proto
    becomes the module ``grpc.testing.*_pb2`` -- inside the *installed* grpcio
    package's namespace.  ``grpc`` is a regular package, so Python would only
    look for ``grpc.testing`` inside grpcio's own directory.  Appending our
    directory to the package's ``__path__`` grafts the generated subpackages
    onto it without touching grpcio itself.  The same is done for any other
    top-level name that already exists as an installed package.
    """
    if str(out_dir) not in sys.path:
        sys.path.append(str(out_dir))
    importlib.invalidate_caches()
    for top in sorted(p.name for p in out_dir.iterdir() if p.is_dir()):
        package = importlib.import_module(top)
        ours = str(out_dir / top)
        search_path = getattr(package, "__path__", None)
        if search_path is None:
            pytest.fail(f"generated package {top!r} clashes with the installed "
                        f"module {package!r}", pytrace=False)
        if ours not in list(search_path):
            search_path.append(ours)
    importlib.invalidate_caches()


@pytest.fixture(scope="session", autouse=True)
def proto_stubs(tmp_path_factory) -> GeneratedStubs:
    """Python stubs for every .proto under <repo>/proto, importable as e.g.
    ``from grpc.testing import messages_pb2``."""
    return _generate_stubs(tmp_path_factory.mktemp("generated_stubs"))


# --------------------------------------------------------------------------
# Suites of real service processes
# --------------------------------------------------------------------------


@pytest.fixture
def suite(start_process, tmp_path, proto_stubs):
    """A :class:`suite.Suite`: call ``suite.start("customers")`` etc.; each process gets its own
    SQLite file, the service token, the shared test clock and every peer's address."""
    from suite import SERVICES, Suite, TestClock, free_port

    crm = Suite(start_process=start_process, directory=tmp_path, clock=TestClock(tmp_path / "clock"))
    crm.ports = {name: free_port() for name in SERVICES}
    yield crm
    crm.close()
