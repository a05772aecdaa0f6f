"""Checks 1 and 2: the base URL and the key, as configured, before any request carries the key."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from contract.events import key_fingerprint

from . import remedies
from .answers import transport_problem
from .config import BaseUrl, KeySetting, key_whitespace
from .result import FAIL, PASS, Result

BASE_URL, API_KEY = "base URL", "API key"


@dataclass
class Target:
    """Where the network checks go, or why they do not run at all."""
    base: str | None
    skip_because: str = ""


def check_base_url(url: BaseUrl, from_default: bool, client: httpx.Client,
                   timeout: float) -> tuple[Result, Target]:
    if url.problem == "invalid":
        return (Result(FAIL, BASE_URL, f"{url.url!r} is not an http(s) URL", [
            f"fix: set PINAIVU_BASE_URL to your gateway's URL ending in /v1, e.g. "
            f"{remedies.PINAIVU_BASE_URL}"]),
            Target(None, "the base URL is not an http(s) URL"))
    if url.problem == "openai":
        # The user's Pinaivu key must never reach OpenAI: no request at all, not even a probe.
        return (Result(FAIL, BASE_URL, f"{url.url} is OpenAI's API, not Pinaivu",
                       remedies.WRONG_BASE_URL + [
                           "the doctor sends nothing there: your key is never sent to OpenAI"]),
                Target(None, "the base URL points at api.openai.com (no request sent there)"))
    if url.problem == "no_v1":
        return _missing_v1(url, client, timeout)
    where = " (PINAIVU_BASE_URL unset: the reference gateway's default)" if from_default else ""
    return Result(PASS, BASE_URL, f"{url.url} is an http(s) URL ending in /v1{where}"), \
        Target(url.url)


def _missing_v1(url: BaseUrl, client: httpx.Client, timeout: float) -> tuple[Result, Target]:
    details = [f"fix: set PINAIVU_BASE_URL to {url.suggested} (OpenAI-compatible clients add "
               "/chat/completions and /models to a base URL that ends in /v1)"]
    probe = f"{url.suggested}/models"
    try:
        # Without the key: this only asks whether the gateway lives there.
        status = client.get(probe).status_code
    except httpx.TransportError as exc:
        status, problem = None, transport_problem(exc, probe, timeout)
    if status is not None and status != 404:
        details.append(f"the same host answers GET {probe} ({status} without a key): the "
                       f"gateway is there; the checks below use {url.suggested}")
        target = Target(url.suggested)
    else:
        answer = f"{status} Not Found" if status else problem
        details.append(f"the same host does not answer at {probe} either ({answer})")
        target = Target(None, "the base URL does not end in /v1 and the host does not "
                              "answer with /v1 appended")
    return Result(FAIL, BASE_URL, f"{url.url} does not end in /v1", details), target


def check_key(setting: KeySetting) -> tuple[Result, str | None]:
    """The verdict and the key to send, or None when sending it could only fail."""
    key = setting.key
    if key is None:
        what = f"{setting.source} is set but blank" if setting.source else \
            "no API key: PINAIVU_API_KEY is not set (nor PINAIVU_API_KEYS)"
        return Result(FAIL, API_KEY, what, list(remedies.NO_KEY)), None
    name = f"{setting.source} (fingerprint {key_fingerprint(key)})"
    notes = [setting.note] if setting.note else []
    where = key_whitespace(key)
    if where:
        return Result(FAIL, API_KEY, f"{name} has {where}: copied with extra whitespace",
                      remedies.WHITESPACE + notes), None
    if not (key.isascii() and key.isprintable()):
        return Result(FAIL, API_KEY, f"{name} holds characters that cannot travel in an "
                      "HTTP header (non-ASCII or control characters, e.g. typographic quotes "
                      "or dashes from a document)", [
                          "the key is malformed: the gateway would answer 401",
                          "fix: copy the key again from the dashboard as plain text"] + notes
                      ), None
    if len(key) > 1 and key[0] == key[-1] and key[0] in "'\"":
        return Result(FAIL, API_KEY, f"{name} is wrapped in quotes, which became part of "
                      "the key", ["the key is malformed: the gateway would answer 401",
                                  "fix: export PINAIVU_API_KEY=pk-... without the quotes "
                                  "inside the value"] + notes), None
    return Result(PASS, API_KEY, f"{name} is set, without whitespace", notes), key
