"""nginx on a free loopback port: a static baseline for benchmarks, and later an independent
rate limiter (`limit_req`) for the analysis tests. nginx is Debian's, installed by
scripts/install-system-deps.sh."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from .launch import free_port


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


class Nginx:
    """Run nginx in the foreground with a generated config; `http_block` goes in `http {}`.

    `{port}` in http_block becomes the chosen port and `{root}` a folder holding `files`
    (name -> text). Note that nginx's `return` answers before `limit_req` runs: a limited
    location must serve a file.
    """

    def __init__(self, http_block: str, port: int | None = None,
                 files: dict[str, str] | None = None) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (scripts/install-system-deps.sh)")
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pinaivu-nginx-"))
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir()
        d = self.dir
        (d / "www").mkdir()
        for name, text in (files or {}).items():
            (d / "www" / name).write_text(text)
        d.chmod(0o755)  # workers run as nobody when nginx starts as root
        conf = f"""
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    {http_block.replace("{port}", str(self.port)).replace("{root}", str(d / "www"))}
}}
"""
        (d / "nginx.conf").write_text(conf)
        self.process = subprocess.Popen([binary, "-p", str(d), "-c", str(d / "nginx.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()}")
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/", timeout=0.5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not answer: {self.error_log()}")
                time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
