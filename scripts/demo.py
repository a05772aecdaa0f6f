"""The demo: the reference gateway's walls one request each, then a short tight loop and its
report, whose path it prints. Runs from `make demo`; every server it starts, it stops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gateway.launch import GatewayStartError, start_gateway  # noqa: E402

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
    args = parser.parse_args()
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
    return load_and_report(args.profile)


def load_and_report(profile: str) -> int:
    root = Path(__file__).resolve().parent.parent
    run_dir = root / "reports" / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-demo-tight_loop"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINAIVU_")}
    print("\nA 12 s tight loop, 4 users on 3 demo keys, against a fresh gateway...", flush=True)
    load = subprocess.run([sys.executable, "-m", "locustfiles.run", "tight_loop", "--profile",
                           profile, "--users", "4", "--duration", "12s", "--run-dir",
                           str(run_dir)], cwd=root, env=env, capture_output=True, text=True)
    print("".join(line + "\n" for line in load.stdout.splitlines()
                  if line.startswith("run: reference gateway")), end="")
    if load.returncode != 0:
        print(f"demo: the load test failed:\n{load.stderr[-2000:]}", file=sys.stderr)
        return 1
    report = subprocess.run([sys.executable, "-m", "analysis", "report", str(run_dir)],
                            cwd=root, capture_output=True, text=True)
    if report.returncode != 0:
        print(f"demo: the report failed:\n{report.stderr[-2000:]}", file=sys.stderr)
        return 1
    print(report.stdout, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
