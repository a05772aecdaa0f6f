"""The probe's own verdict against the fit over its requests: a fit the probe contradicts is
not given as the quota, and both readings are named (analysis/probe_check.py)."""

from __future__ import annotations

from analysis.probe_check import disagreement, probe_reading, reconcile
from analysis.quota import QuotaFit, describe

SETTLED = {"settled": True}


def probe(verdict: str, settled: bool = True) -> dict:
    return {"settled": settled, "verdict": verdict}


def test_the_probe_verdicts_family_and_modifiers_are_read():
    assert probe_reading("fixed_window/epoch: 5 per 3 s, windows starting 1.2 s past each "
                         "multiple of the window; refusals not counted, no lockout; per key") \
        == {"family": "fixed_window", "alignment": "epoch", "lockout": False,
            "counts_rejected": False, "scope": "per_key"}
    assert probe_reading("token_bucket: bursts of 3, about 2 /s; refused requests are "
                         "counted, no lockout; per key")["counts_rejected"] is True
    assert probe_reading("fixed_window: 5 per at most 2.1 s (anchored at the first request or "
                         "on the clock: the lockout hides which); a lockout of about 4 s after "
                         "a refusal")["lockout"] is True
    assert probe_reading("no limit seen: 272 requests admitted back to back")["family"] == \
        "none_observed"
    assert probe_reading("concurrency: at most 2 in flight; one quota for all keys; "
                         "Retry-After states up to 1 s less than the real wait")["scope"] == \
        "global"
    assert probe_reading("token_bucket: bursts of 3")["scope"] is None
    assert probe_reading("not settled: still sliding_log or fixed_window") is None


def test_a_fit_the_probe_contradicts_is_not_given_as_the_quota():
    fit = QuotaFit("fixed_window", "per_key", limit=3, window_s=2.5, alignment="first_request",
                   rate_per_s=1.2, burst=3, decisions=120)
    said = probe("shaping: a queue of about 5 held up to 2.49 s, 1 served at once; per key")
    assert disagreement(fit, said) == "the family"
    out = reconcile(fit, said)
    assert out.algorithm == "unknown" and fit.algorithm == "fixed_window"
    assert out.note == (
        "the probe's experiments concluded \"shaping: a queue of about 5 held up to 2.49 s, 1 "
        "served at once; per key\", the fit over its 120 decisions gave \"" + describe(fit) +
        "\"; they differ on the family, so neither is given as the quota (the probe's steps "
        "are below)")
    assert describe(out).startswith("quota not identified (the probe's experiments")


def test_a_modifier_the_probe_answered_must_agree_too():
    fit = QuotaFit("token_bucket", "per_key", rate_per_s=2.0, burst=3, decisions=50)
    said = probe("token_bucket: bursts of 3, about 2 /s; refused requests are counted, no "
                 "lockout; per key")
    assert disagreement(fit, said) == "whether refused requests count"
    fit.counts_rejected = True
    assert disagreement(fit, said) is None and reconcile(fit, said) is fit


def test_no_verdict_to_hold_against_leaves_the_fit_alone():
    fit = QuotaFit("sliding_log", "per_key", limit=5, window_s=2.0, decisions=50)
    for p in (None, probe("sliding_counter: about 5 per 2 s", settled=False),
              probe("not settled: still sliding_log or sliding_counter", settled=True)):
        assert reconcile(fit, p) is fit
    # an anchored-or-clock window the lockout hid agrees with either alignment
    fit = QuotaFit("fixed_window", "per_key", limit=5, window_s=2.0, alignment="epoch",
                   lockout_s=4.0, decisions=50)
    assert disagreement(fit, probe("fixed_window: 5 per at most 2.13 s (anchored at the first "
                                   "request or on the clock: the lockout hides which); a "
                                   "lockout of about 4 s after a refusal")) is None


def test_on_a_tie_the_model_the_probe_chose_is_given():
    """rate-limiter-flexible (3 per 2 s, then a 4 s lockout) through the probe: a plain window
    of 3 per 4.125 s and the truth reproduce every decision; the probe's steps found the
    lockout, so the tied model that has one is the answer, and the note says why."""
    plain = {"algorithm": "fixed_window", "limit": 3, "window_s": 4.125,
             "alignment": "first_request", "agreement": 1.0, "weighted": 1.0,
             "scope": "per_key"}
    locked = {"algorithm": "fixed_window", "limit": 3, "window_s": 2.0,
              "alignment": "first_request", "lockout_s": 4.0, "lockout_extends": False,
              "agreement": 1.0, "weighted": 1.0, "scope": "per_key"}
    worse = dict(locked, window_s=1.0, weighted=0.9, agreement=0.9)
    fit = QuotaFit("fixed_window", "per_key", limit=3, window_s=4.125, alignment="first_request",
                   rate_per_s=3 / 4.125, burst=3, decisions=100, agreement=1.0,
                   candidates=[plain, locked, worse])
    said = probe("fixed_window: 3 per at most 2.06 s (anchored at the first request or on the "
                 "clock: the lockout hides which); a lockout of about 4 s after a refusal; "
                 "per key")
    out = reconcile(fit, said)
    assert (out.algorithm, out.limit, out.window_s, out.lockout_s, out.lockout_extends) == \
        ("fixed_window", 3, 2.0, 4.0, False)
    assert "the probe's experiments, made to tell them apart, chose the first" in out.note
    # a model the decisions explain worse is not taken for the probe's word
    fit.candidates = [plain, worse]
    assert reconcile(fit, said).algorithm == "unknown"


def test_a_model_taken_on_the_probes_word_keeps_nothing_of_the_fitted_one():
    """The concurrency profile through the probe (a live run, 2 in flight per key, 150 ms
    completions): a fixed window of 1 per 0.1264 s explained the decisions as well as the
    cap, per key and global alike; the probe's ramp found the cap and its scope_uneven step
    the scope. The cap is given, per key, with no window nor alignment left of the window's."""
    window = {"algorithm": "fixed_window", "limit": 1, "window_s": 0.1264,
              "alignment": "first_request", "agreement": 1.0, "weighted": 1.0,
              "scope": "per_key"}
    cap = {"algorithm": "concurrency", "limit": 2, "agreement": 0.996, "weighted": 0.996,
           "scope": "per_key"}
    fit = QuotaFit("fixed_window", "unknown", limit=1, window_s=0.1264,
                   alignment="first_request", decisions=250, keys=3, agreement=1.0,
                   candidates=[window, dict(cap, scope="global"), cap],
                   indistinguishable=[{"models": ["a", "b"], "experiment": "split"}],
                   note="the keys were used alike")
    out = reconcile(fit, probe("concurrency: at most 2 in flight; per key"))
    assert (out.algorithm, out.limit, out.scope) == ("concurrency", 2, "per_key")
    assert (out.window_s, out.alignment, out.phase_s, out.indistinguishable) == \
        (None, None, None, [])
    assert out.note.startswith("the decisions explain at most 2 requests in flight per key "
                               "as well as 1 requests per 0.1264 s")


def test_a_scope_the_keys_could_not_tell_is_the_probes_when_it_found_it():
    """Per key and global explained alike (the fit's scope 'unknown'); the probe's
    scope_uneven step said per key: the same model is given per key, with what else the run
    could not tell kept, and the scope tie gone from the note."""
    mine = {"algorithm": "fixed_window", "limit": 5, "window_s": 3.0,
            "alignment": "first_request", "agreement": 1.0, "weighted": 1.0,
            "scope": "per_key"}
    shared = dict(mine, limit=15, scope="global")
    split = {"models": ["fixed window 5 per 3 s", "sliding log 5 per 3 s"],
             "experiment": "split"}
    scope = {"models": ["fixed window 5 per 3 s per key", "fixed window 15 per 3 s global"],
             "experiment": "scope_uneven"}
    fit = QuotaFit("fixed_window", "unknown", limit=5, window_s=3.0, alignment="first_request",
                   decisions=300, keys=3, agreement=1.0, candidates=[mine, shared],
                   indistinguishable=[split, scope],
                   note="a tie of windows; the keys were used alike, so 5 per 3 s per_key and "
                        "15 per 3 s global explain the run equally")
    said = "fixed_window/first_request: 5 per 3 s; refusals not counted, no lockout; per key"
    out = reconcile(fit, probe(said))
    assert (out.algorithm, out.limit, out.window_s, out.scope) == \
        ("fixed_window", 5, 3.0, "per_key")
    assert out.indistinguishable == [split]
    assert out.note.startswith("a tie of windows; the decisions explain 5 requests per 3 s "
                               "per key"), out.note
    assert "used alike, so" not in out.note
    # the probe's scope is taken only when the decisions explain that scope as well
    fit.candidates = [mine, dict(shared, weighted=0.9)]
    assert reconcile(fit, probe(said.replace("per key", "one quota for all keys"))) is fit



def test_a_probe_that_ruled_the_clock_out_wrongly_is_named_beside_the_fit():
    """The epoch-phase row (5 per 3 s on the clock, phase 1.2 s) in a fresh-clone CI run,
    kept: the probe's first burst began near a window's start, so its first period was a
    whole window and its split step ruled the clock out. The fit over its requests gives the
    truth; an anchored window of 2.98 s ties with it within one decision, and that is what
    the probe's word takes. Kept so that the probe's rule can be mended against it (issue
    13, NOT_YET); whatever the report gives meanwhile, its note names the fit's model, the
    truth, as explaining the decisions as well."""
    import json
    from pathlib import Path

    import pandas as pd

    from analysis.decisions import decide
    from analysis.pipeline import fit_and_audit
    from analysis.quota import fit_quota

    data = Path(__file__).parent / "data"
    events = pd.read_parquet(data / "epoch-phase-probe-burst-at-a-boundary.parquet")
    alone = fit_quota(decide(events))
    assert (alone.algorithm, alone.alignment, alone.limit, alone.window_s) == \
        ("fixed_window", "epoch", 5, 3.0)
    assert abs(alone.phase_s - 1.2) <= 0.15
    said = json.loads((data / "epoch-phase-probe-burst-at-a-boundary.json").read_text())
    assert said["verdict"].startswith("fixed_window/first_request")
    fit, _ = fit_and_audit(decide(events), lambda _m: None, probe=said)
    assert "as well as 5 requests per 3 s per key, fixed window, aligned to the clock with " \
        "a phase of 1.19 s" in fit.note
