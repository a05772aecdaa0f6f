"""The rate-limit header families the gateway sends (gateway/ratelimit_headers.py): each one's
exact shape, what a token bucket and `declares` declare, the profile errors, and the shipped
profiles over real HTTP."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from gateway.profile import ProfileError, QuotaConfig, load_profile
from gateway.quota import Decision
from gateway.ratelimit_headers import go_duration, quota_headers

from .helpers import ALICE, BODY, auth

NOW = 1_800_000_000.25  # 2027-01-15T08:00:00.25Z
WINDOW = dict(algorithm="fixed_window", limit=10, window_s=5, retry_after="absent")
REFUSED = Decision(False, 10, 3, 3.2, 3.2)  # 3 left, reset in 3.2 s


def sent(families, decision=REFUSED, **quota):
    return quota_headers(QuotaConfig(**(WINDOW | quota), headers=families), decision, NOW)


@pytest.mark.parametrize("family, expected", [
    ("ietf-06", {"ratelimit-limit": "10", "ratelimit-remaining": "3", "ratelimit-reset": "4",
                 "ratelimit-policy": "10;w=5"}),
    ("ietf-07", {"ratelimit": "limit=10, remaining=3, reset=4", "ratelimit-policy": "10;w=5"}),
    ("ietf-08", {"ratelimit-policy": '"default";q=10;w=5', "ratelimit": '"default";r=3;t=4'}),
    ("github", {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "3",
                "x-ratelimit-reset": "1800000004"}),
    ("openai", {"x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "3",
                "x-ratelimit-reset-requests": "3.2s"}),
    ("anthropic", {"anthropic-ratelimit-requests-limit": "10",
                   "anthropic-ratelimit-requests-remaining": "3",
                   "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:04Z"}),
])
def test_each_family_writes_its_own_shape(family, expected):
    assert sent([family]) == expected


def test_the_anthropic_reset_is_rfc3339_and_never_early():
    reset = sent(["anthropic"])["anthropic-ratelimit-requests-reset"]
    when = dt.datetime.fromisoformat(reset)
    assert when.tzinfo is not None and 0 <= when.timestamp() - (NOW + 3.2) < 1


def test_several_families_at_once_and_06_with_07_share_one_policy():
    h = sent(["ietf-06", "ietf-07", "github", "openai", "anthropic"])
    assert h["ratelimit-policy"] == "10;w=5" and h["ratelimit"].startswith("limit=10, ")
    assert {"ratelimit-limit", "x-ratelimit-limit", "x-ratelimit-limit-requests",
            "anthropic-ratelimit-requests-limit"} <= set(h)


@pytest.mark.parametrize("seconds, text", [
    (360, "6m0s"), (1, "1s"), (0.012, "12ms"), (0.0121, "13ms"), (75.25, "1m15.25s"),
    (4.2, "4.2s"), (0, "0ms"), (-1, "0ms"),
    # rounded up, never to the nearest: a reset is never stated earlier than it is
    (1.0004, "1.001s"), (119.9996, "2m0s"), (0.9995, "1s")])
def test_go_durations(seconds, text):
    assert go_duration(seconds) == text


def test_the_old_families_write_what_they_wrote():
    """Before issue 12: openai, ietf (now ietf-06, which adds its policy) and x (now github)."""
    q = QuotaConfig(algorithm="fixed_window", limit=5, window_s=10, retry_after_ms=True,
                    headers=["openai"])
    assert quota_headers(q, Decision(False, 5, 0, 75.25, 2.001), now=0) == {
        "retry-after": "3", "retry-after-ms": "2001", "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m15.25s"}
    gh = sent(["github"], Decision(True, 10, 4, 4.2, 0.0))
    assert gh == {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "4",
                  "x-ratelimit-reset": str(1_800_000_005)}
    ietf = sent(["ietf-06"], Decision(True, 10, 4, 4.2, 0.0))
    assert {k: ietf[k] for k in ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")} \
        == {"ratelimit-limit": "10", "ratelimit-remaining": "4", "ratelimit-reset": "5"}


def test_a_token_bucket_declares_its_burst_per_the_time_to_refill_it():
    bucket = dict(algorithm="token_bucket", rate_per_s=3.0, burst=10, retry_after="absent")
    h = quota_headers(QuotaConfig(**bucket, headers=["ietf-08"]),
                      Decision(True, 10, 9, 0.34, 0.0), NOW)
    assert h["ratelimit-policy"] == '"default";q=10;w=4'  # 10 / 3 = 3.33 s, rounded up
    h = quota_headers(QuotaConfig(**bucket, headers=["ietf-07"]),
                      Decision(True, 10, 9, 0.34, 0.0), NOW)
    assert h == {"ratelimit": "limit=10, remaining=9, reset=1", "ratelimit-policy": "10;w=4"}


def test_declares_lies_about_the_policy_only():
    h = sent(["ietf-08", "openai"], declares={"limit": 20, "window_s": 10})
    assert h["ratelimit-policy"] == '"default";q=20;w=10'
    assert h["ratelimit"] == '"default";r=3;t=4'  # the real remaining and reset
    assert h["x-ratelimit-limit-requests"] == "20"
    assert h["x-ratelimit-remaining-requests"] == "3"


def test_no_families_no_rate_limit_headers():
    assert sent([]) == {}


@pytest.mark.parametrize("override, field, words", [
    ("quota.headers=['ietf']", "quota.headers.0", "ietf-06"),
    ("quota.headers=['openai', 'openai']", "quota.headers", "listed twice"),
    ("quota.headers=['ietf-07', 'ietf-08']", "quota.headers", "two different shapes"),
    ("quota.headers='openai'", "quota.headers", "list"),
    ("quota.declares={limit=0, window_s=10}", "quota.declares.limit", "greater than 0"),
    ("quota.declares={limit=5, window_s=-1}", "quota.declares.window_s", "greater than 0"),
    ("quota.declares={limit=5}", "quota.declares.window_s", "required"),
    ("quota.ratelimit_headers='openai'", "quota", "replaced by quota.headers"),
])
def test_bad_header_settings_name_their_field(override, field, words):
    with pytest.raises(ProfileError) as err:
        load_profile("default", [override])
    line = next(ln for ln in str(err.value).splitlines() if ln.strip().startswith(field + ":"))
    assert words in line, str(err.value)


def test_declares_without_headers_is_refused():
    with pytest.raises(ProfileError, match="quota.declares needs quota.headers"):
        load_profile("default", ["quota.headers=[]", "quota.declares={limit=5, window_s=1}"])


FAST = ["latency.ttft_ms=0", "latency.per_token_ms=0"]


def test_the_header_profiles_over_http(gateway_factory):
    many = gateway_factory("many-headers", FAST)
    liar = gateway_factory("header-liar", FAST)
    with httpx.Client(base_url=many.base_url) as c:
        r = c.post("/chat/completions", json=BODY, headers=auth(ALICE))
    assert r.status_code == 200
    assert r.headers["ratelimit-policy"] == "10;w=5"
    assert r.headers["ratelimit"] == "limit=10, remaining=9, reset=1"
    assert r.headers["ratelimit-limit"] == "10" and r.headers["x-ratelimit-limit"] == "10"
    reset = dt.datetime.fromisoformat(r.headers["anthropic-ratelimit-requests-reset"])
    assert reset.tzinfo is not None
    with httpx.Client(base_url=liar.base_url) as c:
        rs = [c.post("/chat/completions", json=BODY, headers=auth(ALICE)) for _ in range(11)]
    assert [r.status_code for r in rs] == [200] * 10 + [429]  # the real 10 per 10 s
    assert all(r.headers["ratelimit-policy"] == '"default";q=20;w=10' for r in rs)
    assert [r.headers["ratelimit"].split(";")[1] for r in rs[8:]] == ["r=1", "r=0", "r=0"]
    assert rs[0].headers["x-ratelimit-limit-requests"] == "20"


def test_no_quota_declares_nothing():
    # `--set quota.algorithm='none'` on a profile that lists families: with no quota there is no
    # policy, and a declared limit of 0 would say every request is refused.
    cfg = load_profile("default", ["quota.algorithm='none'"]).quota
    assert cfg.headers == ["openai"]
    assert quota_headers(cfg, Decision(True, 0, 0, 0.0, 0.0), 1e9) == {}
