"""quota.declared on constructed events: what the headers declare, held against a fit written
here (the stage does not fit; it compares), and the declared remaining against what happened."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from analysis.declared import compare, declared_policy
from analysis.decisions import decide
from analysis.quota import QuotaFit
from analysis.summary_quota import Declared
from contract.events import CHAT

NAN = math.nan
WINDOW = QuotaFit("fixed_window", "per_key", limit=10, window_s=10.0, rate_per_s=1.0,
                  burst=10, alignment="first_request")
BUCKET = QuotaFit("token_bucket", "per_key", limit=10, burst=10, rate_per_s=2.0)


def events(rows) -> pd.DataFrame:
    """(sent_ts, status, key, limit, window, remaining, family[, latency_ms]) -> an events
    frame (2 ms latency unless given)."""
    rows = [tuple(r) + (2.0,) * (8 - len(r)) for r in rows]
    out = pd.DataFrame(rows, columns=["sent_ts", "status", "key_id", "ratelimit_limit",
                                      "ratelimit_window_s", "ratelimit_remaining",
                                      "ratelimit_family", "latency_ms"])
    out = out.assign(endpoint=CHAT, ttfb_ms=out["latency_ms"], retry_after_s=NAN)
    # as store.load_run gives them
    return out.astype({"key_id": "category", "ratelimit_family": "category",
                       "endpoint": "category"})


def declaring(limit, window, family="ietf-08", n=20, remaining=NAN, key="k1"):
    """n responses one second apart, the first half admitted, each declaring one policy."""
    return [(1000.0 + i, 200 if i < n // 2 else 429, key, limit, window, remaining, family)
            for i in range(n)]


def declared(rows, fit=WINDOW) -> dict | None:
    out = declared_policy(decide(events(rows)), fit)
    if out is not None:
        Declared.model_validate(out)  # what summary.json will hold
    return out


def test_a_truthful_header_agrees():
    d = declared(declaring(10, 10.0))
    assert (d["header_family"], d["limit"], d["window_s"], d["agrees"]) == \
        ("ietf-08", 10, 10, True)
    assert d["policies"] == [{"limit": 10, "window_s": 10, "responses": 20}]
    assert d["headline"].startswith(
        "The IETF draft-08 RateLimit headers declare 10 requests per 10 s, as observed.")


def test_a_lying_header_is_caught_and_said_which_way():
    d = declared(declaring(20, 10.0))
    assert (d["limit"], d["window_s"], d["agrees"]) == (20, 10, False)
    assert d["headline"].startswith("The IETF draft-08 RateLimit headers declare 20 requests "
                                    "per 10 s; observed: 10 per 10 s — the headers overstate "
                                    "the quota.")
    assert "understate" in declared(declaring(5, 10.0))["headline"]
    assert "overstate" in declared(declaring(10, 5.0))["headline"]  # same limit, sooner
    assert "misstate" in declared(declaring(20, 30.0))["headline"]  # more, but slower


@pytest.mark.parametrize("limit, window, agrees", [
    (11, 10.0, True), (9, 10.0, True), (12, 10.0, False), (10, 10.3, True),
    (10, 9.7, True), (10, 10.4, False), (10, 9.6, False)])
def test_the_tolerance_is_one_request_and_three_percent(limit, window, agrees):
    assert compare(limit, window, WINDOW)[0] is agrees


def test_a_window_rounded_up_to_the_second_agrees():
    fit = QuotaFit("sliding_log", "per_key", limit=10, window_s=4.5)
    assert compare(10, 5, fit) == (True, "as observed")  # ceil(4.5) = 5
    assert compare(10, 6, fit)[0] is False


def test_a_token_bucket_is_compared_as_its_burst_per_refill():
    d = declared(declaring(10, 5.0, "ietf-07"), BUCKET)
    assert (d["agrees"], d["limit"], d["window_s"]) == (True, 10, 5)
    assert d["headline"].startswith("The IETF draft-07 RateLimit headers declare 10 requests "
                                    "per 5 s, as observed: a token bucket of 10 refilled in "
                                    "5 s (2 requests/s).")
    # 10 at 3/s refills in 3.33 s, which the drafts' whole seconds write as 4
    assert compare(10, 4, QuotaFit("token_bucket", "per_key", burst=10, rate_per_s=3.0))[0]
    assert compare(10, 10, BUCKET) == (False, "understate")
    assert compare(20, 5, BUCKET) == (False, "overstate")


def test_a_family_without_a_window_is_judged_on_its_limit():
    d = declared(declaring(10, NAN, "openai"))
    assert (d["header_family"], d["window_s"], d["agrees"]) == ("openai", None, True)
    assert d["headline"].startswith("The OpenAI x-ratelimit-*-requests headers declare a "
                                    "limit of 10 requests and no window; the limit is as "
                                    "observed (10 per 10 s).")
    assert declared(declaring(20, NAN, "openai"))["agrees"] is False


def test_a_varying_header_is_not_one_number():
    rows = declaring(10, 10.0) + [(r[0] + 100, *r[1:3], 20, *r[4:]) for r in declaring(10, 10.0)]
    rows += [(r[0] + 200, *r[1:]) for r in declaring(20, 10.0, n=4)]
    d = declared(rows)
    assert d["agrees"] is False
    assert d["policies"] == [{"limit": 20, "window_s": 10, "responses": 24},
                             {"limit": 10, "window_s": 10, "responses": 20}]
    assert (d["limit"], d["window_s"]) == (20, 10)  # the most common, listed with the rest
    assert ("declared 2 different policies: 20 requests per 10 s (24 responses), 10 requests "
            "per 10 s (20 responses); they do not state one quota (observed: 10 per 10 s)."
            in d["headline"])


def test_the_family_most_responses_carried_is_read():
    d = declared(declaring(10, NAN, "openai", n=6) + [
        (r[0] + 50, *r[1:]) for r in declaring(10, 10.0, "ietf-06", n=10)])
    assert d["header_family"] == "ietf-06" and d["families"] == {"ietf-06": 10, "openai": 6}
    assert d["responses"] == 16 and d["window_s"] == 10
    assert ("Other responses carried other families, not read here: OpenAI "
            "x-ratelimit-*-requests headers (6).") in d["headline"]


def test_a_large_limit_is_written_out():
    fit = QuotaFit("fixed_window", "per_key", limit=1_000_000, window_s=86400.0)
    d = declared(declaring(1_000_000, 86400.0), fit)
    assert d["headline"].startswith("The IETF draft-08 RateLimit headers declare 1000000 "
                                    "requests per 86400 s, as observed.")


def test_nothing_declared_is_null():
    assert declared(declaring(NAN, NAN, "")) is None
    assert declared(declaring(NAN, NAN, "ietf-08", remaining=3)) is None  # no limit read
    old = events(declaring(10, 10.0)).drop(columns=["ratelimit_limit", "ratelimit_family"])
    assert declared_policy(decide(old), WINDOW) is None  # events from before the columns
    assert declared_policy(decide(events([])), WINDOW) is None


def test_no_fitted_quota_leaves_agreement_open():
    none = QuotaFit("none_observed", "unknown")
    d = declared([(1000.0 + i, 200, "k1", 10, 10.0, NAN, "ietf-08") for i in range(5)], none)
    assert d["agrees"] is None
    assert d["headline"] == ("The IETF draft-08 RateLimit headers declare 10 requests per "
                             "10 s; not checked: no 429 in the run, so no quota to hold them "
                             "against.")
    assert declared(declaring(10, NAN, "openai"),
                    QuotaFit("concurrency", "per_key", limit=10))["agrees"] is None


def test_a_429_after_a_declared_remaining_contradicts_it():
    rows = [(1000.0, 200, "k1", 10, 10.0, 5, "ietf-08"),   # 5 left...
            (1000.5, 200, "k1", 10, 10.0, NAN, "ietf-08"),  # one of them spent
            (1001.0, 429, "k1", 10, 10.0, 0, "ietf-08")]    # ...yet refused
    r = declared(rows)["remaining"]
    assert r == {"checked": 1, "contradicted": 1, "consistent": False}
    assert ("Their remaining count is contradicted: 1 of 1 429s were sent after a response "
            "of that key declared more requests left than could have passed the quota since."
            in declared(rows)["headline"])


def test_a_remaining_spent_by_others_is_not_a_contradiction():
    rows = [(1000.0, 200, "k1", 10, 10.0, 2, "ietf-08"),
            # sent just before it, answered after it was sent: may have been decided after
            (999.999, 200, "k1", 10, 10.0, NAN, "ietf-08"),
            (1000.3, 200, "k1", 10, 10.0, NAN, ""),          # no header, still spent one
            (1001.0, 429, "k1", 10, 10.0, 0, "ietf-08"),
            (1002.0, 429, "k2", 10, 10.0, 0, "ietf-08"),     # no earlier response of k2
            (1003.0, 429, "k1", 10, 10.0, 0, "ietf-08")]     # after a 429 that said 0
    assert declared(rows)["remaining"] == {"checked": 2, "contradicted": 0, "consistent": True}
    # Under a global quota, every key's count is one: k2's 429 follows k1's "0 left".
    glob = QuotaFit("fixed_window", "global", limit=10, window_s=10.0)
    assert declared(rows, glob)["remaining"] == {"checked": 3, "contradicted": 0,
                                                 "consistent": True}


def test_whose_remaining_is_unknown_without_a_scope():
    rows = [(1000.0, 200, "k1", 10, 10.0, 5, "ietf-08"),
            (1001.0, 429, "k2", 10, 10.0, 0, "ietf-08"),
            (1002.0, 429, "k1", 10, 10.0, 0, "ietf-08")]
    unknown = QuotaFit("fixed_window", "unknown", limit=10, window_s=10.0)
    assert declared(rows, unknown)["remaining"] == {"checked": 0, "contradicted": 0,
                                                    "consistent": None}
    assert declared(rows)["remaining"]["contradicted"] == 1


def test_the_remaining_a_client_had_heard_is_the_one_held():
    rows = [(1000.0, 200, "k1", 10, 10.0, 0, "ietf-08"),
            (1000.5, 200, "k1", 10, 10.0, 5, "ietf-08"),  # answered after the 429 was sent
            (1000.501, 429, "k1", 10, 10.0, 0, "ietf-08")]
    assert declared(rows)["remaining"] == {"checked": 1, "contradicted": 0, "consistent": True}
    # A request stamped long before, answered late (a stalled client): it may have spent the
    # one left after that response was sent, so the 429 does not contradict it.
    stalled = [(1000.0, 200, "k1", 10, 10.0, 1, "ietf-08"),
               (999.0, 200, "k1", 10, 10.0, NAN, "ietf-08", 1500.0),
               (1001.0, 429, "k1", 10, 10.0, 0, "ietf-08")]
    assert declared(stalled)["remaining"]["contradicted"] == 0
    stalled[1] = (999.0, 200, "k1", 10, 10.0, NAN, "ietf-08", 900.0)  # answered before it
    assert declared(stalled)["remaining"]["contradicted"] == 1


def test_the_page_says_it_in_words_first():
    from analysis.pages.report import render_report
    from analysis.summary import make_summary

    from .summaries import summary

    d = declared(declaring(20, 10.0))
    doc = summary()
    doc["quota"]["declared"] = d
    html = render_report(make_summary(doc).as_dict(), {})
    assert f'<p id="declared-headline">{d["headline"]}</p>' in html
    doc["quota"]["declared"] = None
    assert "No chat response carried a rate-limit policy this harness could read" in \
        render_report(make_summary(doc).as_dict(), {})
