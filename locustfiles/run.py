"""python -m locustfiles.run SCENARIO [options] [-- locust options]

Runs one scenario headless into a run folder. When PINAIVU_BASE_URL is unset it starts the
reference gateway (PROFILE) for the run on a free loopback port and stops it afterwards; then,
if no key is set either, it uses the gateway's demo keys.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from analysis.schema import reports_dir
from gateway.launch import GatewayStartError, start_gateway

ROOT = Path(__file__).resolve().parent.parent
# Three keys: with the default 4 users one key carries twice the traffic of the others, which
# is what lets the analysis tell a per-key quota from a global one.
DEMO_KEYS = "pk-demo-alice-0001,pk-demo-bob-0002,pk-demo-carol-0003"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="python -m locustfiles.run", description=__doc__)
    p.add_argument("scenario", help="a locustfile in locustfiles/, without .py")
    p.add_argument("--profile", default="default", help="reference gateway profile")
    p.add_argument("--gateway-set", action="append", default=[], metavar="TABLE.FIELD=VALUE",
                   help="override a field of the reference gateway's profile")
    p.add_argument("--users", type=int, default=4)
    p.add_argument("--spawn-rate", type=float, default=None)
    p.add_argument("--duration", default="30s", help="Locust run time, e.g. 30s, 2m")
    p.add_argument("--run-dir", default=None)
    args = p.parse_args(argv)

    locustfile = ROOT / "locustfiles" / f"{args.scenario}.py"
    if not locustfile.is_file():
        print(f"run: no scenario {args.scenario!r} ({locustfile} does not exist)",
              file=sys.stderr)
        return 2
    run_dir = Path(args.run_dir or reports_dir(ROOT / "reports") /
                   f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{args.scenario}")
    run_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    gateway = None
    if not env.get("PINAIVU_BASE_URL"):
        try:
            gateway = start_gateway(args.profile, args.gateway_set,
                                    log_path=run_dir / "gateway.log")
        except GatewayStartError as exc:
            print(f"run: {exc}", file=sys.stderr)
            return 2
        env["PINAIVU_BASE_URL"] = gateway.base_url
        # run.json names the gateway the run met, so that `make tune` can start it again
        env["PINAIVU_REFERENCE_GATEWAY"] = json.dumps({"profile": args.profile,
                                                       "set": args.gateway_set})
        if not (env.get("PINAIVU_API_KEY") or env.get("PINAIVU_API_KEYS")):
            env["PINAIVU_API_KEYS"] = DEMO_KEYS
        print(f"run: reference gateway ({args.profile}) on {gateway.base_url}", flush=True)
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
           "-u", str(args.users), "-r", str(args.spawn_rate or args.users),
           "-t", args.duration, "--run-dir", str(run_dir),
           "--csv", str(run_dir / "locust" / "stats"),
           "--html", str(run_dir / "locust" / "report.html"),
           # Locust's CSV lags by up to a second at shutdown; its JSON holds the final counts.
           "--json-file", str(run_dir / "locust" / "stats"), "--only-summary", *extra]
    try:
        code = subprocess.call(cmd, env=env, cwd=ROOT)
    finally:
        if gateway is not None:
            gateway.stop()
    print(f"run: events and run.json in {run_dir}")
    return code


if __name__ == "__main__":
    sys.exit(main())
