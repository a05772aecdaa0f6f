"""The target's environment: where the load goes and with which keys, read from the
environment (never from the command line) in one order by the scenarios, the doctor and tune's
live check alike; the loopback rule; and where run folders go.

PINAIVU_BASE_URL (default the reference gateway on loopback); PINAIVU_API_KEYS (comma or
whitespace separated; users take them round robin), else PINAIVU_API_KEY; PINAIVU_REPORTS_DIR.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .events import key_fingerprint

# Where the harness sends load and with which keys: read from the environment by the load
# scenarios, the doctor and tune's live check alike.
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"  # the reference gateway on loopback


class KeyListError(ValueError):
    """PINAIVU_API_KEYS holds an empty entry. The message names its position, never a key."""


def split_keys(raw: str, name: str = "PINAIVU_API_KEYS") -> list[str]:
    """The keys of a key list: entries separated by commas, and within an entry by whitespace.

    An empty entry ("a,,b", a leading or trailing comma) is refused, not skipped: it is most
    likely a key that went missing while pasting, and skipping it would silently run with one
    key fewer (and a different round robin) than the user meant. A blank list is no keys."""
    if not raw.strip():
        return []
    entries = raw.split(",")
    keys: list[str] = []
    for position, entry in enumerate(entries, 1):
        words = entry.split()
        if not words:
            raise KeyListError(
                f"{name}: entry {position} of {len(entries)} (comma separated) is empty; "
                "remove the extra comma or put the missing key there")
        keys += words
    return keys


def keys_variable(env) -> str:
    """The variable the keys come from: PINAIVU_API_KEYS when it holds anything, else
    PINAIVU_API_KEY. One order for the load, the doctor and the live check."""
    return "PINAIVU_API_KEYS" if (env.get("PINAIVU_API_KEYS", "") or "").strip() \
        else "PINAIVU_API_KEY"


def env_keys(env) -> list[str]:
    """The keys the load uses, from keys_variable(env). KeyListError when the list holds an
    empty entry."""
    name = keys_variable(env)
    return split_keys(env.get(name, "") or "", name)


REPORTS_DIR_ENV = "PINAIVU_REPORTS_DIR"


def reports_dir(default: str | os.PathLike = "reports", env=None) -> Path:
    """Where run folders go when none is named: $PINAIVU_REPORTS_DIR, else `default`. One
    setting for the runner, the locustfiles, the analysis and the demo, so that a test (or a
    user keeping runs elsewhere) can move them all without touching the checkout."""
    value = (os.environ if env is None else env).get(REPORTS_DIR_ENV, "")
    return Path(value) if value.strip() else Path(default)


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
