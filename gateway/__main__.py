"""python -m gateway [--profile NAME|FILE] [--set table.field=value ...] [--host H] [--port N]"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import threading
import time

from .profile import ProfileError, available_profiles, load_profile


def describe(profile) -> str:
    q = profile.quota
    if q.algorithm == "none":
        quota = "no quota"
    elif q.algorithm == "concurrency":
        quota = f"at most {q.limit} in flight, then {q.concurrency_status or 429}"
    elif q.algorithm == "token_bucket":
        quota = f"token bucket {q.rate_per_s:g}/s, burst {q.burst}"
        if q.queueing is not None:
            longest = (f", waits over {q.queueing.max_delay_s:g} s refused"
                       if q.queueing.max_delay_s is not None else "")
            quota += f", {q.queueing.size} held at most{longest}"
    else:
        where = f", {q.alignment}" if q.algorithm == "fixed_window" else ""
        if q.phase_s == "key_hash":
            where += " with a phase per key (key hash)"
        elif q.phase_s:
            where += f" with phase {q.phase_s:g} s"
        quota = f"{q.algorithm} {q.limit} per {q.window_s} s{where}"
    if q.counts_rejected:
        quota += ", refusals counted" + (" (HAProxy's, periods from the key's first request)"
                                         if q.algorithm == "sliding_counter" else "")
    if q.lockout_s is not None:
        quota += (f", then locked out {q.lockout_s:g} s"
                  + (" (each refusal restarts it)" if q.lockout_extends else ""))
    n = profile.nodes
    said = ""
    if q.headers and q.algorithm != "none":
        lie = (f", declaring {q.declares.limit} per {q.declares.window_s:g} s"
               if q.declares is not None else "")
        said = f"; rate-limit headers: {', '.join(q.headers)}{lie}"
    return (f"quota: {quota} ({q.scope}), Retry-After {q.retry_after}{said}; "
            f"nodes: {n.count} x {n.slots} slots")


def exit_with_parent(parent: int, poll_s: float = 0.5, grace_s: float = 5.0) -> None:
    """A watchdog thread: once the parent is gone (the pid it was started by is no longer
    this process's parent), stop as Ctrl-C would, and for good after `grace_s`. A poll, not
    PR_SET_PDEATHSIG: that one fires when the starting *thread* ends, and is Linux only."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        print(f"gateway: its parent (pid {parent}) is gone: stopping", file=sys.stderr,
              flush=True)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(grace_s)
        os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--profile", default="default",
                        help=f"a name ({', '.join(available_profiles())}) or a .toml path")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="TABLE.FIELD=VALUE", help="override one profile field")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument("--parent-pid", type=int, default=None, metavar="PID",
                        help="exit once process PID is no longer this one's parent (it was "
                             "killed, even with SIGKILL): gateway.launch starts it so")
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

    if args.parent_pid is not None:
        exit_with_parent(args.parent_pid)
    import uvicorn

    from .app import create_app

    print(f"Pinaivu reference gateway, profile {profile.name}, on "
          f"http://{args.host}:{args.port}/v1 ({describe(profile)})", flush=True)
    uvicorn.run(create_app(profile), host=args.host, port=args.port, log_level="warning",
                access_log=args.access_log, loop="uvloop", http="httptools")
    return 0


if __name__ == "__main__":
    sys.exit(main())
