"""Start the reference gateway as a child process on a free loopback port, and stop it.

Used by the test fixtures, the demo, the benchmarks and the make targets that need a target:
one way to start it, so they all see the same server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class GatewayStartError(RuntimeError):
    pass


@dataclass
class RunningGateway:
    process: subprocess.Popen
    host: str
    port: int
    log_path: Path | None = None
    profile: str = "default"
    overrides: list[str] = field(default_factory=list)
    remove_log: bool = False

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.remove_log and self.log_path:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> RunningGateway:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_gateway(profile: str = "default", overrides: list[str] = (), *,
                  host: str = "127.0.0.1", port: int | None = None,
                  log_path: Path | None = None, ready_timeout: float = 30.0) -> RunningGateway:
    """Start `python -m gateway` and return once /healthz answers; raise with its log if not."""
    port = port or free_port(host)
    # --parent-pid: a gateway never outlives the process that started it, even killed
    cmd = [sys.executable, "-m", "gateway", "--profile", profile, "--host", host,
           "--port", str(port), "--parent-pid", str(os.getpid())]
    for o in overrides:
        cmd += ["--set", o]
    own_log = log_path is None
    if own_log:
        fd, name = tempfile.mkstemp(prefix="pinaivu-gateway-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # The gateway is found as a package of the checkout this module belongs to.
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    with open(log_path, "wb") as log:
        # Its own session: a Ctrl-C in the terminal goes to the starter, which stops the
        # gateway when it no longer needs it (a load run's last requests still need it).
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    gw = RunningGateway(proc, host, port, log_path, profile, list(overrides), own_log)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = log_path.read_text(errors="replace")
            gw.stop()
            raise GatewayStartError(f"gateway exited with code {proc.returncode}:\n{output}")
        try:
            if httpx.get(f"{gw.root_url}/healthz", timeout=0.5).status_code == 200:
                return gw
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    gw.stop()
    raise GatewayStartError(f"gateway did not answer /healthz within {ready_timeout:.0f} s")
