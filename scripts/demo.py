"""The demo: the reference gateway's walls one request each; then a tight loop, a spike and a
sweep, each against a fresh gateway, with their reports; backoff tuned on the tight loop's
quota and checked live; then a one-paragraph summary and the paths to read. Runs from
`make demo`; every server it starts, it stops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from contract.run_folder import new_run_id  # noqa: E402
from contract.runner import runner_command  # noqa: E402
from contract.target import REPORTS_DIR_ENV, reports_dir  # noqa: E402
from gateway.launch import GatewayStartError, start_gateway  # noqa: E402

START = time.monotonic()
KEY = "pk-demo-alice-0001"
BODY = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "Say hello"}]}


def show(label: str, r: httpx.Response) -> None:
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    what = (body.get("request_id") or body.get("error", {}).get("code")
            or (body.get("detail") or [{}])[0].get("loc"))
    extra = "".join(f" {h}={r.headers[h]}" for h in ("retry-after", "retry-after-ms")
                    if h in r.headers)
    print(f"  {label:<34} {r.status_code}  {what}{extra}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="default")
    parser.add_argument("--reports-dir", type=Path, default=None,
                        help=f"where the demo's run folders go (default: ${REPORTS_DIR_ENV}, "
                             "else reports/ in the checkout)")
    args = parser.parse_args()
    reports_root = (args.reports_dir or reports_dir(ROOT / "reports")).resolve()
    try:
        gw = start_gateway(args.profile)
    except GatewayStartError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    with gw, httpx.Client(base_url=gw.base_url, timeout=10) as c:
        print(f"Reference gateway ({args.profile}) on {gw.base_url}")
        auth = {"Authorization": f"Bearer {KEY}"}
        show("200 completion", c.post("/chat/completions", json=BODY, headers=auth))
        show("401 no Authorization header", c.post("/chat/completions", json=BODY))
        show("401 revoked key", c.post("/chat/completions", json=BODY,
                                       headers={"Authorization": "Bearer pk-demo-revoked"}))
        show("403 key scoped to llama3.2:1b", c.post(
            "/chat/completions", json=BODY, headers={"Authorization": "Bearer pk-demo-scoped-1b"}))
        show("404 model llama-3.2-3b", c.post("/chat/completions", headers=auth,
                                               json=BODY | {"model": "llama-3.2-3b"}))
        show("422 temperature 5", c.post("/chat/completions", headers=auth,
                                         json=BODY | {"temperature": 5}))
        statuses = []
        for _ in range(50):
            r = c.post("/chat/completions", json=BODY, headers=auth)
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
        print(f"  tight loop: {statuses.count(200)} x 200, then")
        show("429 quota reached", r)
    if r.status_code != 429:
        print("demo: the quota never answered 429", file=sys.stderr)
        return 1
    return load_and_report(args.profile, reports_root)


ROOT = Path(__file__).resolve().parent.parent
# Each scenario meets a fresh gateway (its own quota state), started and stopped by the
# runner; the phases are short so that the whole demo stays within about two minutes. The
# tight loop comes last: `make compare` then pairs the tight loops of two demos.
SCENARIOS = [
    # The baseline user (about 0.9 requests/s) stays under the default quota of 2/s per key;
    # 24 spike users on three keys offer about 7/s per key, over what a fresh window holds.
    # The recovery outlasts the spike's windows (10 s from each key's first request): it shows
    # the refusals clearing.
    ("spike", "a spike (1 user for 4 s, 24 for 4 s, 1 again for 10 s)",
     ["--users", "1", "--duration", "21s"],
     ["--baseline-users", "1", "--spike-users", "24", "--baseline-s", "4", "--spike-s", "4",
      "--recovery-s", "10"]),
    ("sweep", "a sweep (1, 2, 4, 8 requests/s, 3 s each, on one key)",
     ["--users", "1", "--duration", "17s"], ["--rates", "1,2,4,8", "--step-s", "3"]),
    ("tight_loop", "a 12 s tight loop (4 users on 3 demo keys)",
     ["--users", "4", "--duration", "12s"], []),
]


def step(message: str) -> None:
    print(f"\n[{time.monotonic() - START:5.0f} s] {message}", flush=True)


def start(cmd: list[str]) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINAIVU_")}
    return subprocess.Popen([sys.executable, *cmd], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, what: str) -> str | None:
    """The process's output once it ends; None (after saying why) when it failed."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        print(f"demo: {what} failed (exit {proc.returncode}):\n{err[-2000:]}", file=sys.stderr)
        return None
    return out


def load_and_report(profile: str, reports_root: Path) -> int:
    started = dt.datetime.now(dt.UTC)  # one run-id time for the demo's three runs
    runs: dict[str, Path] = {}
    # The spike and the sweep are light (tens of requests a second) and run side by side, each
    # against its own gateway; the tight loop keeps both cores to itself.
    for group in (SCENARIOS[:2], SCENARIOS[2:]):
        step(" and ".join(words for _, words, _, _ in group) +
             f", {'each ' if len(group) > 1 else ''}against a fresh gateway ({profile})...")
        procs = []
        for scenario, _, runner_args, locust_args in group:
            runs[scenario] = reports_root / new_run_id(f"demo-{profile}-{scenario}", started)
            procs.append((scenario, start(runner_command(
                scenario, profile=profile, runner_args=runner_args, run_dir=runs[scenario],
                locust_args=locust_args)[1:])))
        outputs = [finish(proc, f"the {scenario} run") for scenario, proc in procs]
        if None in outputs:
            return 1
        print("".join(f"  {line}\n" for out in outputs for line in out.splitlines()
                      if line.startswith("run: ")), end="")
    # The spike's and the sweep's reports run beside the tuner's simulation, not beside any
    # load: a busy machine blurs the timing that the quota fit and the live check read. They
    # take a few seconds; the simulation before the live check takes longer.
    step("the spike's and the sweep's reports; tuning backoff on the tight loop's quota: 264 "
         "policy settings simulated, then the recommended one and the OpenAI SDK's default "
         "sent live for 20 s...")
    reports = [subprocess.Popen([sys.executable, "-m", "analysis", "report", str(runs[s])],
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True) for s in ("spike", "sweep")]
    tune = finish(start(["-m", "analysis", "tune", str(runs["tight_loop"]), "--logical",
                         "2000", "--live-s", "20"]), "tuning")
    for proc in reports:
        if proc.wait() != 0:
            print(f"demo: a report failed:\n{proc.stderr.read()[-2000:]}", file=sys.stderr)
            return 1
    if tune is None:
        return 1
    print("".join(f"  {line}\n" for line in tune.splitlines()
                  if not line.startswith(("report:", "runs index:"))), end="")
    summaries = {k: json.loads((p / "summary.json").read_text()) for k, p in runs.items()}
    step("done.")
    print(f"\n{paragraph(profile, summaries)}\n")
    for scenario, path in runs.items():
        print(f"{scenario + ' report:':<20} {path / 'index.html'}")
    print(f"report: {runs['tight_loop'] / 'index.html'}")
    print(f"runs index: {reports_root / 'index.html'}")
    return 0


def _cleared(spike: dict) -> str:
    timing = (spike.get("latency") or {}).get("spike") or {}
    if timing.get("recovered_after_s") is not None:
        return f" (clear {timing['recovered_after_s']:g} s into it)"
    return " (not clear by its end)" if "recovered_after_s" in timing else ""


def _against_sustained(throughput: dict, span_s: float) -> str:
    """A level's goodput beside what the fitted quota sustains: a level shorter than the
    quota's window holds the bursts a fresh window allows, not a rate a client keeps."""
    rate, period = throughput.get("sustained_per_s"), throughput.get("quota_period_s")
    if not rate:
        return ""
    if period and span_s < period:
        return (f" for {span_s:.2g} s (bursts from fresh windows: the quota sustains "
                f"{rate:.3g} ok/s over its {period:.3g} s window)")
    return f" (the fitted quota sustains {rate:.3g} ok/s)"


def paragraph(profile: str, s: dict[str, dict]) -> str:
    """What the demo found, in one paragraph, from the three summaries."""
    tl, spike, sweep = s["tight_loop"], s["spike"], s["sweep"]
    q = tl["quota"]
    out = [f"Against the reference gateway ({profile} profile), the tight loop found "
           f"{q['description']} (the fitted model reproduces {q['agreement']:.1%} of the "
           f"gateway's decisions); Retry-After was {tl['retry_after']['verdict']}."]
    levels = {lv["level"]: lv for lv in spike["throughput"]["levels"]}
    if "spike" in levels:
        sp = levels["spike"]
        rec = levels.get("recovery", {})
        base = levels.get("baseline")
        out.append(f"In the spike, {sp['error_fraction']:.0%} of attempts were refused "
                   + (f"(in the baseline before it, {base['error_fraction']:.0%}) " if base
                      else "")
                   + f"while goodput held at {sp['goodput_per_s']:.3g} ok/s"
                   + _against_sustained(spike["throughput"], sp["duration_s"])
                   + (f", and {rec['error_fraction']:.0%} in the recovery after it"
                      + _cleared(spike) if rec else "") + ".")
    sw = sweep["throughput"]["levels"]
    if sw:
        best = max(sw, key=lambda lv: lv["goodput_per_s"])
        last = sw[-1]
        out.append(f"The sweep, on one key, peaked at {best['goodput_per_s']:.3g} ok/s "
                   f"when offered {best['offered_per_s']:.3g}/s"
                   + _against_sustained(sweep["throughput"], best["duration_s"]) + "; offered "
                   f"{last['offered_per_s']:.3g}/s, {last['error_fraction']:.0%} of attempts "
                   "were 429s.")
    b = tl.get("backoff") or {}
    best, sdk = b.get("recommended"), b.get("sdk_default")
    if best and sdk:
        # Three kinds of figure for the SDK default: simulated over the tuning's schedule,
        # simulated over the live check's (shorter) schedule, and live; each says which.
        text = (f"Ship clients that use {best['policy']}: simulated over "
                f"{b['logical_requests']} logical requests at {b['offered_per_s']:.3g}/s it "
                f"keeps {best['goodput_per_s']:.3g} ok/s of an ideal "
                f"{b['ideal_goodput_per_s']:.3g} with {best['rejected_per_success']:.2g} "
                f"429s per success, where the OpenAI SDK's default, simulated the same way, "
                f"meets {sdk['rejected_per_success']:.2g}")
        live = b.get("live") or {}
        if live.get("recommended"):
            r, d = live["recommended"]["live"], live["sdk_default"]["live"]
            text += (f". Sent live for {live['logical_requests']} logical requests from a "
                     f"fresh quota, the recommended policy met {r['rejected_per_success']:.2g} "
                     f"429s per success at {r['goodput_per_s']:.3g} ok/s and the real OpenAI "
                     f"SDK {d['rejected_per_success']:.2g} live (simulated over those same "
                     f"{live['logical_requests']} arrivals: "
                     f"{live['recommended']['simulated']['rejected_per_success']:.2g} and "
                     f"{live['sdk_default']['simulated']['rejected_per_success']:.2g})")
        out.append(text + ".")
    return " ".join(out)


if __name__ == "__main__":
    sys.exit(main())
