"""Issue 10's acceptance check: on every reference profile, a tight loop then `report`; every
number in each section's headline, read from the page's text, is right against the profile's
TOML (the truth the gateway was started with) and the run's own events; the page opens in
headless Chromium with every image decoded.

The runs go two at a time (one per core); the busy profile runs 12 users, more than its 8
node slots, so that its 503 figures are about something."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from contract.events import key_fingerprint
from contract.probe_log import STEP_NAMES
from gateway.windows import key_phase_s
from .conftest import require_program
from .runs import env_without_target, rows

ROOT = Path(__file__).resolve().parents[1]
# Profiles a 12 s tight loop cannot settle (fit-modifiers, issue 13): it is refused from its
# first refusal to the end, which a window longer than the run, a limiter counting refused
# requests and a lockout all do. Their headline must say so: no model named as the answer,
# the kinds it cannot tell apart (the truth's among them) and `make probe` (check_unsettled).
UNSETTLED_BY_A_TIGHT_LOOP = {"counts-rejected", "sliding-counter-counts-rejected", "lockout",
                             "lockout-extends"}
# Every profile is held to its headline (shaping and the concurrency cap by check_shaping and
# check_concurrency, since issue 13).
PROFILES = sorted(p.stem for p in (ROOT / "gateway" / "profiles").glob("*.toml"))
USERS = {"busy": "12"}
CHAT = "/v1/chat/completions"

pytestmark = pytest.mark.slow


def profile_truth(name: str) -> dict:
    """The profile's tables merged over those it inherits from, as its file says."""
    raw = tomllib.loads((ROOT / "gateway" / "profiles" / f"{name}.toml").read_text())
    parent = raw.pop("inherit", None)
    merged = profile_truth(parent) if parent else {}
    for key, value in raw.items():
        merged[key] = (merged.get(key, {}) | value) if isinstance(value, dict) else value
    return merged


# The demo keys the runner uses (each key's phase is derived from the key itself).
KEYS = profile_truth("default")["keys"]


# A run beside the reference profiles: a token bucket whose every 429 says "wait 5 s" when
# the next token is at most 0.5 s away.
SLOW_RETRY_AFTER = ("token-bucket", ["quota.retry_after='constant'",
                                     "quota.retry_after_constant_s=5"])


def run_and_report(name: str, folder: Path) -> tuple[Path, str]:
    profile, overrides = SLOW_RETRY_AFTER if name == "slow-retry-after" else (name, [])
    run_dir = folder / name
    cmd = [sys.executable, "-m", "locustfiles.run", "tight_loop", "--profile", profile,
           "--run-dir", str(run_dir), "--duration", "12s", "--users", USERS.get(name, "4")]
    for o in overrides:
        cmd += ["--gateway-set", o]
    out = []
    for args in (cmd, [sys.executable, "-m", "analysis", "report", str(run_dir)]):
        proc = subprocess.run(args, capture_output=True, text=True, timeout=240, cwd=ROOT,
                              env=env_without_target())
        out.append(proc.stdout + proc.stderr)
        assert proc.returncode == 0, "\n".join(out)[-3000:]
    return run_dir, "\n".join(out)


@pytest.fixture(scope="module")
def runs(request, tmp_path_factory):
    """Every profile this session selected, run and reported two at a time."""
    mine = [item for item in request.session.items if item.module is sys.modules[__name__]]
    wanted = sorted({item.callspec.params["profile"] for item in mine
                     if hasattr(item, "callspec")})
    if any(item.name == "test_a_wait_far_longer_than_needed_is_conservative" for item in mine):
        wanted.append("slow-retry-after")
    folder = tmp_path_factory.mktemp("profiles")
    pool = ThreadPoolExecutor(max_workers=2)
    futures = {p: pool.submit(run_and_report, p, folder) for p in wanted}
    yield futures
    pool.shutdown(wait=True)


class ById(HTMLParser):
    """The text inside every element that has an id (nested ones included in their parent)."""

    VOID = {"img", "br", "meta", "input", "hr", "link"}

    def __init__(self):
        super().__init__()
        self.text: dict[str, str] = {}
        self.open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        ident = dict(attrs).get("id")
        self.open.append(ident)
        if ident:
            self.text[ident] = ""

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.open:
            self.open.pop()

    def handle_data(self, data):
        for ident in self.open:
            if ident:
                self.text[ident] += data


def page_text(run_dir: Path) -> dict[str, str]:
    parser = ById()
    parser.feed((run_dir / "index.html").read_text())
    return {k: " ".join(v.split()) for k, v in parser.text.items()}


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in: {text}"
    return float(found.group(1).replace(",", ""))


def sustained_truth(q: dict) -> float:
    return q["rate_per_s"] if q["algorithm"] == "token_bucket" else q["limit"] / q["window_s"]


def check_unsettled(q: dict, words: str, fitted: dict) -> None:
    """A run the tight loop could not settle: the headline names no model, says why and what
    would, and quota.indistinguishable lists the truth's kind of model (its family, with its
    lockout and whether refusals restart it, or counting refusals) with the probe's step that
    separates it; the admitted clump is the truth's limit (or burst) within 1."""
    assert words.startswith("Quota not identified"), words
    assert "did not reopen" in words and "make probe" in words, words
    named = [m for e in fitted["indistinguishable"] for m in e["models"]]
    # the truth's kind: its modifier, and its family when the run's candidates hold one
    truth = [m for m in named if ("lockout" in m) == ("lockout_s" in q)
             and ("refusals restart the lockout" in m) == bool(q.get("lockout_extends"))
             and ("refusals counted" in m) == bool(q.get("counts_rejected"))]
    assert truth, named
    family_words = q["algorithm"].replace("_", " ")
    if q.get("lockout_s") is not None:  # a lockout's quota is read off its first clump
        assert any(m.startswith(family_words) for m in truth), truth
    for m in truth:  # each named beside the fitted one, with a probe step that separates
        # them (the truth's kind may be named in the other scope, beside the fit's: then the
        # step is scope_uneven, as in a CI run where 4 users on 3 keys tied global and per key)
        entry = next(e for e in fitted["indistinguishable"] if m in e["models"])
        assert entry["experiment"] in STEP_NAMES and entry["experiment"] != "tight", entry
    size = q["burst"] if q["algorithm"] == "token_bucket" else q["limit"]
    assert fitted["algorithm"] == "unknown" and abs(fitted["limit"] - size) <= 1, fitted["limit"]


def check_quota(q: dict, words: str, events: list[dict] = (), fitted: dict | None = None
                ) -> None:
    """The quota section's words against the profile: the fit's promise is the right family
    and scope, limit or burst within 1, window or rate within 3%; an epoch window's phase
    within 0.15 s (each key's own, when the profile hashes the key into it), a lockout's
    length within 3% and whether refusals restart it, and whether refusals count."""
    if q["algorithm"] == "concurrency":
        check_concurrency(q, words, events)
        return
    scope = "per key" if q.get("scope", "per_key") == "per_key" else "shared by all keys"
    assert scope in words, words
    if "queueing" in q:
        check_shaping(q, words, events)
    if q["algorithm"] == "token_bucket":
        assert "Token bucket" in words or "token bucket" in words, words
        rate = number(r"([0-9.]+) requests/s sustained", words)
        burst = number(r"bursts of ([0-9]+)", words)
        assert rate == pytest.approx(q["rate_per_s"], rel=0.03) and abs(burst - q["burst"]) <= 1
        return
    name = {"fixed_window": "fixed window", "sliding_log": "sliding log",
            "sliding_counter": "sliding window counter"}[q["algorithm"]]
    assert name in words, words
    limit = number(r"([0-9]+) requests per", words)
    window = number(r"requests per ([0-9.]+) s", words)
    assert abs(limit - q["limit"]) <= 1 and window == pytest.approx(q["window_s"], rel=0.03)
    if q["algorithm"] == "fixed_window":
        where = {"epoch": "aligned to the clock", "first_request": "anchored at the first "
                 "request"}[q.get("alignment", "first_request")]
        assert where in words, words
    # --- fit-modifiers (issue 13)
    phase = q.get("phase_s") if q.get("alignment") == "epoch" else None
    if phase == "key_hash":
        assert "with each key's own phase" in words, words
        keys = {key_fingerprint(k["key"]): k["key"] for k in KEYS}
        assert fitted and isinstance(fitted["phase_s"], dict) and fitted["phase_s"], fitted
        for key_id, got in fitted["phase_s"].items():
            want = key_phase_s(keys[key_id], int(q["window_s"]))
            assert min(abs(got - want), q["window_s"] - abs(got - want)) <= 0.15, (key_id, got)
    elif phase:
        assert number(r"with a phase of ([0-9.]+) s", words) == pytest.approx(phase, abs=0.15)
    else:
        assert "phase of" not in words and "own phase" not in words, words
    if q.get("lockout_s") is not None:
        assert number(r"locked out for ([0-9.]+) s", words) == pytest.approx(q["lockout_s"],
                                                                             rel=0.03)
        assert ("every refusal during it restarts it" in words) == q["lockout_extends"], words
    else:
        assert "locked out" not in words, words
    assert ("rejected requests count too" in words) == bool(q.get("counts_rejected")), words
    # --- end fit-modifiers
    agreement = number(r"reproduces ([0-9.]+)% of", words)
    assert agreement >= 99.0


def shortfalls(events: list[dict]) -> np.ndarray:
    """Per 429 that stated a wait and was followed by an admission of its key: how long after
    the stated wait ran out (its reply's arrival + RA) that admission was sent."""
    out = []
    chat = sorted((e for e in events if e["endpoint"] == CHAT), key=lambda e: e["sent_ts"])
    by_key: dict[str, list[dict]] = {}
    for e in chat:
        by_key.setdefault(e["key_id"], []).append(e)
    for rows_ in by_key.values():
        next_ok = math.inf
        for e in reversed(rows_):
            if 200 <= e["status"] < 300:
                next_ok = e["sent_ts"]
            elif (e["status"] == 429 and e["retry_after_s"] is not None
                  and math.isfinite(e["retry_after_s"]) and math.isfinite(next_ok)):
                out.append(next_ok - (e["sent_ts"] + e["latency_ms"] / 1000
                                      + e["retry_after_s"]))
    return np.asarray(out, float)


def in_flight_most(events: list[dict], per_key: bool) -> int:
    """The most admitted chat completions in flight at once (send to reply), from the events."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        if e["endpoint"] == CHAT and 200 <= e["status"] < 300:
            spans.setdefault(e["key_id"] if per_key else "*", []).append(
                (e["sent_ts"], e["sent_ts"] + e["latency_ms"] / 1000))
    return max(max(sum(s <= t < end for s, end in group) for t, _ in group)
               for group in spans.values())


def check_shaping(q: dict, words: str, events: list[dict]) -> None:
    """A shaped bucket: the bucket as a token bucket's (check_quota goes on), held excess in
    words, and the queue's size: measured when the run overflowed it, else said to be not
    reached, with a lower bound that is at most the truth."""
    assert "token bucket with shaping" in words.lower(), words
    assert "excess requests are held and answered late, not refused" in words, words
    size = q["queueing"]["size"]
    refused = [e for e in events if e["endpoint"] == CHAT and e["status"] == 429]
    if refused:
        assert f"up to {size} at once (a request beyond them is refused)" in words, words
        return
    assert "the queue never overflowed (no 429), so its size and longest wait were not " \
        "reached" in words, words
    seen = number(r"at least ([0-9]+) held at once", words)
    # a request of a key is held only while another of that key is waiting or being let in
    assert 1 <= seen <= min(size, in_flight_most(events, per_key=True)), words
    waited = number(r"held at once and ([0-9.]+) s waited", words)
    assert 0 < waited <= size / q["rate_per_s"] + 0.1, words
    assert "`make probe`, would find them" in words, words


def check_concurrency(q: dict, words: str, events: list[dict]) -> None:
    """A concurrency cap: C within 1, scope and refusal status, when the run reached it; a
    tight loop of 4 users on 3 keys keeps at most 2 of a key in flight, under a cap of 2, so
    the page must say that nothing was refused, how many were in flight, that a cap of at
    least that many would refuse none, and that the probe would find it."""
    per_key = q.get("scope", "per_key") == "per_key"
    refusals = [e for e in events if e["endpoint"] == CHAT and e["status"] in (429, 503)]
    if refusals:
        assert "requests in flight" in words and abs(
            number(r"at most ([0-9]+) requests in flight", words) - q["limit"]) <= 1, words
        assert ("per key" in words) == per_key, words
        return
    seen = in_flight_most(events, per_key)
    assert seen <= q["limit"]  # the truth: the cap was never passed, so nothing refused
    assert words.startswith("No rate limit observed at up to"), words
    assert f"with up to {seen} requests admitted in flight at once per key" in words, words
    assert "a concurrency cap of at least that many would have refused none" in words, words
    assert "`make probe` ramps the requests in flight to find one" in words, words


def reopened(chat: list[dict]) -> bool:
    """Was any key admitted after its first 429 (the quota reopened during the run)?"""
    first_refusal: dict = {}
    for e in sorted(chat, key=lambda e: e["sent_ts"]):
        if e["status"] == 429:
            first_refusal.setdefault(e["key_id"], e["sent_ts"])
    return any(200 <= e["status"] < 300 and e["sent_ts"] > first_refusal.get(e["key_id"],
                                                                             math.inf)
               for e in chat)


def check_retry_after(truth: dict, text: str, events: list[dict]) -> None:
    q = truth["quota"]
    refused = [e for e in events if e["endpoint"] == CHAT and e["status"] == 429]
    stated = [e for e in refused if e["retry_after_s"] is not None
              and math.isfinite(e["retry_after_s"])]
    head = text["retry-after-headline"]
    if not refused:
        assert "Retry-After not judged: no 429 in the run" in head, head
        return
    if not reopened([e for e in events if e["endpoint"] == CHAT]):
        # a loop locked from its first refusal to the end (UNSETTLED_BY_A_TIGHT_LOOP): no
        # stated wait can be held to a reopening
        assert head.startswith("Retry-After not judged: no 429 with Retry-After was followed "
                               "by an admission"), head
        return
    carried = re.search(r"\((\d+) of (\d+) 429s carried it; (\d+) were followed", head)
    assert carried, head
    with_header, rejections, checked = map(int, carried.groups())
    assert (with_header, rejections) == (len(stated), len(refused))
    assert 0 < checked <= with_header or (with_header == 0 and checked == 0)
    mode = q.get("retry_after", "honest")
    if mode == "absent":
        assert with_header == 0 and "429s carry no Retry-After" in head
        assert "429s carry no Retry-After" in text["verdict"]
        return
    early = re.search(r"Retry-After (\w+): (?:none of (\d+)|(\d+) of (\d+) \(([0-9.]+)%\)) "
                      r"early", head)
    assert early, head
    verdict = early.group(1)
    assert f"Retry-After {verdict}:" in text["verdict"]
    n_early = 0 if early.group(2) else int(early.group(3))
    assert int(early.group(2) or early.group(4)) == checked
    if mode == "honest":
        assert verdict == "honest" and n_early <= 0.05 * checked
        assert "none over 1 s late" in head, head
    elif mode == "constant":
        # A constant wait shorter than the window: early whenever more than that wait (and
        # the 50 ms allowed) was left of the window when the 429 was answered. The window
        # reopened just before its key's next admission was sent (a tight loop sends within
        # a few ms of it), so each checked 429's shortfall is read from the events, not from
        # a share of the window's time: a loaded machine's loop does not send at an even
        # pace, and 93.1% of one CI run's 429s came in the early part of their window.
        wait, window = q["retry_after_constant_s"], q["window_s"]
        assert verdict == "optimistic"
        short = shortfalls(events)
        assert len(short) == checked
        assert short.max() <= window - wait + 0.1, head
        assert int((short > 0.05 + 0.25).sum()) <= n_early <= int((short > 0.05 - 0.25).sum()), \
            (head, np.sort(short)[::100])
        assert n_early >= 0.5 * checked, head
        most = number(r"early, by up to ([0-9.]+) s", head)
        assert short.max() - 0.3 <= most <= short.max() + 0.05, head
    else:
        raise AssertionError(f"no expectation for retry_after = {mode!r}")


def check_throughput(truth: dict, text: str, events: list[dict]) -> None:
    head = text["throughput-headline"]
    chat = [e for e in events if e["endpoint"] == CHAT]
    ok = [e for e in chat if 200 <= e["status"] < 300]
    intended = np.array([e["intended_ts"] if e["intended_ts"] is not None else e["sent_ts"]
                         for e in chat], float)
    span = float(intended.max() - intended.min()) * len(chat) / (len(chat) - 1)
    assert "One offered level" in head and "no curve" in head, head
    assert "stops growing" not in head
    attempts = number(r"([0-9,]+) attempts over", head)
    seconds = number(r"attempts over ([0-9.]+) s", head)
    goodput = number(r"gave ([0-9.,]+) ok/s", head)
    accepted = number(r"\(([0-9,]+) accepted\)", head)
    assert (attempts, accepted) == (len(chat), len(ok))
    refused = number(r"\((\d+) × 429", head)
    unavailable = number(r"(\d+) × 503\)", head)
    assert (refused, unavailable) == (sum(e["status"] == 429 for e in chat),
                                      sum(e["status"] == 503 for e in chat))
    error_fraction = number(r"error fraction ([0-9.]+)", head)
    assert error_fraction == pytest.approx(1 - len(ok) / len(chat), abs=0.0005)
    assert seconds == pytest.approx(span, abs=0.06)
    assert goodput == pytest.approx(len(ok) / span, rel=0.01)
    q = truth["quota"]
    # a shaped quota is reached without a 429: its excess is held, and it sustains its rate
    if not any(e["status"] == 429 for e in chat) and "queueing" not in q:
        assert "sustains" not in head  # no quota was reached: there is no rate to hold to
        return
    if any(e["status"] == 429 for e in chat) and not reopened(chat):
        # locked from the first refusal to the end: no rate was held
        assert "sustains" not in head, head
        return
    per_key = q.get("scope", "per_key") == "per_key"
    keys = len({e["key_id"] for e in ok}) if per_key else 1
    sustained = number(r"sustains ([0-9.,]+) ok/s", head)
    assert sustained == pytest.approx(sustained_truth(q) * keys, rel=0.03), head
    # What the quota allows in the run: bursts are where a short run's goodput comes from.
    if q["algorithm"] == "token_bucket":
        # a shaped one also lets in the queue's worth sent late in the run, answered after it
        held = q["queueing"]["size"] if "queueing" in q else 0
        allowed = keys * (q["burst"] + held + q["rate_per_s"] * span)
    else:
        allowed = keys * q["limit"] * (math.ceil(span / q["window_s"]) + 1)
    assert len(ok) <= allowed
    if abs(goodput / sustained - 1.1) > 0.01:  # the page decides on unrounded figures
        assert ("reads above the sustained rate" in head) == (goodput > 1.1 * sustained), head


def check_unavailable(text: str, events: list[dict]) -> None:
    n = sum(1 for e in events if e["endpoint"] == CHAT and e["status"] == 503)
    chat = sum(1 for e in events if e["endpoint"] == CHAT)
    assert number(r"503 \(no node free\): (\d+)", text["latency"]) == n
    share = number(r"503 \(no node free\): \d+ \(([0-9.]+)% of attempts\)", text["latency"])
    assert share == pytest.approx(100 * n / chat, abs=0.051)
    if n:
        assert f"{n} requests found no free node (503)" in text["verdict"]
    else:
        assert "no free node" not in text["verdict"]


# The rate-limit header reader's precedence (contract/ratelimit_families.py's docstring): the
# family a response carrying several is read as.
HEADER_PRECEDENCE = ("ietf-08", "ietf-07", "ietf-06", "anthropic", "openai", "github")
HEADER_WORDS = {"ietf-08": "IETF draft-08", "ietf-07": "IETF draft-07", "ietf-06":
                "IETF draft-06", "openai": "OpenAI", "anthropic": "Anthropic",
                "github": "X-RateLimit-*"}


def check_declared(profile: str, truth: dict, run_dir: Path, text: dict, events: list[dict]):
    """quota.declared and its sentence against what the profile's headers declare (the
    gateway's shapes: a bucket declares its burst per ceil(burst / rate) seconds, the drafts'
    windows rounded up to whole seconds) and whether that is the quota."""
    q = truth["quota"]
    summary = json.loads((run_dir / "summary.json").read_text())
    d = summary["quota"]["declared"]
    head = text["declared-headline"]
    sent = [f for f in HEADER_PRECEDENCE if f in q.get("headers", [])]
    if not sent:
        assert d is None and head.startswith("No chat response carried a rate-limit policy")
        return
    family = sent[0]
    lie = q.get("declares")
    bucket = q["algorithm"] == "token_bucket"
    limit, window = (q["burst"], q["burst"] / q["rate_per_s"]) if bucket else (q["limit"],
                                                                             q["window_s"])
    said_limit = lie["limit"] if lie else limit
    said_window = math.ceil(lie["window_s"] if lie else window) if "ietf" in family else None
    read = [e for e in events if e["endpoint"] == CHAT and e["ratelimit_family"] == family
            and e["ratelimit_limit"] is not None and math.isfinite(e["ratelimit_limit"])]
    assert (d["header_family"], d["limit"], d["window_s"]) == (family, said_limit, said_window)
    assert d["policies"] == [{"limit": said_limit, "window_s": said_window,
                              "responses": len(read)}]
    assert d["remaining"]["contradicted"] == 0  # the gateway's remaining is its limiter's
    assert head.startswith(f"The {HEADER_WORDS[family]}"), head
    if said_window is None:
        assert f"declare a limit of {said_limit} requests and no window" in head, head
    else:
        assert f"declare {said_limit} requests per {said_window} s" in head, head
    assert head in text["verdict"]
    fit = summary["quota"]
    if q["algorithm"] not in ("fixed_window", "sliding_log", "sliding_counter", "token_bucket") \
            or fit["algorithm"] == "none_observed":  # busy's bucket is never reached
        assert profile == "busy" and d["agrees"] is None and "not checked: no 429" in head
        return
    if profile in UNSETTLED_BY_A_TIGHT_LOOP:  # no quota fitted: nothing to hold it against
        assert fit["algorithm"] == "unknown" and d["agrees"] is None, d
        assert "not checked: the quota was not identified" in head, head
        return
    if not lie:
        assert d["agrees"] is True and "as observed" in head, head
        return
    assert d["agrees"] is False, d
    seen_limit = number(r"observed: ([0-9]+) per", head)
    seen_window = number(r"observed: [0-9]+ per ([0-9.]+) s", head)
    assert (seen_limit, seen_window) == (fit["limit"], fit["window_s"])  # as the fit says
    assert abs(seen_limit - limit) <= 1 and seen_window == pytest.approx(window, rel=0.03)
    more = lie["limit"] / lie["window_s"] > limit / window
    assert f"— the headers {'overstate' if more else 'understate'} the quota." in head, head


@pytest.mark.parametrize("profile", PROFILES)
def test_headlines_are_right_against_the_profile(profile, runs, tmp_path):
    run_dir, log = runs[profile].result()
    truth = profile_truth(profile)
    text = page_text(run_dir)
    events = rows(run_dir)
    q = truth["quota"]
    quota_words = text["quota-headline"]
    if profile == "busy":
        # 50/s per key with bursts of 100: 12 s of a tight loop never reach it
        reached = number(r"(?i)No rate limit observed at up to ([0-9.]+) requests/s", quota_words)
        assert reached < q["rate_per_s"]
        ok = [e["sent_ts"] for e in events if e["endpoint"] == CHAT and 200 <= e["status"] < 300]
        decided = [e["sent_ts"] for e in events if e["endpoint"] == CHAT and e["status"] in
                   (200, 201, 202, 204, 400, 403, 404, 409, 422, 429, 503)]
        assert reached == pytest.approx(len(ok) / (max(decided) - min(decided)), rel=0.02)
        assert sum(1 for e in events if e["status"] == 503) > 0, "busy should refuse some"
    elif profile in UNSETTLED_BY_A_TIGHT_LOOP:
        check_unsettled(q, quota_words, json.loads((run_dir / "summary.json").read_text())["quota"])
    else:
        check_quota(q, quota_words, events,
                    json.loads((run_dir / "summary.json").read_text())["quota"])
    check_retry_after(truth, text, events)
    check_throughput(truth, text, events)
    check_unavailable(text, events)
    check_declared(profile, truth, run_dir, text, events)
    for section in ("status", "quota", "retry-after", "throughput", "latency", "keys"):
        assert section in text

    chromium = require_program("chromium")
    html = (run_dir / "index.html").read_text()
    images = html.count("<img ")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'chromium'}",
             "--virtual-time-budget=3000", "--dump-dom", (run_dir / "index.html").as_uri()]
    dom = subprocess.run(flags, capture_output=True, text=True, timeout=120).stdout
    decoded = re.search(r'data-images-ok="(\d+)/(\d+)"', dom)
    assert decoded, dom[-2000:]
    assert images >= 5 and decoded.groups() == (str(images), str(images))


def test_a_wait_far_longer_than_needed_is_conservative(runs):
    run_dir, _ = runs["slow-retry-after"].result()
    text = page_text(run_dir)
    head = text["retry-after-headline"]
    checked = int(re.search(r"(\d+) were followed by an admission and checked", head).group(1))
    assert checked > 0
    assert head.startswith(f"Retry-After conservative: none of {checked} early; "), head
    late = re.search(r"(\d+) of (\d+) \(([0-9.]+)%\) over 1 s late, by up to ([0-9.]+) s", head)
    assert late, head
    assert int(late.group(2)) == checked and int(late.group(1)) > 0.5 * checked
    # 5 s stated where the next of 2 tokens a second is at most 0.5 s away
    assert 4.0 <= float(late.group(4)) <= 5.0
    assert "Retry-After conservative:" in text["verdict"]
