"""python -m gateway [--profile NAME|FILE] [--set table.field=value ...] [--host H] [--port N]"""

from __future__ import annotations

import argparse
import ipaddress
import sys

from .profile import ProfileError, available_profiles, load_profile


def describe(profile) -> str:
    q = profile.quota
    if q.algorithm == "none":
        quota = "no quota"
    elif q.algorithm == "token_bucket":
        quota = f"token bucket {q.rate_per_s:g}/s, burst {q.burst}"
    else:
        where = f", {q.alignment}" if q.algorithm == "fixed_window" else ""
        quota = f"{q.algorithm} {q.limit} per {q.window_s} s{where}"
    n = profile.nodes
    return (f"quota: {quota} ({q.scope}), Retry-After {q.retry_after}; "
            f"nodes: {n.count} x {n.slots} slots")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--profile", default="default",
                        help=f"a name ({', '.join(available_profiles())}) or a .toml path")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="TABLE.FIELD=VALUE", help="override one profile field")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument("--check", action="store_true",
                        help="validate the profile, print it and exit")
    args = parser.parse_args(argv)

    try:
        profile = load_profile(args.profile, args.overrides)
    except ProfileError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"profile {profile.name}: {describe(profile)}")
        return 0
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"gateway: warning: listening on {args.host}, not loopback; the demo keys are "
              "public", file=sys.stderr)

    import uvicorn

    from .app import create_app

    print(f"Pinaivu reference gateway, profile {profile.name}, on "
          f"http://{args.host}:{args.port}/v1 ({describe(profile)})", flush=True)
    uvicorn.run(create_app(profile), host=args.host, port=args.port, log_level="warning",
                access_log=args.access_log, loop="uvloop", http="httptools")
    return 0


if __name__ == "__main__":
    sys.exit(main())
