"""HAProxy (Debian's package, installed by scripts/install-system-deps.sh) in the foreground
on a free loopback port with a generated config. Three configs, each a family or modifier
nginx's `limit_req` does not bring:

- `HAProxyRate`: `sc_http_req_rate` over a period, HAProxy's sliding-window estimate per
  Authorization header, with every request counted, the refused ones too (or, with
  counts_rejected=False, the admitted ones only); HAProxy answers the 200 itself.
- `HAProxyConcurrency`: `sc_conn_cur`, the requests of one Authorization header in flight;
  it proxies to a static upstream (backend.py) that holds each request for `delay_s`.
- `HAProxyQueue`: shaping, the upstream's `maxconn` for all keys together, with the excess
  held in HAProxy's queue and answered 503 after `timeout queue`.

The ground truth of each, with the source lines it comes from, is in TRUTH.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ._process import HOST, Foreground, find_program, free_port

# HAProxy answers the 200 itself: a fresh id per request (its unique-id, built from the
# process id, the accept date and a request counter), in a body shaped like a completion.
_COMPLETION = ("'{\"request_id\":\"%[unique-id]\",\"object\":\"chat.completion\","
               "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
               "\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}'")

_MODELS = "'{\"object\":\"list\",\"data\":[{\"id\":\"static-model\",\"object\":\"model\"}]}'"

_COMMON = """
global
    maxconn 2000
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend api
    bind {host}:{port}
    unique-id-format %{{+X}}o%pid-%Ts%ms-%rt
"""
# The request is tracked (and so counted) before the deny rule reads the counter: the count
# includes the request being judged.
_TRACK_THEN_DENY = """
    http-request track-sc0 req.hdr(Authorization) table keys
    http-request deny deny_status 429 if {{ {counter} gt {limit} }}
"""
# The estimate is read without counting, and a refused request never reaches the tracking
# rule: only admitted requests count.
_DENY_THEN_TRACK = """
    http-request deny deny_status 429 if {{ req.hdr(Authorization),table_http_req_rate(keys) ge {limit} }}
    http-request track-sc0 req.hdr(Authorization) table keys
"""


def haproxy_binary() -> str | None:
    return find_program("haproxy")


def haproxy_version() -> str:
    out = subprocess.run([_binary(), "-v"], capture_output=True, text=True).stdout
    return out.split()[2] if out.startswith("HAProxy version") else out.strip()


def _binary() -> str:
    binary = haproxy_binary()
    if binary is None:
        raise RuntimeError("haproxy is not installed (scripts/install-system-deps.sh)")
    return binary


class _HAProxy(Foreground):
    def _start(self, config: str) -> None:
        path = self.dir / "haproxy.cfg"
        path.write_text(config)
        binary = _binary()
        check = subprocess.run([binary, "-c", "-f", str(path)], capture_output=True,
                               text=True)
        if check.returncode != 0:
            self.stop()
            raise RuntimeError(f"haproxy rejected its config: {check.stdout}{check.stderr}")
        # -db: stay in the foreground, so that terminating the child stops HAProxy.
        self.spawn([binary, "-db", "-f", str(path)], self.port, "haproxy.log")

    @property
    def config(self) -> str:
        return (self.dir / "haproxy.cfg").read_text()


class HAProxyRate(_HAProxy):
    """At most `limit` per `window_s` by HAProxy's estimate, per Authorization header;
    refused requests count too unless `counts_rejected` is False."""

    def __init__(self, limit: int = 5, window_s: int = 4, counts_rejected: bool = True,
                 port: int | None = None) -> None:
        super().__init__("haproxy-rate")
        self.limit, self.window_s, self.counts_rejected = limit, window_s, counts_rejected
        self.port = port or free_port()
        rules = _TRACK_THEN_DENY if counts_rejected else _DENY_THEN_TRACK
        config = (_COMMON + rules).format(host=HOST, port=self.port, limit=limit,
                                          counter="sc_http_req_rate(0)") + f"""
    http-request return status 200 content-type application/json lf-string {_COMPLETION} if METH_POST {{ path /v1/chat/completions }}
    http-request return status 200 content-type application/json string {_MODELS} if METH_GET {{ path /v1/models }}
    http-request return status 404
backend keys
    stick-table type string len 256 size 100k expire {4 * window_s}s store http_req_rate({window_s}s)
"""
        self._start(config)

    def truth(self) -> dict:
        return {"algorithm": "sliding_counter", "limit": self.limit,
                "window_s": float(self.window_s), "rate_per_s": self.limit / self.window_s,
                "burst": self.limit, "alignment": "first_request",
                "counts_rejected": self.counts_rejected,
                "lockout_s": None, "queueing": None, "scope": "per_key", "unit": "requests",
                "retry_after": None, "declared": None}


class HAProxyConcurrency(_HAProxy):
    """At most `limit` requests of one Authorization header in flight; each is held
    `delay_s` by the upstream."""

    def __init__(self, limit: int = 2, delay_s: float = 1.0, port: int | None = None) -> None:
        super().__init__("haproxy-conn")
        self.limit, self.delay_s = limit, delay_s
        self.port = port or free_port()
        upstream = free_port()
        self.spawn([sys.executable, str(Path(__file__).with_name("backend.py")),
                    "--port", str(upstream), "--delay", str(delay_s)], upstream,
                   "backend.log")
        config = (_COMMON + _TRACK_THEN_DENY).format(host=HOST, port=self.port, limit=limit,
                                                     counter="sc_conn_cur(0)") + f"""
    default_backend upstream
backend upstream
    server static {HOST}:{upstream}
backend keys
    stick-table type string len 256 size 100k expire 60s store conn_cur
"""
        self._start(config)

    def truth(self) -> dict:
        return {"algorithm": "concurrency", "limit": self.limit, "window_s": None,
                "rate_per_s": self.limit / self.delay_s, "burst": self.limit,
                "alignment": None, "counts_rejected": False, "lockout_s": None,
                "queueing": None, "scope": "per_key", "unit": "requests",
                "retry_after": None, "declared": None}


class HAProxyQueue(_HAProxy):
    """Shaping in front of the static upstream: at most `limit` requests in flight for all
    keys together; the excess waits in HAProxy's queue, first come first served, and is
    answered 503 when it has waited `queue_timeout_s` without a slot."""

    def __init__(self, limit: int = 1, delay_s: float = 1.0, queue_timeout_s: float = 2.5,
                 port: int | None = None) -> None:
        super().__init__("haproxy-queue")
        self.limit, self.delay_s, self.queue_timeout_s = limit, delay_s, queue_timeout_s
        self.port = port or free_port()
        upstream = free_port()
        self.spawn([sys.executable, str(Path(__file__).with_name("backend.py")),
                    "--port", str(upstream), "--delay", str(delay_s)], upstream,
                   "backend.log")
        config = _COMMON.format(host=HOST, port=self.port) + f"""
    default_backend upstream
backend upstream
    timeout queue {round(queue_timeout_s * 1000)}ms
    server static {HOST}:{upstream} maxconn {limit}
"""
        self._start(config)

    def truth(self) -> dict:
        return {"algorithm": "concurrency", "limit": self.limit, "window_s": None,
                "rate_per_s": self.limit / self.delay_s, "burst": self.limit,
                "alignment": None, "counts_rejected": False, "lockout_s": None,
                "queueing": {"size": None, "max_delay_s": self.queue_timeout_s},
                "refused_status": 503, "scope": "global", "unit": "requests",
                "retry_after": None, "declared": None}
