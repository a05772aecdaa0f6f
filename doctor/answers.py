"""Reading the gateway's answers: Retry-After, error messages, transport failures.

Retry-After is read by contract.headers, the parser the recorder uses, so the doctor and a
run's events never disagree on a wait; only the display of the raw header is the doctor's.
"""

from __future__ import annotations

import json

import httpx

from contract.headers import parse_retry_after as _parse_picked, pick

MAX_SHOWN = 300


def parse_retry_after(headers: httpx.Headers, now: float) -> tuple[float, str]:
    """(seconds to wait or NaN, the raw header text for display; "" when absent)."""
    raw = "; ".join(f"{name}: {value}" for name, value in
                    (("retry-after-ms", headers.get("retry-after-ms")),
                     ("Retry-After", headers.get("retry-after"))) if value is not None)
    return _parse_picked(pick(headers), now)[0], raw


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
