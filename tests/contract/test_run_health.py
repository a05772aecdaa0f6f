"""The rule that says a run failed (analysis.run_health), on counts built by hand: what each
observed failure looked like, and runs that are data, not failures."""

from contract import run_health
from contract.run_health import CHAT, failure_reasons, outcome_table

COMPLETE = {"complete": True, "options": {}}


def test_a_run_of_429s_and_503s_is_data_not_a_failure():
    counts = {CHAT: {"ok": 40, "rate_limited": 3_865, "unavailable": 12},
              "/v1/models": {"ok": 2}}
    assert failure_reasons(COMPLETE, counts) == []


def test_a_revoked_key_fails_the_run():
    reasons = failure_reasons(COMPLETE, {CHAT: {"unauthorized": 12_456},
                                         "/v1/models": {"unauthorized": 1}})
    assert len(reasons) == 1
    assert "12,457 of 12,457 attempts (100.0%)" in reasons[0]
    assert "12,456 unauthorized" not in reasons[0] and "12,457 unauthorized" in reasons[0]


def test_a_gateway_killed_mid_run_fails_it():
    # 71% connection errors, as seen when the gateway was killed mid-run
    reasons = failure_reasons(COMPLETE, {CHAT: {"ok": 290, "transport_error": 710}})
    assert reasons and "710 of 1,000 attempts (71.0%)" in reasons[0]
    assert "transport_error" in reasons[0]


def test_the_fail_ratio_is_the_runs_own_else_the_default():
    counts = {CHAT: {"ok": 90, "timeout": 10}}  # 10% failed
    assert failure_reasons(COMPLETE, counts)  # over the default 5%
    assert run_health.DEFAULT_FAIL_RATIO == 0.05
    lenient = {"complete": True, "options": {"fail_ratio": 0.2}}
    assert failure_reasons(lenient, counts) == []
    strict = {"complete": True, "options": {"fail_ratio": 0.0}}
    one = {CHAT: {"ok": 9_999, "timeout": 1}}
    assert "over the failure ratio 0 (--fail-ratio)" in failure_reasons(strict, one)[0]
    assert failure_reasons(COMPLETE, one) == []  # 0.01% is under 5%


def test_a_run_cut_short_says_how_far_it_got():
    manifest = {"complete": False, "stop_reason": "stopped by the user",
                "start": "2026-12-01T07:00:00+00:00", "end": "2026-12-01T07:00:09.400000+00:00",
                "options": {"run_time": 60}}
    reasons = failure_reasons(manifest, {CHAT: {"ok": 20}})
    assert reasons == ["the run was cut short (stopped by the user after 9 s of 60 s): its "
                       "figures cover only part of the planned run"]


def test_nothing_recorded_or_no_chat_completion_fails():
    assert failure_reasons(COMPLETE, {}) == ["no request was recorded"]
    assert failure_reasons(COMPLETE, {"/v1/models": {"ok": 1}}) == \
        ["no chat completion was attempted"]


def test_harness_errors_fail_the_run():
    reasons = failure_reasons({"complete": True, "harness_errors": 3}, {CHAT: {"ok": 5}})
    assert len(reasons) == 1 and reasons[0].startswith("3 harness error(s)")


def test_the_outcome_table_holds_every_count():
    lines = outcome_table({CHAT: {"ok": 1_234, "unauthorized": 5}, "/v1/models": {"ok": 1}})
    assert lines[0].split() == ["endpoint", "attempts", "ok", "unauthorized"]
    assert lines[1].split() == [CHAT, "1,239", "1,234", "5"]
    assert lines[2].split() == ["/v1/models", "1", "1", "0"]
