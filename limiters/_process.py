"""Starting a limiter as a foreground child process on a free loopback port, and stopping it
so that nothing is left behind. Standard library only: this package imports nothing of ours."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def find_program(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")


def wait_listening(port: int, process: subprocess.Popen, log: Path, timeout_s: float = 15):
    """Until `port` accepts a TCP connection. A bare connect sends no HTTP request, so
    readiness costs no quota."""
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {tail(log)}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"did not listen on {HOST}:{port}: {tail(log)}") from None
            time.sleep(0.05)


def tail(log: Path, chars: int = 2000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def stop(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class Foreground:
    """One or more child processes in a private temporary folder; a context manager whose exit
    (also on an exception) stops them all and removes the folder."""

    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"pinaivu-{prefix}-"))
        self.processes: list[subprocess.Popen] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """What PINAIVU_BASE_URL takes: the OpenAI-style /v1 root."""
        return f"{self.url}/v1"

    def spawn(self, argv: list[str], port: int, log_name: str, **kwargs) -> subprocess.Popen:
        log = self.dir / log_name
        with log.open("ab") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, **kwargs)
        self.processes.append(process)
        try:
            wait_listening(port, process, log)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{Path(argv[0]).name}: {exc}") from None
        return process

    def log(self, name: str) -> str:
        return tail(self.dir / name, 10_000)

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop(process)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
