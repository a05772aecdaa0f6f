"""The probe's steps and rules with facts missing: each returns what it has rather than
failing on a None or a zero (a fake prober that records what it is asked to send)."""

from __future__ import annotations

import math

import pytest

from locustfiles.common import probe_steps as steps
from locustfiles.common.probe_hypotheses import Knowledge
from locustfiles.common.probe_rules import learn

T0 = 1_000_000.0


class FakeProber:
    """Answers every send with the next canned status; counts what it was asked."""

    def __init__(self, statuses=(), deadline=math.inf) -> None:
        self.statuses, self.asked, self.sent, self.others = list(statuses), [], 0, []
        self.deadline = deadline

    def left(self) -> float:
        return self.deadline

    def sleep_until(self, when: float) -> None:
        pass

    def send(self, phase, **_):
        self.sent += 1
        status = self.statuses.pop(0) if self.statuses else 429
        return steps.Reply(status, T0, T0 + 0.01, 1.0 if status == 429 else math.nan,
                           math.nan)

    def together(self, phase, n, **_):
        self.asked.append(n)
        return [self.send(phase) for _ in range(n)]


def test_a_refill_after_a_stated_wait_of_zero_and_no_rate_does_not_divide_by_zero():
    k = Knowledge()
    k.facts.update(burst=6, ra1=0.0, t0=T0, burst_s=0.2)
    k.done.append("idle_burst")
    said, _ = learn(k, "idle_burst", {"sent": 8, "admitted": 6, "refused": 2, "t0": T0 + 5,
                                      "ra_s": 0.0, "idle_s": 2.4})
    # with nothing stated, the wait is the 1 s first_wait falls back on: 1 + 2.4 refilled
    assert "where a bucket refilling as seen would give 3: a sliding counter" in said, said


def test_a_split_with_no_reopening_seen_returns_without_sending():
    k = Knowledge()
    k.facts.update(burst=6, t0=T0)  # no reopen_ts, no period1, no second tight loop
    p = FakeProber()
    assert steps.split(p, k) == {"half": 3} and p.sent == 0
    learn(k, "split", {"half": 3})  # and the rule takes it


def test_scope_needs_another_key_that_answered():
    k = Knowledge(keys=3)
    k.families = {"token_bucket"}
    said, out = learn(k, "scope_uneven", {"this_refused": True, "others": 0,
                                          "others_admitted": 0})
    assert k.scope is None and out == [] and "no answer" in said, said


class FailingOthers(FakeProber):
    """Another key's send meets the budget's end in its greenlet."""

    def send(self, phase, key=None, **kw):
        if key is not None:
            raise steps.OutOfBudget("the request cap (3) is spent")
        return super().send(phase, **kw)


def test_a_send_that_fails_in_a_greenlet_ends_the_scope_step():
    from locustfiles.common import probe_steps_parallel as parallel
    k = Knowledge(keys=3)
    k.facts.update(burst=1)
    p = FailingOthers([429])
    p.others = ["pk-b", "pk-c"]
    p.next = p.send
    with pytest.raises(steps.OutOfBudget, match="cap"):
        parallel.scope_uneven(p, k)


class Clock:
    now = T0

    @classmethod
    def time(cls) -> float:
        return cls.now


class CannedUser:
    """Replies (status, latency) in order, on a fake clock: latencies are exact."""

    def __init__(self, replies) -> None:
        self.replies = list(replies)

    def chat(self, **_):
        status, latency = self.replies.pop(0)
        Clock.now += latency
        return type("A", (), {"status": status, "retry_after_s": math.nan,
                              "reset_s": math.nan})()


def test_a_503_faster_than_any_admission_is_a_refusal_and_a_slow_one_is_not(monkeypatch):
    monkeypatch.setattr(steps, "time", Clock)
    # nginx limit_req's 503 comes back at once; a busy pool's after its routing delay
    p = steps.Prober(CannedUser([(503, 0.015), (200, 0.11), (503, 0.002), (503, 0.4),
                                 (503, 0.03), (429, 0.002)]), math.inf, 100, [])
    # sent together, the 503 came back first: judged against the wave's admission (within
    # a fifth of its 0.11 s)
    first = p.together("idle_burst", 2)
    assert [r.refused for r in first] == [True, False]
    # at once; after a routing delay, slower than the admission or faster (a busy pool's
    # 30 ms is not a limiter's); a 429 always
    assert [p.send("tight").refused for _ in range(4)] == [True, False, False, True]


def test_the_own_keys_stated_reopening_is_the_latest_since_its_last_admission():
    """Where refusals count, each states a later reopening: the latest one stands; an
    admission, a refusal that states nothing, or none at all leaves it unknown; another
    key's replies are not the probe's key's."""
    from types import SimpleNamespace

    answers = []

    class User:
        def chat(self, **_):
            status, ra = answers.pop(0)
            return SimpleNamespace(status=status, retry_after_s=ra, reset_s=math.nan)

    p = steps.Prober(User(), math.inf, 100, ["other"])
    assert p.stated_reopening() is None
    answers += [(200, math.nan), (429, 2.0), (429, 1.0)]
    first = [p.send("tight") for _ in range(3)]
    assert p.stated_reopening() == pytest.approx(first[1].recv + 2.0)
    answers.append((200, math.nan))
    p.send("scope_uneven", key="other")  # another key's admission changes nothing
    assert p.stated_reopening() == pytest.approx(first[1].recv + 2.0)
    answers += [(200, math.nan)]
    p.send("tight")
    assert p.stated_reopening() is None
    answers += [(429, math.nan)]
    p.send("tight")
    assert p.stated_reopening() is None


def test_pacing_from_a_bucket_already_empty_sends_nothing_to_empty_it():
    """The step before ended refused with a stated reopening: pace waits for it and paces
    from there; no request is spent on emptying (where refusals count, it would cost a
    token's time). Else it empties the bucket first."""
    from locustfiles.common import probe_steps_parallel as parallel

    class Pacer(FakeProber):
        def __init__(self, reopening, statuses=()):
            super().__init__(statuses)
            self.reopening, self.emptied = reopening, 0

        def stated_reopening(self):
            return self.reopening

        def until_refused(self, phase, most, **_):
            self.emptied += 1
            got = [self.send(phase)]
            self.reopening = got[-1].recv + got[-1].wait
            return got

    k = Knowledge()
    k.facts.update(rate=3.0, burst=4)
    p = Pacer(T0 + 1.0, statuses=[200] * 20)
    out = parallel.pace(p, k, "pace_under", 0.8)
    assert p.emptied == 0 and out["sent"] == p.sent == out["admitted"] == 6  # 2.5 s at 2.4/s
    p = Pacer(None)
    parallel.pace(p, k, "pace_over", 1.25)
    assert p.emptied == 1 and p.sent == 1 + 8  # 2 s at 3.75/s, after the one that emptied
