"""Reading the gateway's answers: Retry-After, error messages, transport failures.

parse_retry_after follows locustfiles.common.headers.parse_retry_after (retry-after-ms wins,
then delta-seconds, then an HTTP-date); it is repeated here because importing that module
pulls in gevent through geventhttpclient, and the doctor stays free of the load tool.
tests/doctor/test_answers.py checks the two agree.
"""

from __future__ import annotations

import email.utils
import json
import math

import httpx

MAX_WAIT_S = 365 * 86400.0
MAX_SHOWN = 300


def _seconds(text: str) -> float:
    t = text.strip()
    return float(t) if t and t.isascii() and t.replace(".", "", 1).isdigit() else math.nan


def parse_retry_after(headers: httpx.Headers, now: float) -> tuple[float, str]:
    """(seconds to wait or NaN, the raw header text for display; "" when absent)."""
    ms, ra = headers.get("retry-after-ms"), headers.get("retry-after")
    raw = "; ".join(f"{name}: {value}" for name, value in
                    (("retry-after-ms", ms), ("Retry-After", ra)) if value is not None)
    if ms is not None:
        value = _seconds(ms) / 1000
        if value <= MAX_WAIT_S:
            return value, raw
    if ra is None:
        return math.nan, raw
    value = _seconds(ra)
    if value == value:
        return (value if value <= MAX_WAIT_S else math.nan), raw
    try:
        when = email.utils.parsedate_to_datetime(ra.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        when = None
    if when is not None and when.tzinfo is not None:
        return min(MAX_WAIT_S, max(0.0, when.timestamp() - now)), raw
    # Repeated lines (joined with commas): one value when they agree, none when they differ.
    values = {_seconds(part) for part in ra.split(",")} if "," in ra else set()
    value = values.pop() if len(values) == 1 else math.nan
    return (value if value <= MAX_WAIT_S else math.nan), raw


def describe_retry_after(seconds: float, raw: str) -> str:
    if not raw:
        return "no Retry-After header"
    if seconds != seconds:
        return f"Retry-After unreadable [{raw}]"
    return f"Retry-After {seconds_text(seconds)} s [{raw}]"


def seconds_text(seconds: float) -> str:
    return f"{seconds:.1f}".removesuffix(".0")


def redact(text: str, key: str | None) -> str:
    """Some gateways echo the key they refused; never let it reach the terminal."""
    if key:
        for form in {key, key.strip()} - {""}:
            text = text.replace(form, "<key>")
    return text


def body_json(response: httpx.Response):
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def server_says(response: httpx.Response, key: str | None) -> str:
    """The gateway's own explanation (OpenAI's error.message, or FastAPI's detail), short."""
    body = body_json(response)
    text = ""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            text = err["message"]
        elif isinstance(err, str):
            text = err
        elif "detail" in body:
            text = json.dumps(body["detail"], separators=(",", ":"))
    if not text:
        text = response.text.strip().replace("\n", " ")
    text = redact(text, key)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def transport_problem(exc: httpx.TransportError, url: str, timeout: float) -> str:
    """What a failed connection most likely means, in the user's terms."""
    text = str(exc)
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {url} within {timeout:g} s ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        low = text.lower()
        if "name or service not known" in low or "nodename nor servname" in low \
                or "name resolution" in low or "getaddrinfo" in low:
            return f"the host name of {url} does not resolve (DNS): {text}"
        if "refused" in low:
            return f"connection refused by {url}: nothing is listening there"
        return f"cannot connect to {url}: {text}"
    return f"{type(exc).__name__} talking to {url}: {text}"
