"""What the doctor checks, read from the environment as the harness reads it, but raw: a key's
stray whitespace must be seen before anything splits or strips it away."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from analysis.schema import split_keys

DEFAULT_MODEL = "llama3.2:3b"


@dataclass(frozen=True)
class KeySetting:
    key: str | None      # exactly as found, whitespace and all; None when unset or blank
    source: str          # the variable it came from, for messages
    note: str = ""       # something worth saying about where it came from


def read_key(env: Mapping[str, str]) -> KeySetting:
    """PINAIVU_API_KEY, else the first key of PINAIVU_API_KEYS (the harness splits that list
    on commas and whitespace, so whitespace there is a separator, not a copying error)."""
    single = env.get("PINAIVU_API_KEY")
    listed = env.get("PINAIVU_API_KEYS", "")
    listed_keys = split_keys(listed)
    first_listed = listed_keys[0] if listed_keys else None
    if single is not None and single.strip():
        note = ""
        if first_listed is not None and first_listed != single:
            # locustfiles.common.target prefers the list: the load would use another key.
            note = ("PINAIVU_API_KEYS is set too and the load scenarios use it first; the "
                    "doctor checks PINAIVU_API_KEY")
        return KeySetting(single, "PINAIVU_API_KEY", note)
    if first_listed is not None:
        count = len(listed_keys)
        note = f"PINAIVU_API_KEYS holds {count} keys; the doctor checks the first"
        return KeySetting(first_listed, "PINAIVU_API_KEYS", note if count > 1 else "")
    source = "PINAIVU_API_KEY" if single is not None else ""
    return KeySetting(None, source)


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
