"""The reference Pinaivu gateway: an OpenAI-compatible chat completion API with Pinaivu's walls.

A chat completion is checked in this order, and the first wall hit answers:
  401 key missing, malformed, unknown, revoked or expired
  429 quota (every authenticated request counts, whatever happens to it next); a shaping
      profile holds an excess request here instead, and a concurrency cap may answer 503
  422 body fails validation
  404 model not active
  403 key not allowed to use that model
  503 no free slot on an online node (after the routing delay)
  200 with a top-level request_id (and X-Request-ID), after time to first token + tokens.
Quota comes before the body is read, as at most gateways, which also keeps the 429 path cheap.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import random
import time
import uuid
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from .admission import Admission
from .concurrency import ReleaseAtEnd, refusal
from .nodes import NodePool, Slot
from .profile import KeyConfig, Profile
from .ratelimit_headers import quota_headers

MAX_TOKENS_LIMIT = 4096
WORDS = ("The", "quick", "model", "answers", "from", "a", "GPU", "node", "on", "Pinaivu.")


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: StrictStr


class Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: StrictStr | list[ContentPart]


class ChatRequest(BaseModel):
    # strict: "0.5" is not a temperature and 3.0 is not a max_tokens. (In JSON, strict still
    # takes an integer for a float field, as OpenAI does.)
    model_config = ConfigDict(extra="allow", strict=True)
    model: StrictStr = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0, le=2)
    top_p: float = Field(1.0, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS_LIMIT)
    n: int = Field(1, ge=1, le=1)
    stream: bool = False


def key_fingerprint(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:8]


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")).encode(), status_code=status,
                    headers=headers, media_type="application/json")


def _error(status: int, message: str, type_: str, code: str,
           headers: dict[str, str] | None = None, param: str | None = None) -> Response:
    return _json(status, {"error": {"message": message, "type": type_, "param": param,
                                    "code": code}}, headers)


class Gateway:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.keys = {k.key: k for k in profile.keys}
        self.models = set(profile.models)
        self.admission = Admission(profile.quota)
        self.pool = NodePool(profile.nodes)
        self.rng = random.Random(profile.latency.seed)
        self.started = time.monotonic()
        # Ground truth for tests: what the server received and what its quota admitted.
        self.chat_requests = 0
        self.admitted = 0

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def authenticate(self, request: Request) -> KeyConfig | Response:
        header = request.headers.get("authorization")
        if header is None:
            return _error(401, "Missing Authorization header. Send 'Authorization: Bearer "
                          "<your API key>'.", "authentication_error", "missing_authorization")
        scheme, _, key = header.partition(" ")
        if scheme != "Bearer" or not key or any(c.isspace() for c in key):
            return _error(401, "Malformed Authorization header: expected exactly 'Bearer "
                          "<key>', with one space and no other whitespace.",
                          "authentication_error", "malformed_authorization")
        found = self.keys.get(key)
        fp = key_fingerprint(key)
        if found is None:
            return _error(401, f"Invalid API key (fingerprint {fp}). Check it was copied "
                          "whole, or generate a new one.", "authentication_error",
                          "invalid_api_key")
        if found.revoked:
            return _error(401, f"API key {fp} has been revoked. Generate a new key.",
                          "authentication_error", "revoked_api_key")
        if found.expires_at is not None and found.expires_at <= dt.datetime.now(dt.UTC):
            return _error(401, f"API key {fp} expired at {found.expires_at.isoformat()}. "
                          "Generate a new key.", "authentication_error", "expired_api_key")
        return found

    def completion_latency_s(self, tokens: int) -> tuple[float, float]:
        lat = self.profile.latency
        scale = 1.0 + self.rng.uniform(-lat.jitter, lat.jitter) if lat.jitter else 1.0
        return lat.ttft_ms / 1000 * scale, lat.per_token_ms / 1000 * scale


def _completion_body(req: ChatRequest, request_id: str, tokens: int, finish: str) -> dict:
    prompt_tokens = sum(len(m.content.split()) if isinstance(m.content, str) else 1
                        for m in req.messages)
    return {
        "id": f"chatcmpl-{request_id[4:]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": req.model,
        "choices": [{"index": 0, "finish_reason": finish,
                     "message": {"role": "assistant",
                                 "content": " ".join(WORDS[i % len(WORDS)]
                                                     for i in range(tokens))}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": tokens,
                  "total_tokens": prompt_tokens + tokens},
        "request_id": request_id,
    }


async def _stream(gw: Gateway, req: ChatRequest, request_id: str, tokens: int, finish: str,
                  slot: Slot):
    ttft, per_token = gw.completion_latency_s(tokens)
    base = {"id": f"chatcmpl-{request_id[4:]}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": req.model, "request_id": request_id}

    def chunk(delta: dict, finish_reason: str | None = None) -> bytes:
        body = dict(base, choices=[{"index": 0, "delta": delta,
                                    "finish_reason": finish_reason}])
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"

    try:
        await asyncio.sleep(ttft)
        yield chunk({"role": "assistant", "content": ""})
        for i in range(tokens):
            if per_token:
                await asyncio.sleep(per_token)
            yield chunk({"content": ("" if i == 0 else " ") + WORDS[i % len(WORDS)]})
        yield chunk({}, finish)
        yield b"data: [DONE]\n\n"
    finally:
        slot.release()


def create_app(profile: Profile) -> FastAPI:
    gw = Gateway(profile)
    quota_cfg = profile.quota
    app = FastAPI(title=f"Pinaivu reference gateway ({profile.name})", docs_url=None,
                  redoc_url=None)
    app.state.gateway = gw
    if quota_cfg.algorithm == "concurrency":
        app.add_middleware(ReleaseAtEnd)  # frees a place in flight once a response is done

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "profile": profile.name,
                "nodes_online": gw.pool.online_count(gw.uptime()),
                "chat_requests": gw.chat_requests, "admitted": gw.admitted,
                **gw.admission.counters()}

    @app.get("/v1/models")
    async def models(request: Request) -> Response:
        key = gw.authenticate(request)
        if isinstance(key, Response):
            return key
        created = 1_700_000_000
        return _json(200, {"object": "list", "data": [
            {"id": m, "object": "model", "created": created, "owned_by": "pinaivu"}
            for m in profile.models]})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        gw.chat_requests += 1
        key = gw.authenticate(request)
        if isinstance(key, Response):
            return key
        now = time.time()
        ident = key.key if quota_cfg.scope == "per_key" else "*"
        decision, now = await gw.admission.admit(ident, now, request.scope)
        gw.admitted += decision.allowed
        headers = quota_headers(quota_cfg, decision, now)
        if not decision.allowed:
            scope = "this key" if quota_cfg.scope == "per_key" else "the gateway"
            if quota_cfg.algorithm == "concurrency":
                return _error(*refusal(quota_cfg, scope, key_fingerprint(key.key)), headers)
            return _error(429, f"Rate limit reached for {scope} (key {key_fingerprint(key.key)})."
                          " Wait for the time in Retry-After before retrying.",
                          "rate_limit_error", "rate_limit_exceeded", headers)

        try:
            req = ChatRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            detail = [{"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
                      for err in exc.errors(include_url=False)]
            return _json(422, {"detail": detail}, headers)
        if req.model not in gw.models:
            return _error(404, f"The model '{req.model}' does not exist or is not active. "
                          "GET /v1/models lists the ids of the active models; use one "
                          "verbatim.", "invalid_request_error", "model_not_found", headers,
                          param="model")
        if not key.allows(req.model):
            return _error(403, f"API key {key_fingerprint(key.key)} is not permitted to use "
                          f"model '{req.model}'.", "permission_error", "model_not_permitted",
                          headers, param="model")

        slot = gw.pool.acquire(gw.uptime())
        if slot is None:
            await asyncio.sleep(profile.nodes.routing_delay_ms / 1000)
            extra = dict(headers)
            if profile.nodes.retry_after_s is not None:
                extra["retry-after"] = str(profile.nodes.retry_after_s)
            return _error(503, "No nodes available: every GPU node is at capacity or "
                          "offline. Retry shortly.", "service_unavailable",
                          "no_nodes_available", extra)

        tokens = profile.latency.output_tokens
        finish = "stop"
        if req.max_tokens is not None and req.max_tokens < tokens:
            tokens, finish = req.max_tokens, "length"
        request_id = f"req_{uuid.uuid4().hex}"
        headers["x-request-id"] = request_id
        if req.stream:
            # The generator frees the slot when it ends; the background task frees it too in
            # case the client leaves before the generator ever starts.
            return StreamingResponse(_stream(gw, req, request_id, tokens, finish, slot),
                                     media_type="text/event-stream",
                                     headers=headers | {"cache-control": "no-cache"},
                                     background=BackgroundTask(slot.release))
        try:
            ttft, per_token = gw.completion_latency_s(tokens)
            await asyncio.sleep(ttft + per_token * tokens)
        finally:
            slot.release()
        return _json(200, _completion_body(req, request_id, tokens, finish), headers)

    return app
