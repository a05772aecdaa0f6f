"""Issue 13, items 4 and 6, on events made here: the polite answer when the run asked
(polite steps), asked in part (the old probe's retries at f x RA) or did not ask; and the
questions a tight loop's traffic left open, named only when its own events show it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.decisions import decide
from contract.events import CHAT
from analysis.polite import polite_answer
from analysis.retry_after import audit_retry_after
from analysis.unanswered import unanswered
from .probe_run import polite_pair, row
from .test_retry_after_audit import fixed_window_run, honest


def frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    for col in ("phase", "outcome", "key_id", "endpoint"):
        df[col] = df[col].astype("category")
    return df


def test_a_constant_wait_shorter_than_a_lockout_is_named_for_what_it_does():
    # every retry waited the 1 s it was told, and was refused again
    rows = [r for i in range(6) for r in polite_pair(f"p{i}", 1000.0 + 3 * i, 1.0, 429)]
    a = polite_answer(frame(rows))
    assert (a["asked"], a["let_in"], a["refused"], a["sent_early"]) == (6, 0, 6, 0)
    assert a["headline"] == (
        "Waiting as told got in 0 of 6 times: a client that obeys Retry-After is locked out; "
        "each refused retry was told to wait again (1 s median); the wait stated was 1 s "
        "every time")


def test_one_polite_retry_says_what_happened_to_it_not_how_often():
    # the adaptive probe asks once: one refusal is no "locked out", and "every time" is no word
    refused = polite_answer(frame(polite_pair("p0", 1000.0, 1.0, 429)))
    assert (refused["asked"], refused["let_in"]) == (1, 0)
    assert refused["headline"] == (
        "Waiting as told was tried once: the polite retry, sent the stated 1 s after its 429, "
        "was refused and told to wait again (1 s)")
    let_in = polite_answer(frame(polite_pair("p0", 1000.0, 2.5, 200, stated=2.5)))
    assert let_in["headline"] == (
        "Waiting as told was tried once: the polite retry, sent the stated 2.5 s after its "
        "429, was let in")


def test_the_old_probes_retries_answer_in_part_and_say_so():
    """attempt 2 of retry_after_probe at f x RA: f = 0.6 and 1.2 admitted, 1.0 admitted,
    1.4 refused. Three waited at least as told; two of them got in."""
    rows = []
    for i, (f, status) in enumerate([(0.6, 200), (1.2, 200), (1.0, 200), (1.4, 429)]):
        first = row("retry_after_wait", 1000.0 + 5 * i, 429, logical=f"r{i}", retry_after=2.0)
        rows += [first, row("retry_after_probe", first["sent_ts"] + 0.002 + f * 2.0, status,
                            logical=f"r{i}", attempt=2,
                            retry_after=1.0 if status == 429 else np.nan)]
    audit = audit_retry_after(decide(frame(rows)))
    assert audit.probes["at_or_after_stated"] == 3
    assert audit.polite == {
        "source": "retry_after_probe", "asked": 3, "let_in": 2, "not_let_in": 1,
        "headline": "Waiting at least as told (1 to 1.5 x Retry-After, the old probe's timed "
                    "retries) got in 2 of 3 times: a partial answer, as none waited exactly "
                    "what it was told (make probe asks it)"}


def test_a_run_without_polite_steps_did_not_ask():
    audit = audit_retry_after(decide(fixed_window_run(honest)))
    assert audit.polite == {"source": None, "asked": 0, "headline": (
        "Waiting as told was not tried: the run has no polite steps (make probe asks it)")}
    assert "Waiting" not in audit.headline  # nor in the verdict: nothing was asked


def questions(found: list[dict]) -> set[str]:
    return {q["question"].split(" (")[0].split(",")[0] for q in found}


SCOPE = "whether the quota is per key or shared by every key"
BURST = "how much a key gets back after an idle period"
POLITE = "whether a client that waits what Retry-After says is let in"
LOCKOUT = "whether a refused key is locked out for a while"
QUOTA = {"algorithm": "fixed_window", "scope": "per_key", "window_s": 2.0}


def test_a_tight_loop_on_one_key_leaves_four_questions_open():
    events = fixed_window_run(honest)  # one key, a request every 10 ms
    found = unanswered(events, "tight_loop", QUOTA, audit_retry_after(decide(events)).polite)
    assert questions(found) == {SCOPE, BURST, POLITE, LOCKOUT}
    why = {q["question"].split(" (")[0].split(",")[0]: q["why"] for q in found}
    assert why[SCOPE] == "the run used one key"
    # the longest rest once refused is one 10 ms step between sends
    assert why[BURST] == ("once refused, no key rested longer than 0.01 s before its next "
                          "request, less than the fitted window (2 s)")
    assert why[LOCKOUT] == ("no key paused longer than 0.01 s after a 429, less than the "
                            "fitted window (2 s), so a lockout cannot be told from a longer "
                            "window")


def test_questions_the_traffic_answered_are_not_named():
    """Two keys, a 3 s rest after a 429 (longer than the 2 s window), polite retries: each
    question the tight loop would leave open was asked here."""
    events = fixed_window_run(honest, keys=(("a", 0.01), ("b", 0.01)), run_s=3.0)
    rest = fixed_window_run(honest, keys=(("a", 0.01),), run_s=1.0)
    rest["sent_ts"] += 6.0
    rest["intended_ts"] = rest["sent_ts"]
    polite = frame(polite_pair("p", 1010.0, 1.0, 200, stated=1.0)).assign(key_id="a")
    both = pd.concat([events, rest, polite], ignore_index=True)
    for col in ("phase", "outcome", "key_id", "endpoint"):
        both[col] = both[col].astype(str).astype("category")
    assert unanswered(both, "tight_loop", QUOTA, polite_answer(both)) == []
    # and each is named again once its evidence is taken away
    assert questions(unanswered(both, "spike", QUOTA, {"source": None})) == {POLITE}
    one_key = both[both["key_id"] != "b"]
    assert questions(unanswered(one_key, "tight_loop", QUOTA, polite_answer(one_key))) \
        == {SCOPE}
    assert unanswered(both, "probe", QUOTA, None) is None  # the probe is not asked about


def test_a_rest_longer_than_the_window_but_shorter_than_the_lockout_leaves_it_open():
    """Under a fitted 8 s lockout a 3 s rest after a 429 (longer than the 2 s window) cannot
    tell a lockout from a longer window: the question stays, held against the lockout."""
    events = fixed_window_run(honest, keys=(("a", 0.01), ("b", 0.01)), run_s=3.0)
    rest = fixed_window_run(honest, keys=(("a", 0.01),), run_s=1.0)
    rest["sent_ts"] += 6.0
    rest["intended_ts"] = rest["sent_ts"]
    both = pd.concat([events, rest], ignore_index=True)
    for col in ("phase", "outcome", "key_id", "endpoint"):
        both[col] = both[col].astype(str).astype("category")
    found = unanswered(both, "tight_loop", QUOTA | {"lockout_s": 8.0}, {"source": None})
    assert LOCKOUT in questions(found)
    why = next(q["why"] for q in found if q["question"].startswith(LOCKOUT))
    assert "less than the fitted lockout (8 s)" in why, why
    assert LOCKOUT not in questions(unanswered(both, "tight_loop", QUOTA, {"source": None}))


def polite_client(base_url: str, pairs: int) -> pd.DataFrame:
    """A polite client, by hand: asks until a 429, waits exactly its Retry-After from the
    reply, asks again (attempt 2 of the same logical request); `pairs` times. Each attempt a
    row, as the recorder would write it (the columns the answer reads)."""
    import time

    import httpx

    from ..gateway.helpers import ALICE, BODY, auth

    rows = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        def send(logical: str, attempt: int) -> dict:
            sent = time.time()
            r = client.post("/chat/completions", json=BODY, headers=auth(ALICE))
            rows.append({"phase": "polite", "endpoint": CHAT, "key_id": "alice",
                         "logical_id": logical, "attempt": attempt, "sent_ts": sent,
                         "latency_ms": (time.time() - sent) * 1000, "status": r.status_code,
                         "retry_after_s": float(r.headers.get("retry-after", "nan"))})
            return rows[-1]
        for i in range(pairs):
            for j in range(50):  # the quota is 3: a 429 comes by the 4th
                first = send(f"p{i}-{j}", 1)
                if first["status"] == 429:
                    break
            assert first["status"] == 429, rows
            time.sleep(max(0.0, first["sent_ts"] + first["latency_ms"] / 1000
                           + first["retry_after_s"] - time.time()))
            send(f"p{i}-{j}", 2)
    return pd.DataFrame(rows)


def test_a_real_lockout_behind_a_short_constant_wait_locks_a_polite_client_out(
        gateway_factory):
    """The reference gateway: 3 per 2 s, then locked out for 8 s from the first refusal,
    while every 429 says "wait 1 s". Three polite pairs take about 3 s, inside the lockout."""
    gw = gateway_factory("lockout", ["quota.window_s=2", "quota.limit=3", "quota.lockout_s=8",
                                     "quota.retry_after='constant'",
                                     "quota.retry_after_constant_s=1"])
    answer = polite_answer(polite_client(gw.base_url, 3))
    assert (answer["asked"], answer["let_in"], answer["refused"]) == (3, 0, 3)
    assert answer["headline"].startswith(
        "Waiting as told got in 0 of 3 times: a client that obeys Retry-After is locked out")
