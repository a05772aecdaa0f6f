"""Where the load goes and with which keys: from the environment, never from the command line.

PINAIVU_BASE_URL (default the reference gateway on loopback), PINAIVU_API_KEY or
PINAIVU_API_KEYS (comma or whitespace separated; users take them round robin).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from analysis.schema import DEFAULT_BASE_URL, KeyListError, env_keys, key_fingerprint


class TargetError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    base_url: str
    keys: tuple[str, ...]

    @property
    def key_ids(self) -> list[str]:
        return [key_fingerprint(k) for k in self.keys]

    def key_for_user(self, index: int) -> str:
        return self.keys[index % len(self.keys)]

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def is_loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return self.host == "localhost"

    def warnings(self) -> list[str]:
        out = []
        if "api.openai.com" in self.host:
            out.append("PINAIVU_BASE_URL points at api.openai.com: see the troubleshooting "
                       "page's 'Wrong base URL for OpenAI SDK' case; use the Pinaivu gateway, "
                       "https://api.pinaivu.com/v1")
        if not urlsplit(self.base_url).path.rstrip("/").endswith("/v1"):
            out.append(f"PINAIVU_BASE_URL {self.base_url} does not end in /v1")
        return out


def load_target(env: dict[str, str] | None = None) -> Target:
    env = os.environ if env is None else env
    base = env.get("PINAIVU_BASE_URL", "").strip() or DEFAULT_BASE_URL
    if urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).hostname:
        raise TargetError(f"PINAIVU_BASE_URL {base!r} is not an http(s) URL")
    try:
        keys = tuple(env_keys(env))
    except KeyListError as exc:
        raise TargetError(str(exc)) from None
    if not keys:
        raise TargetError("no API key: set PINAIVU_API_KEY (or PINAIVU_API_KEYS, comma "
                          "separated) in the environment. For the reference gateway, "
                          "PINAIVU_API_KEY=pk-demo-alice-0001")
    return Target(base.rstrip("/"), keys)


def require_loopback_for_load(target: Target, allow_remote: bool) -> None:
    """Load, soak and stress traffic goes to loopback unless the user says otherwise."""
    if not target.is_loopback and not allow_remote:
        raise TargetError(f"{target.host} is not a loopback address; load scenarios only run "
                          "against loopback unless --allow-remote-target is given")
