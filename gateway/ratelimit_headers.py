"""The response headers that speak about the quota: Retry-After and the rate-limit families.

A profile lists the families it sends (`quota.headers`, any number of them). Each writes the
limiter's decision in the shape its specification or vendor writes it. With L the declared
limit, W the declared window in seconds, R the remaining count and T the seconds until the
reset (the window restarts, or the bucket is full again):

  ietf-06    draft-ietf-httpapi-ratelimit-headers-06: three Integer Items and a List
               RateLimit-Limit: L
               RateLimit-Remaining: R
               RateLimit-Reset: ceil(T)
               RateLimit-Policy: L;w=ceil(W)
  ietf-07    draft-07: one Dictionary, and the policy as -06 writes it
               RateLimit: limit=L, remaining=R, reset=ceil(T)
               RateLimit-Policy: L;w=ceil(W)
  ietf-08    draft-08, unchanged in -09 and -10: Lists of Strings with Parameters
               RateLimit-Policy: "default";q=L;w=ceil(W)
               RateLimit: "default";r=R;t=ceil(T)
  github     X-RateLimit-*, the reset as Unix epoch seconds (GitHub's convention)
               X-RateLimit-Limit: L
               X-RateLimit-Remaining: R
               X-RateLimit-Reset: ceil(now + T)
  openai     OpenAI's request headers, the reset as a Go duration ("6m0s", "1s", "12ms")
               x-ratelimit-limit-requests: L
               x-ratelimit-remaining-requests: R
               x-ratelimit-reset-requests: T as 1m15.25s / 4.2s / 12ms
  anthropic  Anthropic's request headers, the reset as an RFC 3339 time in UTC
               anthropic-ratelimit-requests-limit: L
               anthropic-ratelimit-requests-remaining: R
               anthropic-ratelimit-requests-reset: now + T, rounded up to the second,
                 as 2026-01-02T03:04:05Z

The drafts' windows and resets are whole seconds, so they are rounded up: a client that keeps
to them never asks earlier than the truth allows. ietf-06 and ietf-07 write the same
RateLimit-Policy and may go together; ietf-08 writes RateLimit and RateLimit-Policy in
another shape, so it goes with neither (profile.py refuses the pair).

What is declared: a window family declares L = limit, W = window_s; a token bucket declares
L = burst, W = burst / rate_per_s (a full bucket's worth per the time it takes to refill one:
the same sustained rate, and the burst a client can spend at once); a limiter without a window
omits `w` (ietf-08) or the policy header (ietf-06/07). `quota.declares` replaces L and W with
other figures (a lying header, as the `liar` profile lies in Retry-After); R and T stay the
limiter's own.
"""

from __future__ import annotations

import datetime as dt
import math

FAMILIES = ("ietf-06", "ietf-07", "ietf-08", "github", "openai", "anthropic")
# Pairs that would write one header name in two shapes.
CLASHES = ({"ietf-06", "ietf-08"}, {"ietf-07", "ietf-08"})


def declared_policy(cfg, decision) -> tuple[int, float | None]:
    """(limit, window in seconds or None) that the headers declare: the limiter's own limit
    (a window's limit, a bucket's burst) unless `declares` says otherwise."""
    if cfg.declares is not None:
        return cfg.declares.limit, float(cfg.declares.window_s)
    if cfg.algorithm == "token_bucket":
        return decision.limit, cfg.burst / cfg.rate_per_s
    if cfg.algorithm in ("fixed_window", "sliding_log", "sliding_counter"):
        return decision.limit, float(cfg.window_s)
    return decision.limit, None


def go_duration(seconds: float) -> str:
    """OpenAI's reset values: '1s', '6m0s', '1.5s', and under a second '12ms'; rounded up to
    the millisecond, as every reset the gateway states is (never earlier than the truth)."""
    seconds = math.ceil(max(0.0, seconds) * 1000) / 1000
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, secs = divmod(seconds, 60)
    secs_text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{secs_text}" if minutes >= 1 else secs_text


def rfc3339(epoch: float) -> str:
    return dt.datetime.fromtimestamp(math.ceil(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _retry_after(cfg, decision, headers: dict[str, str]) -> None:
    if cfg.retry_after == "honest":
        headers["retry-after"] = str(max(1, math.ceil(decision.retry_after_s)))
        if cfg.retry_after_ms:
            headers["retry-after-ms"] = str(max(1, math.ceil(decision.retry_after_s * 1000)))
    elif cfg.retry_after == "constant":
        headers["retry-after"] = f"{cfg.retry_after_constant_s:g}"


def quota_headers(cfg, decision, now: float) -> dict[str, str]:
    """Retry-After (on a rejection) and every rate-limit family the profile lists."""
    headers: dict[str, str] = {}
    if not decision.allowed:
        _retry_after(cfg, decision, headers)
    if not cfg.headers or cfg.algorithm == "none":
        # No quota, no policy to declare: `--set quota.algorithm='none'` on a profile that
        # lists families sends none of them (a limit of 0 would say every request is refused).
        return headers
    limit, window = declared_policy(cfg, decision)
    remaining, reset = decision.remaining, decision.reset_s
    reset_s = math.ceil(reset)
    w = None if window is None else math.ceil(window)
    for family in cfg.headers:
        if family == "openai":
            headers["x-ratelimit-limit-requests"] = str(limit)
            headers["x-ratelimit-remaining-requests"] = str(remaining)
            headers["x-ratelimit-reset-requests"] = go_duration(reset)
        elif family == "ietf-06":
            headers["ratelimit-limit"] = str(limit)
            headers["ratelimit-remaining"] = str(remaining)
            headers["ratelimit-reset"] = str(reset_s)
            if w is not None:
                headers["ratelimit-policy"] = f"{limit};w={w}"
        elif family == "ietf-07":
            headers["ratelimit"] = f"limit={limit}, remaining={remaining}, reset={reset_s}"
            if w is not None:
                headers["ratelimit-policy"] = f"{limit};w={w}"
        elif family == "ietf-08":
            headers["ratelimit-policy"] = f'"default";q={limit}' + (
                f";w={w}" if w is not None else "")
            headers["ratelimit"] = f'"default";r={remaining};t={reset_s}'
        elif family == "github":
            headers["x-ratelimit-limit"] = str(limit)
            headers["x-ratelimit-remaining"] = str(remaining)
            headers["x-ratelimit-reset"] = str(math.ceil(now + reset))
        elif family == "anthropic":
            headers["anthropic-ratelimit-requests-limit"] = str(limit)
            headers["anthropic-ratelimit-requests-remaining"] = str(remaining)
            headers["anthropic-ratelimit-requests-reset"] = rfc3339(now + reset)
    return headers
