"""The live check of a tuning: the recommended policy and the real OpenAI SDK, sent for real.

`live_figures` reads a backoff run's events into the simulator's figures (pure); `compare`
sets them beside a simulation of the very same arrival schedule; `run_live` starts the
backoff scenario (`python -m locustfiles.run backoff`, a subprocess: analysis never imports
Locust) against the tuned run's target and reads what it recorded.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .simulate import (Policy, ServerModel, ideal_goodput, latency_figures, poisson_arrivals,
                      simulate, steady_rate)
from contract.events import CHAT
from contract.run_folder import LIVE_SUFFIX
from contract.runner import runner_command
from contract.target import KeyListError, env_keys

ROOT = Path(__file__).resolve().parent.parent
# Two policies at once need two keys whose quotas do not touch: the reference gateway's.
DEMO_KEYS = ("pk-demo-alice-0001", "pk-demo-bob-0002")
AGREE_RELATIVE = 0.10  # "within 10%"
# 429s per success near zero: one 429 in fifty successes is agreement, not a 100% miss.
AGREE_ABSOLUTE_REJECTED = 0.02


class LiveError(RuntimeError):
    """The live check could not run; the message says why and what to do."""


def live_figures(events: pd.DataFrame, phase: str, offered_per_s: float, logical: int,
                 deadline_s: float, sustained_rate: float, p_unavailable: float = 0.0) -> dict:
    """A live phase's figures, computed as the simulator computes its own."""
    df = events[(events["phase"] == phase) & (events["endpoint"] == CHAT)]
    firsts = df[df["attempt"] == 1]
    arrival = firsts.groupby("logical_id", observed=True)["intended_ts"].min()
    ok = df[df["outcome"] == "ok"]
    finish = ok["sent_ts"].to_numpy(float) + ok["latency_ms"].to_numpy(float) / 1000
    took = finish - arrival.reindex(ok["logical_id"]).to_numpy(float)
    keep = np.isfinite(took) & (took <= deadline_s)
    first, last = (float(arrival.min()), float(arrival.max())) if len(arrival) else (0.0, 0.0)
    attempts, rejected = len(df), int((df["status"] == 429).sum())
    return {"policy": phase, "offered_per_s": offered_per_s, "logical": logical,
            "successes": int(keep.sum()), "attempts": attempts, "rejected": rejected,
            "unavailable": int((df["status"] == 503).sum()),
            "goodput_per_s": steady_rate(list(finish[keep]), first, last),
            **latency_figures(list(took[keep]), logical, attempts, rejected),
            "ideal_goodput_per_s": ideal_goodput(offered_per_s, sustained_rate, p_unavailable)}


def agree(simulated: float, live: float, absolute: float = 0.0) -> bool:
    if not (math.isfinite(simulated) and math.isfinite(live)):
        return simulated == live
    return abs(simulated - live) <= max(AGREE_RELATIVE * max(abs(simulated), abs(live)),
                                        absolute)


def compare(live: dict, policy: Policy, server: ServerModel, offered_per_s: float,
            logical: int, seed: int, deadline_s: float, replays: int = 20) -> dict:
    """The live figures beside simulations of the same arrivals. The arrivals are fixed, the
    rest (jitter, which of two near-simultaneous requests the server sees first) is drawn:
    the simulated figure is the mean of `replays` draws, and their range is kept."""
    arrivals = poisson_arrivals(offered_per_s, logical, seed)
    runs = [simulate(policy, server, offered_per_s, deadline_s=deadline_s, seed=seed + k,
                     arrivals=arrivals).as_dict() for k in range(replays)]
    sim = dict(runs[0])
    sim.pop("params", None)
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and key != "logical":
            values = [r[key] for r in runs]
            sim[key] = float(np.mean(values)) if all(map(math.isfinite, values)) else math.inf
    spread = {k: [min(r[k] for r in runs), max(r[k] for r in runs)]
              for k in ("goodput_per_s", "rejected_per_success")}
    return {"simulated": sim, "simulated_range": spread, "replays": replays, "live": live,
            "goodput_agrees": agree(sim["goodput_per_s"], live["goodput_per_s"]),
            "rejected_agrees": agree(sim["rejected_per_success"],
                                     live["rejected_per_success"], AGREE_ABSOLUTE_REJECTED)}


def plan(manifest: dict, scope: str | None, env: dict[str, str]) -> dict:
    """Where the live runs go and with which keys; LiveError when there is nowhere safe."""
    if env.get("PINAIVU_BASE_URL"):
        try:
            keys = env_keys(env)
        except KeyListError as exc:
            raise LiveError(str(exc)) from None
        if not keys:
            raise LiveError("PINAIVU_BASE_URL is set but no key is (PINAIVU_API_KEY)")
        return {"profile": None, "set": [], "keys": keys,
                "together": scope == "per_key" and len(keys) >= 2}
    ref = manifest.get("reference_gateway")
    if not isinstance(ref, dict) or not ref.get("profile"):
        raise LiveError("run.json does not name the reference gateway the run met, and "
                        "PINAIVU_BASE_URL is unset: point PINAIVU_BASE_URL (and "
                        "PINAIVU_API_KEYS) at a loopback target to check live")
    return {"profile": ref["profile"], "set": list(ref.get("set") or []),
            "keys": list(DEMO_KEYS), "together": scope == "per_key"}


def run_live(run_dir: Path, where: dict, entries: list[dict], *, offered_per_s: float,
             logical: int, seed: int, deadline_s: float, sustained_rate: float,
             latency_ok_s: float, say: Callable[[str], None],
             allow_remote: bool = False, refill_s: float = 0.0) -> list[Path]:
    """Run the backoff scenario for `entries`, all at once on separate keys when the quota is
    per key, else one after another; returns the run folders. One after another on your own
    target, the next run waits `refill_s` for the quota to refill (the reference gateway is
    started afresh for each)."""
    groups = [entries] if where["together"] else [[e] for e in entries]
    span = logical / offered_per_s
    # bounded: the schedule, then the slowest logical request's deadline, then a margin
    cap_s = int(span + deadline_s + 30)
    folders = []
    for i, group in enumerate(groups):
        if i and not where["profile"] and refill_s > 0:
            say(f"waiting {refill_s:.0f} s for the quota to refill before the next client")
            time.sleep(refill_s)
        folder = run_dir if len(groups) == 1 else run_dir.with_name(f"{run_dir.name}-{i + 1}")
        env = dict(os.environ)
        env["PINAIVU_API_KEYS"] = ",".join(where["keys"][:max(1, len(group))])
        env.pop("PINAIVU_API_KEY", None)
        cmd = runner_command(
            "backoff", users=len(group), duration=f"{cap_s}s", run_dir=folder,
            profile=where["profile"] or None, gateway_set=where["set"] if where["profile"] else (),
            locust_args=["--policies", json.dumps(group), "--offered", f"{offered_per_s:g}",
                         "--logical", str(logical), "--seed", str(seed), "--deadline-s",
                         f"{deadline_s:g}", "--sustained-rate", f"{sustained_rate:g}",
                         "--latency-ok-s", f"{latency_ok_s:g}", "--loglevel", "WARNING",
                         *(["--allow-remote-target"] if allow_remote else [])])
        say(f"live run {i + 1}/{len(groups)}: {', '.join(e['name'] for e in group)}, "
            f"{logical} logical requests over about {span:.0f} s -> {folder}")
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=cap_s + 120)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise LiveError(f"the live run exited with {proc.returncode}: " + " | ".join(tail))
        folders.append(folder)
    return folders


def live_check(run_path: Path, manifest: dict, backoff: dict, server: ServerModel,
               scope: str | None, *, live_s: float, seed: int = 1,
               say: Callable[[str], None] = lambda _m: None,
               env: dict[str, str] | None = None, allow_remote: bool = False) -> dict:
    """Send the recommended policy and the real SDK default live, then set each beside the
    simulation of its own arrivals; `backoff` is what `tune` returned."""
    from .store import load_run  # the one module that reads run folders

    where = plan(manifest, scope, dict(os.environ) if env is None else env)
    best = backoff["recommended"]
    offered, deadline = backoff["offered_per_s"], backoff["deadline_s"]
    entries = [{"name": "recommended", "client": "harness", "policy": best["params"]},
               {"name": "sdk_default", "client": "openai",
                "policy": {"kind": "sdk_default", "max_retries": 2}}]
    logical = max(20, round(live_s * offered))
    folder = run_path.parent / f"{run_path.name}{LIVE_SUFFIX}"
    folders = run_live(folder, where, entries, offered_per_s=offered, logical=logical,
                       seed=seed, deadline_s=deadline, sustained_rate=server.sustained_rate,
                       latency_ok_s=server.latency_ok_s, say=say, allow_remote=allow_remote,
                       refill_s=min(120.0, server.window_s or
                                    ((server.burst or 1) / server.rate_per_s
                                     if server.rate_per_s else 0.0)))
    events = pd.concat([load_run(f).events for f in folders], ignore_index=True)
    out = {"runs": [str(f) for f in folders], "logical_requests": logical, "seed": seed,
           "offered_per_s": offered, "target": where["profile"] or "PINAIVU_BASE_URL"}
    for e in entries:
        live = live_figures(events, e["name"], offered, logical, deadline,
                            server.sustained_rate, server.p_unavailable)
        if not live["attempts"]:
            raise LiveError(f"the live run recorded no attempt for {e['name']}")
        out[e["name"]] = compare(live, Policy(**e["policy"]), server, offered, logical, seed,
                                 deadline)
    rec, sdk = out["recommended"]["live"], out["sdk_default"]["live"]
    limit = backoff["limits"]["max_429_per_success"]
    out["checks"] = {
        "goodput_share_of_ideal": rec["goodput_per_s"] / rec["ideal_goodput_per_s"]
        if rec["ideal_goodput_per_s"] else math.nan,
        "at_least_95_percent_of_ideal": rec["goodput_per_s"] >= 0.95 * rec["ideal_goodput_per_s"],
        "rejected_within_limit": rec["rejected_per_success"] <= limit,
        "halves_sdk_rejected": rec["rejected_per_success"] <= 0.5 * sdk["rejected_per_success"],
        "simulation_agrees": all(out[n][k] for n in ("recommended", "sdk_default")
                                 for k in ("goodput_agrees", "rejected_agrees")),
    }
    return out


def live_lines(live: dict) -> list[str]:
    """What `tune` prints of its live check: each client's live figures beside the simulation
    of the same arrivals, each row saying which it is."""
    names = {"recommended": "recommended", "sdk_default": "OpenAI SDK default"}
    sides = {"simulated": "simulated, same arrivals", "live": "live"}
    out = [f"live check ({live['logical_requests']} logical requests per client at "
           f"{live['offered_per_s']:.3g}/s, sent to {live['target']}; \"simulated, same "
           f"arrivals\": {live['recommended']['replays']} replays of the live schedule):",
           f"  {'':19} {'':25} {'goodput/s':>10} {'429s/success':>13} {'p99 s':>7}"]
    for name, label in names.items():
        for side, words in sides.items():
            f = live[name][side]
            out.append(f"  {label:19} {words:25} {f['goodput_per_s']:10.3g} "
                       f"{f['rejected_per_success']:13.3g} {f['p99_s']:7.3g}")
    checks = live["checks"]
    share = checks["goodput_share_of_ideal"]
    # Over a check of a few windows the steady span can hold one burst more than the long-run
    # rate allows: above 100% is what was measured, and it says so rather than look like gain.
    over = (" (a short check: the quota's bursts can run above its long-run rate)"
            if math.isfinite(share) and share > 1 else "")
    out.append(f"live: recommended reaches {share:.1%} of the ideal goodput{over}; "
               "simulation and live agree within 10%: "
               f"{'yes' if checks['simulation_agrees'] else 'no'}")
    return out
