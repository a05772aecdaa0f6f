"""Checks 3 to 6: /v1/models, the model id, one small completion, and any 429/503 on the way.

Bounded on purpose: at most one GET /v1/models and two completions (the second only after a
short stated wait), so running the doctor never eats a meaningful share of anyone's quota.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from contract.events import key_fingerprint

from . import remedies
from .answers import (body_json, describe_retry_after, parse_retry_after, redact,
                      seconds_text, server_says, transport_problem)
from .result import FAIL, INFO, PASS, WARN, Result

MODELS, MODEL_ID, COMPLETION, BUSY = "models", "model id", "completion", "429/503"
# A stated wait up to this long is sat out once; beyond it the doctor reports instead.
LONGEST_WAIT_S = 15.0
# A 503 without Retry-After still deserves one retry, after the start of a backoff.
BACKOFF_503_S = 1.0
STATUS_TEXT = {429: "429 Too Many Requests", 503: "503 Service Unavailable"}


@dataclass
class Busy:
    """One 429 or 503 met on the way."""
    request: str
    status: int
    wait_s: float
    raw: str


@dataclass
class Session:
    client: httpx.Client
    base: str
    key: str | None
    model: str
    timeout: float
    emit: Callable[[Result], None]
    sleep: Callable[[float], None] = time.sleep
    busy: list[Busy] = field(default_factory=list)
    busy_unresolved: bool = False
    ids: list[str] | None = None

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def note_busy(self, request: str, response: httpx.Response) -> Busy:
        wait_s, raw = parse_retry_after(response.headers, time.time())
        self.busy.append(Busy(request, response.status_code, wait_s, raw))
        return self.busy[-1]


def model_ids(body) -> list[str] | None:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return None
    return [m["id"] for m in body["data"] if isinstance(m, dict) and isinstance(m.get("id"), str)]


def check_models(s: Session, key_missing_because: str = "") -> tuple[Result, str]:
    """The verdict and, when later checks cannot usefully run, why."""
    url = f"{s.base}/models"
    try:
        r = s.client.get(url, headers=s.auth())
    except httpx.TransportError as exc:
        return Result(FAIL, MODELS, transport_problem(exc, url, s.timeout), [
            "fix: is the gateway running, and is the base URL (PINAIVU_BASE_URL) right?"]), \
            "the gateway cannot be reached"
    if s.key is None:
        return Result(INFO, MODELS, f"the gateway answers GET {url} ({r.status_code} without a "
                      f"key); authorisation not checked because {key_missing_because}"), \
            key_missing_because
    says = server_says(r, s.key)
    if r.status_code == 200:
        s.ids = model_ids(body_json(r))
        if s.ids is None:
            return Result(FAIL, MODELS, f"GET {url} answered 200 but not a model list: is the "
                          "base URL the Pinaivu gateway?", [f"it said: {says}"]), \
                "the base URL does not look like the gateway"
        return Result(PASS, MODELS, f"GET {url}: 200 OK, key {key_fingerprint(s.key)} "
                      f"accepted as '{remedies.HEADER_FORMAT}'"), ""
    if r.status_code == 401:
        return Result(FAIL, MODELS, f"GET {url}: 401 Unauthorized ({says})",
                      list(remedies.UNAUTHORIZED)), "the key was refused (401)"
    if r.status_code == 403:
        return Result(FAIL, MODELS, f"GET {url}: 403 Forbidden ({says})", remedies.FORBIDDEN + [
            f"fix: check what this key may do in the dashboard at {remedies.DASHBOARD} "
            "(API Keys), or use a key allowed to list models"]), ""
    if r.status_code in STATUS_TEXT:
        s.note_busy("GET /v1/models", r)
        return Result(WARN, MODELS, f"GET {url}: {STATUS_TEXT[r.status_code]} (see {BUSY} "
                      "below); the key's authorisation is not confirmed"), ""
    if r.status_code == 404:
        return Result(FAIL, MODELS, f"GET {url}: 404 Not Found: no model list there", [
            "the base URL is probably not the Pinaivu gateway's",
            f"fix: set PINAIVU_BASE_URL to your gateway's /v1 URL, e.g. "
            f"{remedies.PINAIVU_BASE_URL}"]), "the base URL does not look like the gateway"
    location = f"; Location: {r.headers['location']}" if "location" in r.headers else ""
    return Result(FAIL, MODELS, f"GET {url}: unexpected {r.status_code} ({says}{location})"), \
        f"GET /v1/models answered {r.status_code}"


def _normalised(model: str) -> str:
    return re.sub(r"[^0-9a-z]", "", model.lower())


def nearest_model(model: str, ids: list[str]) -> str | None:
    """The active id the user most likely meant: equal once punctuation and case are dropped
    (llama-3.2-3b is llama3.2:3b), else the closest by difflib."""
    by_norm = {_normalised(i): i for i in ids}
    want = _normalised(model)
    if want in by_norm:
        return by_norm[want]
    close = difflib.get_close_matches(want, list(by_norm), n=1, cutoff=0.6)
    return by_norm[close[0]] if close else None


def check_model_id(model: str, ids: list[str]) -> Result:
    active = ", ".join(ids) if ids else "none"
    if model in ids:
        return Result(PASS, MODEL_ID, f"{model} is active (active ids: {active})")
    near = nearest_model(model, ids)
    hint = [f"did you mean {near}? (--model {near}, or PINAIVU_MODEL={near})"] if near else []
    return Result(FAIL, MODEL_ID, f"{model!r} is not an active model id (active ids: {active})",
                  hint + remedies.MODEL_NOT_FOUND)


def check_completion(s: Session) -> Result:
    url = f"{s.base}/chat/completions"
    body = {"model": s.model, "max_tokens": 4,
            "messages": [{"role": "user", "content": "Say hi."}]}
    for attempt in (1, 2):
        try:
            r = s.client.post(url, json=body, headers=s.auth())
        except httpx.TransportError as exc:
            return Result(FAIL, COMPLETION, transport_problem(exc, url, s.timeout), [
                "fix: is the gateway running, and is the base URL right? For a timeout, "
                "a larger --timeout"])
        if r.status_code not in STATUS_TEXT:
            return _judge_completion(s, r, retried=attempt == 2)
        busy = s.note_busy("POST /v1/chat/completions", r)
        wait = busy.wait_s if busy.wait_s == busy.wait_s else (
            BACKOFF_503_S if busy.status == 503 else None)
        stated = describe_retry_after(busy.wait_s, busy.raw)
        if attempt == 1 and wait is not None and wait <= LONGEST_WAIT_S:
            s.emit(Result(INFO, COMPLETION, f"{STATUS_TEXT[busy.status]}, {stated}; waiting "
                          f"{seconds_text(wait)} s, then retrying once"))
            s.sleep(wait)
            continue
        why = "again after one retry" if attempt == 2 else (
            "no Retry-After to wait for" if wait is None
            else f"longer than the {LONGEST_WAIT_S:g} s the doctor waits")
        s.busy_unresolved = True
        return Result(FAIL, COMPLETION, f"no completion: {STATUS_TEXT[busy.status]}, {stated}; "
                      f"{why}; see {BUSY} below")
    raise AssertionError("unreachable: the second attempt always returns")


def _judge_completion(s: Session, r: httpx.Response, retried: bool) -> Result:
    says = server_says(r, s.key)
    after = " after one retry" if retried else ""
    if r.status_code == 200:
        body = body_json(r)
        request_id = body.get("request_id") if isinstance(body, dict) else None
        if isinstance(request_id, str) and request_id:
            return Result(PASS, COMPLETION, f"200 OK{after} from {s.model}, request_id "
                          f"{redact(request_id, s.key)}")
        shape = "a JSON body" if body is not None else "a body that is not JSON"
        header = " (an X-Request-ID header came back, but not in the body)" \
            if "x-request-id" in r.headers else ""
        return Result(FAIL, COMPLETION, f"200 OK{after} with {shape} but no top-level "
                      f"request_id{header}", list(remedies.MISSING_REQUEST_ID))
    if r.status_code == 401:
        return Result(FAIL, COMPLETION, f"401 Unauthorized ({says})", list(remedies.UNAUTHORIZED))
    if r.status_code == 403:
        others = [i for i in s.ids or [] if i != s.model]
        return Result(FAIL, COMPLETION, f"403 Forbidden: key {key_fingerprint(s.key)} may not "
                      f"use model {s.model} ({says})", remedies.FORBIDDEN + [
                          "fix: use a model this key is allowed to use (--model or "
                          "PINAIVU_MODEL" + (f"; other active ids: {', '.join(others)}" if others
                                             else "") + "), or give the key access to "
                          f"{s.model} in the dashboard at {remedies.DASHBOARD} (API Keys)"])
    if r.status_code == 404:
        return Result(FAIL, COMPLETION, f"404 Not Found for model {s.model} ({says})",
                      list(remedies.MODEL_NOT_FOUND))
    if r.status_code == 422:
        body = body_json(r)
        detail = body.get("detail") if isinstance(body, dict) else None
        shown = redact(json.dumps(detail, separators=(",", ":")), s.key) if detail is not None \
            else f"none in the body ({says})"
        return Result(FAIL, COMPLETION, "422 Unprocessable Entity",
                      remedies.VALIDATION + [f"detail: {shown}"])
    return Result(FAIL, COMPLETION, f"unexpected {r.status_code}{after} ({says})")


def check_busy(s: Session) -> Result:
    if not s.busy:
        return Result(PASS, BUSY, "no 429 or 503 on the way")
    details = [f"{b.request}: {STATUS_TEXT[b.status]}, {describe_retry_after(b.wait_s, b.raw)}"
               for b in s.busy]
    for status in sorted({b.status for b in s.busy}):
        details += remedies.RATE_LIMITED if status == 429 else remedies.UNAVAILABLE
    statuses = " and ".join(str(st) for st in sorted({b.status for b in s.busy}))
    if s.busy_unresolved:
        return Result(FAIL, BUSY, f"{statuses} stopped the completion", details)
    # Waited out and gone: the configuration is fine, but the user will meet these under load.
    return Result(WARN, BUSY, f"{statuses} seen on the way, not a configuration problem",
                  details)
