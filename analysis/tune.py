"""From a run to recommended client settings: the server model, the grid, the code to paste."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from .simulate import (Outcome, Policy, ServerModel, poisson_arrivals, policy_grid, recommend,
                      simulate)
from .decisions import CHAT
from .quota import QuotaFit
from .quota.held import fast_503
from .retry_after import RetryAfterAudit


class TuneError(ValueError):
    """A run that gives nothing to tune against; the message says why."""


def server_model(events: pd.DataFrame, fit: QuotaFit, audit: RetryAfterAudit) -> ServerModel:
    """The run's gateway as the simulator replays it: its fitted quota, or, when no quota was
    reached but some requests found no free node, its 503s alone (what retries can win)."""
    chat = events[events["endpoint"] == CHAT]
    status = chat["status"]
    if fit.refusal_status == 503:
        # the quick 503s are the fitted limiter's refusals: replayed as its 429s, not also as
        # a node pool's random 503s on top of them
        status = status.where(~fast_503(chat), 429)
    if fit.algorithm == "none_observed" and not (status == 503).any():
        raise TuneError("no 429 and no 503 in this run: there is neither a quota nor a lack "
                        "of capacity to tune against (offer more load, for example make "
                        "tight-loop, then tune that run)")
    if fit.algorithm != "none_observed" and (
            fit.algorithm in ("unknown", "concurrency") or not (fit.rate_per_s or fit.window_s)):
        raise TuneError(f"the quota was not identified ({fit.note or fit.algorithm}): "
                        "tuning needs a fitted quota")
    admitted = status.between(200, 299) | (status == 503)
    lat = chat["latency_ms"] / 1000

    def median(mask, default):
        v = lat[mask].to_numpy(float)
        v = v[np.isfinite(v)]
        return float(np.median(v)) if len(v) else default

    rejected_ms = lat[status == 429].to_numpy(float) * 1000
    rejected_ms = rejected_ms[np.isfinite(rejected_ms)]
    # the spread of quick 429 round trips: how unevenly attempts reach the server
    jitter_s = (float(np.percentile(rejected_ms, 90) - np.percentile(rejected_ms, 10)) / 1000
                if len(rejected_ms) >= 10 else 0.001)
    stated = chat.loc[status == 429, "retry_after_s"].to_numpy(float)
    stated = stated[np.isfinite(stated)]
    if audit.verdict == "absent" or len(stated) == 0:
        mode, constant = "absent", 1.0
    elif audit.verdict == "optimistic":
        mode, constant = "constant", float(np.median(stated))
    elif np.any(np.abs(stated - np.round(stated)) > 1e-6):
        mode, constant = "exact", 1.0  # fractional waits: retry-after-ms
    else:
        mode, constant = "whole", 1.0
    profile = unavailable_profile(chat) if (status == 503).any() else None
    u_ra = chat.loc[status == 503, "retry_after_s"].to_numpy(float)
    u_ra = u_ra[np.isfinite(u_ra)]
    return ServerModel(
        algorithm=fit.algorithm, limit=fit.limit, window_s=fit.window_s,
        rate_per_s=fit.rate_per_s if fit.algorithm == "token_bucket" else None,
        burst=fit.burst, alignment=fit.alignment, counts_rejected=fit.counts_rejected,
        queueing=fit.queueing, phase_s=fit.phase_s, lockout_s=fit.lockout_s,
        lockout_extends=fit.lockout_extends, retry_after=mode, retry_after_constant_s=constant,
        p_unavailable=float((status == 503).sum() / admitted.sum()) if admitted.any() else 0.0,
        unavailable_retry_after_s=float(np.median(u_ra)) if len(u_ra) else None,
        unavailable_by_second=profile,
        latency_ok_s=median(status.between(200, 299), 0.1),
        latency_rejected_s=median(status == 429, 0.002),
        latency_unavailable_s=median(status == 503, 0.05),
        decision_jitter_s=max(0.0005, min(jitter_s, 0.05)))


def unavailable_profile(chat: pd.DataFrame) -> list[float]:
    """The share of 200/503 answers that were 503, for each second of the run; a second with
    no such answer takes the run's overall share."""
    status = chat["status"].to_numpy()
    sent = chat["sent_ts"].to_numpy(float)
    answered = ((status >= 200) & (status < 300)) | (status == 503)
    sec = np.floor(sent[answered] - sent[answered].min()).astype(int)
    n = np.bincount(sec)
    refused = np.bincount(sec, weights=(status[answered] == 503).astype(float), minlength=len(n))
    overall = refused.sum() / n.sum()
    return [float(r / c) if c else float(overall) for r, c in zip(refused, n)]


def tune(server: ServerModel, offered_per_s: float, *, logical: int = 10_000,
         deadline_s: float = 30.0, max_rejected_per_success: float = 0.2,
         max_p99_s: float | None = None, progress: Callable[[str], None] | None = None,
         grid: list[Policy] | None = None) -> dict:
    grid = grid or policy_grid()
    capacity_only = not math.isfinite(server.sustained_rate)
    if capacity_only:
        # no quota rate to pace at: a pacer setting would be the same policy under another name
        grid = [p for p in grid if not p.pacer_fraction]
    outcomes: list[Outcome] = []
    # One arrival schedule for every setting (their jitter draws differ): settings then differ
    # by what they do, not by which schedule they met, and the best is not just the luckiest.
    arrivals = poisson_arrivals(offered_per_s, logical, 0)
    for i, policy in enumerate(grid, 1):
        outcomes.append(simulate(policy, server, offered_per_s, logical, deadline_s, seed=i,
                                 arrivals=arrivals))
        if progress and (i % 50 == 0 or i == len(grid)):
            progress(f"simulated {i}/{len(grid)} policy settings")
    # Without a quota every retrying setting recovers nearly all 503s: of those within 1% of
    # the most goodput, the one sending the fewest attempts (each retry is load on a
    # crowded gateway).
    best = recommend(outcomes, max_rejected_per_success, max_p99_s,
                     goodput_tolerance=CAPACITY_TOLERANCE if capacity_only else 0.0)
    sdk = next(o for o in outcomes if o.params["kind"] == "sdk_default")
    none = next(o for o in outcomes if o.params["kind"] == "none")
    return {
        "offered_per_s": offered_per_s, "deadline_s": deadline_s, "logical_requests": logical,
        "limits": {"max_429_per_success": max_rejected_per_success, "max_p99_s": max_p99_s},
        "server": server.__dict__, "capacity_only": capacity_only,
        "ideal_goodput_per_s": sdk.ideal_goodput_per_s,
        "recommended": best.as_dict() if best else None,
        "sdk_default": sdk.as_dict(), "no_retry": none.as_dict(),
        "unavailable_note": unavailable_note(server) if server.p_unavailable else "",
        "retry_gain": {name: retry_gain(o.as_dict(), none.as_dict())
                       for name, o in (("recommended", best), ("sdk_default", sdk)) if o},
        "policies": [o.as_dict() for o in outcomes],
        "code": client_code(best.params, server) if best else {},
        "note": "" if best else ("no setting met the limits: loosen --max-429-per-success or "
                                 "--max-p99-s"),
    }


CAPACITY_TOLERANCE = 0.01


def unavailable_note(server: ServerModel) -> str:
    """What the simulation assumes of the run's 503s, in words."""
    ra = server.unavailable_retry_after_s
    profile = server.unavailable_by_second or []
    busy = sum(1 for p in profile if p > 0)
    out = (f"{server.p_unavailable:.1%} of the attempts answered 200 or 503 found no free node "
           f"(503{f', Retry-After {ra:g} s' if ra is not None else ', no Retry-After'})")
    if profile:
        out += (f", in {busy} of the run's {len(profile)} seconds; the simulation replays "
                f"that share second by second (the run's {len(profile)} s repeated), so a "
                "retry that comes back within an outage meets it again")
    return out + (". A 503 from the gateway's own saturation grows with the load that "
                  "retries add, which the simulation does not model: the live check "
                  "measures it.")


def default_offered(server: ServerModel, events: pd.DataFrame) -> float:
    """Logical requests/s to simulate: 1.2 x the quota's rate, or, with no quota reached,
    the rate the run itself offered (first attempts per second)."""
    if math.isfinite(server.sustained_rate):
        return 1.2 * server.sustained_rate
    chat = events[(events["endpoint"] == CHAT) & (events["attempt"] == 1)]
    sent = chat["sent_ts"].to_numpy(float)
    sent = sent[np.isfinite(sent)]
    span = float(sent.max() - sent.min()) if len(sent) >= 2 else 0.0
    if span <= 0:
        raise TuneError("the run is too short to say what load it offered: give --offered")
    return len(sent) / span


def retry_gain(o: dict, none: dict) -> str:
    """How much goodput a policy's retries win (or lose) over not retrying at all."""
    diff = o["goodput_per_s"] - none["goodput_per_s"]
    share = f" ({diff / none['goodput_per_s']:+.0%})" if none["goodput_per_s"] else ""
    return (f"{'wins' if diff >= 0 else 'loses'} {abs(diff):.3g} ok/s{share} over not "
            f"retrying ({none['goodput_per_s']:.3g} ok/s)")


def tune_lines(backoff: dict) -> list[str]:
    """What `tune` prints of its simulation: every figure says it is simulated, and of what
    (the live check's figures, printed after, are of another, shorter schedule)."""
    best, sdk = backoff["recommended"], backoff["sdk_default"]
    out = [f"simulation ({backoff['logical_requests']} logical requests at "
           f"{backoff['offered_per_s']:.3g}/s, deadline {backoff['deadline_s']:g} s):"]
    if best:
        out.append(f"  recommended, simulated: {best['policy']}: {best['goodput_per_s']:.3g} "
                   f"ok/s of an ideal {backoff['ideal_goodput_per_s']:.3g}, "
                   f"{best['rejected_per_success']:.3g} 429s per success, "
                   f"p99 {best['p99_s']:.3g} s")
    else:
        out.append(f"  no recommendation: {backoff['note']}")
    out.append(f"  OpenAI SDK default, simulated: {sdk['goodput_per_s']:.3g} ok/s, "
               f"{sdk['rejected_per_success']:.3g} 429s per success, p99 {sdk['p99_s']:.3g} s")
    if backoff.get("unavailable_note"):
        gains = backoff.get("retry_gain") or {}
        for name, label in (("recommended", "the recommended policy"),
                            ("sdk_default", "the SDK default")):
            if gains.get(name):
                out.append(f"  503s: {label} {gains[name]}, simulated")
        out.append(f"  note: {backoff['unavailable_note']}")
    return out


def client_code(p: dict, server: ServerModel) -> dict[str, str]:
    """Ready-to-paste settings for the OpenAI SDK, tenacity and plain httpx."""
    retries = p["max_retries"]
    pace = (f"{p['pacer_fraction'] * server.sustained_rate:.4g}" if p.get("pacer_fraction")
            else None)
    if p["kind"] == "retry_after":
        wait_expr = f"stated + random.uniform(0, {p['jitter_s']:g})"
    elif p["kind"] == "decorrelated":
        wait_expr = (f"(prev := min({p['cap_s']:g}, random.uniform({p['base_s']:g}, "
                     f"max({p['base_s']:g}, prev * 3))))")
    elif p["kind"] == "equal_jitter":
        wait_expr = (f"(lambda d: d / 2 + random.uniform(0, d / 2))(min({p['cap_s']:g}, "
                     f"{p['base_s']:g} * 2 ** attempt))")
    else:
        wait_expr = f"random.uniform(0, min({p['cap_s']:g}, {p['base_s']:g} * 2 ** attempt))"
    pacer = ("" if not pace else
             f"\n# Pace sends at {pace} requests/s: the quota's sustained rate"
             f" x {p['pacer_fraction']:g}.\n"
             "_next_send = [0.0]\n\n\ndef pace():\n"
             f"    now = time.monotonic()\n    wait = _next_send[0] - now\n"
             f"    _next_send[0] = max(now, _next_send[0]) + 1 / {pace}\n"
             "    if wait > 0:\n        time.sleep(wait)\n")
    call_pace = "        pace()\n" if pace else ""
    common = ("import os\nimport random\nimport time\n")
    openai_code = (
        common + "\nfrom openai import OpenAI, RateLimitError, InternalServerError\n\n"
        "# The SDK's own retries would ignore this policy: turn them off, retry around it.\n"
        "client = OpenAI(base_url=os.environ['PINAIVU_BASE_URL'],\n"
        "                api_key=os.environ['PINAIVU_API_KEY'], max_retries=0, timeout=60)\n"
        + pacer +
        f"\n\ndef create(**kwargs):\n    prev = {p['base_s']:g}\n"
        f"    for attempt in range({retries} + 1):\n"
        + call_pace +
        "        try:\n            return client.chat.completions.create(**kwargs)\n"
        "        except (RateLimitError, InternalServerError) as err:\n"
        f"            if attempt == {retries}:\n                raise\n"
        "            header = err.response.headers.get('retry-after-ms')\n"
        "            stated = float(header) / 1000 if header else float(\n"
        "                err.response.headers.get('retry-after', 'nan'))\n"
        "            stated = 0.0 if stated != stated else stated\n"
        f"            time.sleep({wait_expr})\n")
    tenacity_code = (
        common + "\nfrom openai import OpenAI, RateLimitError, InternalServerError\n"
        "from tenacity import retry, retry_if_exception_type, stop_after_attempt\n\n"
        "client = OpenAI(base_url=os.environ['PINAIVU_BASE_URL'],\n"
        "                api_key=os.environ['PINAIVU_API_KEY'], max_retries=0)\n\n\n"
        "def wait(state):\n    attempt = state.attempt_number - 1\n"
        f"    prev = getattr(state, 'prev', {p['base_s']:g})\n"
        "    err = state.outcome.exception()\n"
        "    header = err.response.headers.get('retry-after')\n"
        "    stated = float(header) if header and header.replace('.', '', 1).isdigit() else 0.0\n"
        f"    state.prev = delay = {wait_expr}\n    return delay\n\n\n"
        f"@retry(wait=wait, stop=stop_after_attempt({retries + 1}),\n"
        "       retry=retry_if_exception_type((RateLimitError, InternalServerError)),\n"
        "       reraise=True)\ndef create(**kwargs):\n"
        "    return client.chat.completions.create(**kwargs)\n")
    httpx_code = (
        common + "\nimport httpx\n" + pacer +
        "\n\ndef create(client: httpx.Client, body: dict) -> dict:\n"
        f"    prev = {p['base_s']:g}\n"
        f"    for attempt in range({retries} + 1):\n" + call_pace +
        "        r = client.post(os.environ['PINAIVU_BASE_URL'] + '/chat/completions', json=body,\n"
        "                        headers={'Authorization': 'Bearer ' + os.environ['PINAIVU_API_KEY']})\n"
        "        if r.status_code not in (429, 503) or attempt == " + str(retries) + ":\n"
        "            r.raise_for_status()\n            return r.json()\n"
        "        ms = r.headers.get('retry-after-ms')\n"
        "        stated = float(ms) / 1000 if ms else float(r.headers.get('retry-after', 0))\n"
        f"        time.sleep({wait_expr})\n")
    return {"openai": openai_code, "tenacity": tenacity_code, "httpx": httpx_code}
