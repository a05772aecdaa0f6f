"""Varnish (Debian's `varnish`) with vsthrottle (Debian's `varnish-modules`), both installed by
scripts/install-system-deps.sh, in the foreground on a free loopback port: a token bucket per
Authorization header with a lockout (`block`) after a refusal. Varnish answers every request
itself (synthetic responses: no backend). The truth, with its source lines, is in TRUTH.md."""

from __future__ import annotations

import glob
import subprocess

from ._process import HOST, Foreground, find_program, free_port

_VCL = """vcl 4.1;
import vsthrottle;

backend default none;

sub vcl_recv {{
    if (req.method == "GET" && req.url == "/v1/models") {{
        return (synth(200, "models"));
    }}
    if (req.method != "POST" || req.url != "/v1/chat/completions") {{
        return (synth(404, "Not Found"));
    }}
    if (vsthrottle.is_denied(req.http.Authorization, {limit}, {period_ms}ms, {block_ms}ms)) {{
        return (synth(429, "Too Many Requests"));
    }}
    return (synth(200, "completion"));
}}

sub vcl_synth {{
    # {{" ... "}} strings end at the first quote-brace, so the JSON puts a space between them.
    set resp.http.Content-Type = "application/json";
    if (resp.status == 200 && resp.reason == "models") {{
        set resp.body = {{"{{"object":"list","data":[{{"id":"static-model","object":"model" }}] }}"}};
    }} elsif (resp.status == 200) {{
        set resp.body = {{"{{"request_id":""}} + req.xid + {{"","object":"chat.completion","choices":[{{"index":0,"message":{{"role":"assistant","content":"ok" }},"finish_reason":"stop" }}] }}"}};
    }} else {{
        set resp.body = {{"{{"error":{{"message":""}} + resp.reason + {{"" }} }}"}};
    }}
    return (deliver);
}}
"""


def varnishd_binary() -> str | None:
    return find_program("varnishd")


def missing() -> str | None:
    """Why it cannot start here, or None."""
    if varnishd_binary() is None:
        return "varnishd is not installed (scripts/install-system-deps.sh installs it as root)"
    if not glob.glob("/usr/lib/*/varnish/vmods/libvmod_vsthrottle.so"):
        return ("the vsthrottle module is not installed (Debian's varnish-modules, "
                "scripts/install-system-deps.sh)")
    return None


def varnish_versions() -> dict[str, str]:
    """Debian's package versions of varnish and varnish-modules (dpkg's own record)."""
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", "varnish",
                          "varnish-modules"], capture_output=True, text=True).stdout
    return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)


class VarnishThrottle(Foreground):
    def __init__(self, limit: int = 4, period_s: float = 2.0, block_s: float = 3.0,
                 port: int | None = None) -> None:
        reason = missing()
        if reason:
            raise RuntimeError(reason)
        binary = varnishd_binary()
        super().__init__("varnish")
        self.limit, self.period_s, self.block_s = limit, period_s, block_s
        self.port = port or free_port()
        vcl = self.dir / "throttle.vcl"
        vcl.write_text(_VCL.format(limit=limit, period_ms=round(period_s * 1000),
                                   block_ms=round(block_s * 1000)))
        self.dir.chmod(0o755)
        # -F: foreground; -j none: no privilege separation, so that it runs as whoever we are
        # in our own folder; -T none: no management port.
        self.spawn([binary, "-F", "-j", "none", "-T", "none", "-n", str(self.dir / "state"),
                    "-a", f"{HOST}:{self.port}", "-f", str(vcl), "-s", "malloc,16m"],
                   self.port, "varnishd.log")

    def truth(self) -> dict:
        return {"algorithm": "token_bucket", "limit": self.limit, "window_s": None,
                "rate_per_s": self.limit / self.period_s, "burst": self.limit,
                "alignment": None, "counts_rejected": False,
                "lockout_s": self.block_s if self.block_s > 0 else None,
                "lockout_extends": False, "lockout_consumes_tokens": True,
                "queueing": None, "scope": "per_key", "unit": "requests",
                "retry_after": None, "declared": None}
