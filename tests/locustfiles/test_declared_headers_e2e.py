"""A real Locust run against the profiles that send the new header families: the events file
holds the policy their headers declare (issue 12, item 2)."""

import math
import os
import subprocess

import pytest

from ..runs import rows
from .test_tight_loop_e2e import ROOT, locust_cmd

CHAT = "/v1/chat/completions"


def _only(family: str) -> list[str]:
    return [f"quota.headers=['{family}']"]


@pytest.mark.parametrize("profile, overrides, family, limit, window", [
    # declares 20 per 10 s; the window admits 10 per 10 s
    ("header-liar", [], "ietf-08", 20, 10),
    # a bucket of 10 at 2/s: 10 per 5 s; draft-07 is read before the -06, GitHub and
    # Anthropic headers the profile sends beside it
    ("many-headers", [], "ietf-07", 10, 5),
    # Each of the other families alone, on default's 20 per 10 s: only the IETF drafts say a
    # window, so the others give NaN for it.
    ("default", _only("ietf-06"), "ietf-06", 20, 10),
    ("default", _only("ietf-08"), "ietf-08", 20, 10),  # the truth, where header-liar lies
    ("default", _only("github"), "github", 20, None),
    ("default", _only("openai"), "openai", 20, None),
    ("default", _only("anthropic"), "anthropic", 20, None),
])
def test_a_run_records_the_declared_policy(gateway_factory, tmp_path, profile, overrides,
                                           family, limit, window):
    gw = gateway_factory(profile, ["latency.ttft_ms=0", "latency.per_token_ms=0", *overrides])
    run_dir = tmp_path / "run"
    env = dict(os.environ, PINAIVU_BASE_URL=gw.base_url, PINAIVU_API_KEY="pk-demo-alice-0001")
    proc = subprocess.run(locust_cmd(run_dir, seconds="2s", users=2), env=env,
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    chat = [r for r in rows(run_dir) if r["endpoint"] == CHAT and r["status"] in (200, 429)]
    assert sum(r["status"] == 200 for r in chat) >= 1 and sum(r["status"] == 429 for r in chat)
    assert all(r["ratelimit_family"] == family and r["ratelimit_limit"] == limit
               and r["ratelimit_raw"] == "" for r in chat)
    if window is None:
        assert all(math.isnan(r["ratelimit_window_s"]) for r in chat)
    else:
        assert all(r["ratelimit_window_s"] == window for r in chat)
    assert all(0 <= r["ratelimit_remaining"] < limit and r["ratelimit_reset_s"] >= 0
               for r in chat)
    refused = [r for r in chat if r["status"] == 429]
    assert all(r["ratelimit_remaining"] == 0 for r in refused)
    if profile == "header-liar":  # the lie shows: 10 admitted in the first window, not 20
        assert sum(r["status"] == 200 for r in chat) == 10
    if profile == "default":  # one key, one window in the 2 s run: the declared 20 are real
        assert sum(r["status"] == 200 for r in chat) == 20
    assert not any(math.isnan(r["ratelimit_reset_s"]) for r in chat)
