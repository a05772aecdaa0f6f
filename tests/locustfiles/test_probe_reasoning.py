"""The probe's reasoning without a server: synthetic step results, in the order the probe asks
for them, must lead to the right steps and the right verdict (probe_reasoning, probe_rules)."""

from __future__ import annotations

import math

import pytest

from contract.probe_log import STEP_NAMES
from locustfiles.common.probe_hypotheses import FAMILIES, FIXED_EPOCH, FIXED_FIRST, Knowledge
from locustfiles.common.probe_reasoning import next_step, verdict
from locustfiles.common.probe_rules import learn, refill_idle_s

T0 = 1_000_000.0


def burst(admitted, refused, ra, fastest=0.15, slowest=0.2, idle=2.0, burst_s=0.2):
    return {"sent": admitted + refused, "admitted": admitted, "refused": refused, "t0": T0,
            "ra_s": ra, "burst_s": burst_s, "fastest_s": fastest, "slowest_s": slowest,
            "idle_s": idle}


def loop(pattern, span, **extra):
    return {"sent": len(pattern), "admitted": pattern.count("A"), "span_s": span,
            "pattern": pattern, "admitted_span_s": 0.0, "median_latency_s": 0.15,
            "ra_s": extra.pop("ra_s", math.nan), "refused_ts": extra.pop("refused_ts", math.nan),
            "pushed": extra.pop("pushed", None), "push_threshold": extra.pop("threshold", None),
            **extra}


PER_KEY = {"this_refused": True, "others": 2, "others_admitted": 2}
GLOBAL = {"this_refused": True, "others": 2, "others_admitted": 0}


def drive(k: Knowledge, answers: list[tuple[str, dict]]) -> list[str]:
    """Run the probe's loop over canned answers: each step asked for must be the next one
    given; the steps asked for, in order."""
    asked = []
    for expected, result in answers:
        name = next_step(k)
        assert name == expected, (asked, name, expected)
        assert name in STEP_NAMES
        asked.append(name)
        said, ruled_out = learn(k, name, result)
        assert said and all(isinstance(x, str) for x in ruled_out)
    assert next_step(k) is None, (asked, next_step(k))
    return asked


def window_answers(split, polite_at=3.0, period=3.0):
    return [("idle_burst", burst(6, 2, 3.0)),
            ("tight", loop("R" * 50 + "A", 2.9)),
            ("scope_uneven", PER_KEY),
            ("polite", {"admitted": True, "wait_s": 0.2, "sent_ts": T0 + polite_at,
                        "ra_s": math.nan}),
            ("tight", loop("AAAAAR", 1.0, ra_s=2.0, refused_ts=T0 + polite_at + 1)),
            ("split", {"half": 3, "period_s": period, "phase_s": 1.25, **split})]


def test_a_fixed_window_anchored_at_the_first_request():
    k = Knowledge(keys=3)
    drive(k, window_answers({"middle_admitted": 3, "reopen_admitted": 5}))
    assert k.family == FIXED_FIRST
    assert k.modifiers == {"counts_rejected": False, "lockout": False}
    assert k.scope == "per_key" and k.open() == []
    assert verdict(k).startswith(f"{FIXED_FIRST}: 6 per 3 s") and "per key" in verdict(k)


def test_a_sliding_log_gives_back_only_the_first_part_of_a_split_window():
    k = Knowledge(keys=3)
    drive(k, window_answers({"middle_admitted": 3, "reopen_admitted": 3}))
    assert k.family == "sliding_log"


def test_a_lockout_longer_than_the_window_shows_as_a_window_refilled_early():
    # the period seen (burst to reopening) was 8 s: a lockout; its middle let 6 in
    k = Knowledge(keys=3)
    drive(k, window_answers({"middle_admitted": 6}, polite_at=8.0, period=9.0))
    assert k.family == "fixed_window" and k.modifiers["lockout"] is True
    assert k.open() == [FIXED_EPOCH, FIXED_FIRST, "counts_rejected"]  # the lockout hides them
    assert verdict(k).startswith("fixed_window: 6 per at most 4.5 s (anchored at the first "
                                 "request or on the clock: the lockout hides which)")
    assert "a lockout of about 2 s" in verdict(k)  # the stated wait of the refusal before


def test_clock_windows_have_a_first_period_shorter_than_the_next():
    """Clock windows, then the other keys' reopenings: at this key's phase (one phase for
    all), or elsewhere (each key's own, as a gateway hashing the key into it gives)."""
    split = {"middle_admitted": 3, "reopen_admitted": 5}
    for others, own in (([3001.3, 6001.2], False), ([3002.25, 6000.7], True)):
        k = Knowledge(keys=3)
        drive(k, window_answers(split, polite_at=2.7) + [
            ("clock_phase", {"boundaries": others})])
        assert k.family == FIXED_EPOCH and k.get("phase") == 1.25
        assert "1.25 s past each multiple" in verdict(k)
        assert ("another phase on each other key" in verdict(k)) is own, verdict(k)
        assert k.get("key_phases") == (1.0 if own else 0.0)
    # no other key's reopening found: the step says so and the verdict claims nothing
    k = Knowledge(keys=3)
    drive(k, window_answers(split, polite_at=2.7) + [("clock_phase", {"boundaries": []})])
    assert k.get("key_phases") is None and "other key" not in verdict(k)


def test_a_split_kept_out_while_asking_is_a_lockout_that_refusals_extend():
    k = Knowledge(keys=3)
    answers = window_answers({"middle_admitted": 3, "kept_out": True})
    with pytest.raises(AssertionError, match=r"'split'\], 'split'"):
        drive(k, answers)  # kept out, it never saw what the reopening gives back: again
    assert k.modifiers["lockout"] is True and k.family is None
    assert k.open()[:2] == [FIXED_FIRST, "sliding_log"]
    assert verdict(k) == f"not settled: still {FIXED_FIRST} or sliding_log"
    k = Knowledge(keys=3)
    drive(k, answers + [("split", {"half": 3, "middle_admitted": 3, "reopen_admitted": 5})])
    assert k.family == FIXED_FIRST and k.modifiers["lockout"] is True
    assert verdict(k).startswith(f"{FIXED_FIRST}: 6 per 3 s;")
    assert "a lockout that refusals extend" in verdict(k)


def test_a_token_bucket_refills_between_refusals_and_its_rate_is_paced():
    k = Knowledge(keys=3)
    asked = drive(k, [
        ("idle_burst", burst(10, 6, 0.4)),
        ("tight", loop("RRRRRRRA" * 3, 1.5)),
        ("scope_uneven", PER_KEY),
        ("polite", {"admitted": True, "wait_s": 0.04, "sent_ts": T0 + 3, "ra_s": math.nan}),
        ("tight", loop("R", 0.01, ra_s=0.5)),
        ("idle_burst", burst(3, 5, 0.4, idle=1.2)),
        ("pace_under", {"sent": 5, "admitted": 5, "rate_per_s": 1.6}),
        ("pace_over", {"sent": 8, "admitted": 6, "rate_per_s": 2.5}),
    ])
    assert asked[1] == "tight" and k.family == "token_bucket"
    assert k.modifiers == {"counts_rejected": False, "lockout": False}
    assert k.get("rate") == pytest.approx(3 / 1.5)
    assert "about 2 /s (paced at 1.6 /s all admitted, at 2.5 /s not)" in verdict(k)


def test_refusals_that_push_the_stated_reopening_are_counted():
    k = Knowledge(keys=1)
    drive(k, [
        ("idle_burst", burst(5, 3, 2.0)),
        ("tight", loop("RRR", 0.1, pushed=(1.0, 2, 0.9), threshold=0.2)),
        ("polite", {"admitted": True, "wait_s": 4.1, "sent_ts": T0 + 4.3, "ra_s": math.nan}),
        ("tight", loop("R", 0.01, ra_s=1.0)),
        ("idle_burst", burst(5, 3, 2.0, idle=4.0)),
        ("pace_under", {"sent": 5, "admitted": 5, "rate_per_s": 1.6}),
        ("pace_over", {"sent": 8, "admitted": 4, "rate_per_s": 2.5}),
    ])
    assert k.family == "token_bucket" and k.modifiers["counts_rejected"] is True
    assert k.get("rate") == pytest.approx(2.0)  # one slot per refusal, 0.5 s each
    assert k.scope == "unknown"  # one key: nothing to compare
    assert "refused requests are counted" in verdict(k)


def test_a_push_inside_the_rounding_of_whole_seconds_is_not_counting():
    k = Knowledge(keys=1)
    learn(k, "idle_burst", burst(5, 3, 2.0))
    learn(k, "tight", loop("RRR", 0.1, pushed=(1.0, 2, 0.9), threshold=1.5))
    assert not k.get("kept_out")


def test_a_wait_that_stays_the_same_is_not_counting():
    # Retry-After: 1 on every refusal: the stated reopening moves along with the clock
    k = Knowledge(keys=1)
    learn(k, "idle_burst", burst(10, 6, 1.0))
    learn(k, "tight", loop("RRRRRRR", 0.3, pushed=(0.3, 6, 0.0), threshold=0.2))
    assert not k.get("kept_out") and k.get("push_per_refusal") is None


@pytest.mark.parametrize("again, counted", [("A", False), ("R" * 40, True)])
def test_a_sliding_counter_gives_the_whole_limit_back_after_two_periods(again, counted):
    k = Knowledge(keys=3)
    drive(k, [
        ("idle_burst", burst(10, 6, 5.2)),
        ("tight", loop("R" * 60, 3.0)),
        ("scope_uneven", PER_KEY),
        ("polite", {"admitted": True, "wait_s": 2.4, "sent_ts": T0 + 5.5, "ra_s": math.nan}),
        ("tight", loop("AR", 0.2, ra_s=0.5, refused_ts=T0 + 5.7)),
        ("idle_burst", burst(10, 6, 5.2, idle=refill_idle_s(Knowledge()))),
        ("tight", loop(again, 1.0)),
    ])
    assert k.family == "sliding_counter"
    assert k.modifiers["counts_rejected"] is counted


def test_the_refill_test_waits_two_periods_of_the_first_refusal():
    k = Knowledge()
    learn(k, "idle_burst", burst(10, 6, 5.2, burst_s=0.3))
    assert refill_idle_s(k) == pytest.approx(11.0)


def test_a_concurrency_cap_admits_one_at_a_time():
    k = Knowledge(keys=3)
    drive(k, [
        ("idle_burst", burst(2, 6, math.nan)),
        ("tight", loop("A" * 18, 2.0)),
        ("concurrency_ramp", {"levels": "1->1, 2->2, 3->2, 4->2", "cap": 2}),
        ("scope_uneven", GLOBAL),
    ])
    assert k.family == "concurrency" and k.scope == "global" and k.open() == []
    assert verdict(k).startswith("concurrency: at most 2 in flight")


def test_a_queue_holds_admissions_longer_the_later_they_came():
    k = Knowledge(keys=3)
    drive(k, [
        ("idle_burst", burst(6, 2, 0.5, slowest=2.6)),
        ("shaping_excess", {"sent": 16, "served": 1, "queued": 5, "refused": 10,
                            "max_delay_s": 2.5}),
        ("scope_uneven", PER_KEY),
    ])
    assert k.family == "shaping" and "queue of about 5" in verdict(k)


def test_no_refusal_and_no_hold_is_no_limit():
    k = Knowledge(keys=3)
    drive(k, [("idle_burst", burst(300, 0, math.nan))])
    assert k.family == "none" and verdict(k).startswith("no limit seen")


def test_a_stated_wait_that_is_not_enough_is_measured_by_growing_gaps():
    k = Knowledge(keys=1)
    for name, r in [("idle_burst", burst(10, 6, 1.0)), ("tight", loop("R" * 50, 1.5))]:
        assert next_step(k) == name
        learn(k, name, r)
    assert next_step(k) == "polite"
    learn(k, "polite", {"admitted": False, "wait_s": 1.0, "ra_s": 1.0, "sent_ts": T0 + 3})
    assert next_step(k) == "reopen_gap"
    said, _ = learn(k, "reopen_gap", {"reopened_after_s": 4.0, "last_refused_s": 2.0,
                                      "stated_s": 1.0, "sent_ts": T0 + 10})
    assert "optimistic" in said and next_step(k) == "tight"
    k.families = {FIXED_FIRST}  # the verdict's words for what the gaps measured
    # refused 2 s after a refusal, admitted 4 s after: the real wait is 2-4 s, not 4
    assert "Retry-After states between 1 and 3 s less than the real wait" in verdict(k)


def test_a_lockout_behind_a_short_retry_after_is_the_measured_reopening():
    # Retry-After a constant 1 s, the real lockout about 3 s: waiting the stated 1 s was
    # refused, so the lockout is the reopening the gaps measured, never the stated 1 s
    k = Knowledge(keys=3)
    drive(k, [("idle_burst", burst(6, 2, 1.0)),
              ("tight", loop("R" * 50, 2.9)),
              ("scope_uneven", PER_KEY),
              ("polite", {"admitted": False, "wait_s": 1.0, "ra_s": 1.0, "sent_ts": T0 + 3}),
              ("reopen_gap", {"reopened_after_s": 4.0, "last_refused_s": 2.0,
                              "stated_s": 1.0, "sent_ts": T0 + 8}),
              ("tight", loop("AAAAAR", 1.0, ra_s=1.0, refused_ts=T0 + 9)),
              ("split", {"half": 3, "period_s": 9.0, "phase_s": 1.25, "middle_admitted": 6})])
    assert k.modifiers["lockout"] is True
    assert "a lockout of between 2 and 4 s after a refusal" in verdict(k), verdict(k)
    assert "about 1 s" not in verdict(k)


def test_evidence_that_contradicts_itself_rules_nothing_out():
    k = Knowledge()
    k.families = {"token_bucket"}
    assert k.keep_only({"sliding_log"}) == [] and k.families == {"token_bucket"}
    k.families = set(FAMILIES)
    assert k.rule_out(FAMILIES) == [] and k.families == set(FAMILIES)


def test_the_hypotheses_are_named_as_the_brief_names_them():
    assert Knowledge(keys=3).hypotheses == [
        "fixed_window/first_request", "fixed_window/epoch", "sliding_log", "sliding_counter",
        "token_bucket", "concurrency", "shaping", "none", "counts_rejected", "lockout",
        "scope/per_key", "scope/global"]


def test_more_back_than_a_bucket_holds_is_a_sliding_counter():
    # HAProxy's counter, no Retry-After: 4 in the first burst (its GET /v1/models took the
    # fifth), 5 back after two idle periods: a bucket of 4 could never give 5
    k = Knowledge(keys=1)
    learn(k, "idle_burst", burst(4, 4, 3.6))
    k.families = {"sliding_counter", "token_bucket"}
    said, _ = learn(k, "idle_burst", burst(5, 3, math.nan, idle=7.3))
    assert k.family == "sliding_counter", said
    assert verdict(k).startswith("sliding_counter: about 5 per")


def test_a_counter_still_weighing_the_last_window_gives_back_less_than_a_full_bucket():
    k = Knowledge(keys=1)
    learn(k, "idle_burst", burst(10, 6, 0.04))
    learn(k, "tight", loop("RRRRRARRRRRARRRRRARRRRA", 1.6))  # 4 in 1.6 s: 2.5/s
    assert refill_idle_s(k) == pytest.approx(1.1 * 10 / 2.5)
    said, _ = learn(k, "idle_burst", burst(5, 3, 0.1, idle=4.4))
    assert k.family == "sliding_counter", said  # a bucket of 10 would be full again
    k2 = Knowledge(keys=1)
    learn(k2, "idle_burst", burst(10, 6, 0.04))
    learn(k2, "tight", loop("RRRRRARRRRRARRRRRARRRRA", 1.6))
    learn(k2, "idle_burst", burst(10, 6, 0.1, idle=4.4))
    assert k2.family == "token_bucket"


def test_a_ramp_admitted_whole_has_no_cap_and_a_verdict():
    # every level admitted whole: no cap measured (the verdict once met None and raised)
    k = Knowledge(keys=1)
    for name, r in [("idle_burst", burst(2, 6, math.nan)), ("tight", loop("A" * 18, 2.0))]:
        assert next_step(k) == name
        learn(k, name, r)
    assert next_step(k) == "concurrency_ramp"
    said, _ = learn(k, "concurrency_ramp", {"levels": "1->1, 2->2, 16->16", "cap": None,
                                            "most": 16})
    assert said.endswith("all 16 in flight admitted: no cap up to 16"), said
    assert verdict(k) == "concurrency: no cap seen up to 16 in flight"


def test_the_verdict_prints_only_what_was_measured():
    k = Knowledge(keys=1)
    k.families = {"shaping"}
    assert verdict(k) == "shaping: a queue"  # nothing measured, no nan and no '?'
    learn(k, "shaping_excess", {"sent": 16, "served": 2, "queued": 5, "refused": 0,
                                "max_delay_s": 2.5})
    # nothing refused: the queue held all it was given and may hold more
    assert verdict(k) == "shaping: a queue of at least 5 held up to 2.5 s, 2 served at once"
    k = Knowledge(keys=1)
    k.families = {"token_bucket"}
    k.modifiers = {"counts_rejected": False, "lockout": False}
    assert verdict(k).startswith("token_bucket: a bucket;"), verdict(k)
    for words in ("None", "nan", "?"):
        assert words not in verdict(k)


def test_a_burst_refused_with_503_says_so():
    k = Knowledge(keys=1)
    said, _ = learn(k, "idle_burst", {**burst(2, 6, math.nan), "refused_status": 503})
    assert said.startswith("2 admitted back to back, then 503"), said
