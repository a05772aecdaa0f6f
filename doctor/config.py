"""What the doctor checks, read from the environment as the harness reads it, but raw: a key's
stray whitespace must be seen before anything splits or strips it away."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from contract.target import keys_variable, split_keys

DEFAULT_MODEL = "llama3.2:3b"


@dataclass(frozen=True)
class KeySetting:
    key: str | None      # exactly as found, whitespace and all; None when unset or blank
    source: str          # the variable it came from, for messages
    note: str = ""       # something worth saying about where it came from


def read_key(env: Mapping[str, str]) -> KeySetting:
    """The first key the load would use, in the load's order (contract.target.keys_variable):
    the first of PINAIVU_API_KEYS, else PINAIVU_API_KEY read raw (the list is split on commas
    and whitespace, so whitespace there is a separator, not a copying error)."""
    single = env.get("PINAIVU_API_KEY")
    if keys_variable(env) == "PINAIVU_API_KEYS":
        listed = split_keys(env["PINAIVU_API_KEYS"])
        notes = []
        if single is not None and single.strip() and single.strip() != listed[0]:
            notes.append("PINAIVU_API_KEY is set too; the load scenarios use PINAIVU_API_KEYS "
                         "first, and so does the doctor")
        if len(listed) > 1:
            notes.append(f"PINAIVU_API_KEYS holds {len(listed)} keys; the doctor checks the first")
        return KeySetting(listed[0], "PINAIVU_API_KEYS", "; ".join(notes))
    if single is not None and single.strip():
        return KeySetting(single, "PINAIVU_API_KEY")
    return KeySetting(None, "PINAIVU_API_KEY" if single is not None else "")


def key_whitespace(key: str) -> str | None:
    """Where whitespace sits in the key, or None if there is none."""
    where = []
    if key[:1].isspace():
        where.append("leading")
    if key[-1:].isspace():
        where.append("trailing")
    if any(c.isspace() for c in key.strip()):
        where.append("inner")
    if not where:
        return None
    kinds = " and ".join(where)
    return kinds + (" newline" if "\n" in key or "\r" in key else " whitespace")


@dataclass(frozen=True)
class BaseUrl:
    url: str
    problem: str            # "" | "invalid" | "openai" | "no_v1"
    suggested: str = ""     # for "no_v1": the URL ending in /v1 to try instead


def classify_base_url(raw: str) -> BaseUrl:
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return BaseUrl(url, "invalid")
    url = url.rstrip("/")
    host = parts.hostname.lower()
    if host == "openai.com" or host.endswith(".openai.com"):
        return BaseUrl(url, "openai")
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        # A pasted endpoint (.../v1/chat/completions) is cut back to /v1; otherwise append.
        cut = path.find("/v1/")
        new_path = path[:cut + 3] if cut >= 0 else path + "/v1"
        suggested = urlunsplit((parts.scheme, parts.netloc, new_path, "", ""))
        return BaseUrl(url, "no_v1", suggested)
    return BaseUrl(url, "")
