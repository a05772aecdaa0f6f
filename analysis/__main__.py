"""python -m analysis report|tune [RUN_DIR]   (default: the newest run under reports/)"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .rundir import RunError, load_run, newest_run, write_report


def _progress(start: float):
    def say(message: str) -> None:
        print(f"[{time.monotonic() - start:6.1f} s] {message}", file=sys.stderr, flush=True)
    return say


def _open_run(args, say):
    """The run to analyse, or None after saying why there is none."""
    try:
        run_dir = Path(args.run_dir) if args.run_dir else newest_run(Path(args.reports))
        return load_run(run_dir, progress=say)
    except RunError as exc:
        print(f"analysis: {exc}", file=sys.stderr)
        return None


def _finish(run, summary, figures, html) -> None:
    out = write_report(run, summary, figures, html)
    for p in summary["problems"]:
        print(f"analysis: note: {p}", file=sys.stderr)
    print(summary["verdict"])
    print(f"report: {out}")


def cmd_report(args) -> int:
    from .report import build_report  # matplotlib and jinja2 only when needed

    say = _progress(time.monotonic())
    run = _open_run(args, say)
    if run is None:
        return 2
    _finish(run, *build_report(run, progress=say))
    return 0 if len(run.events) else 1


def cmd_tune(args) -> int:
    from .quota import fit_quota
    from .report import build_report
    from .retry_after import audit_retry_after
    from .tune import TuneError, server_model, tune

    say = _progress(time.monotonic())
    run = _open_run(args, say)
    if run is None:
        return 2
    say("fitting the quota")
    fit = fit_quota(run.events)
    audit = audit_retry_after(run.events, "global" if fit.scope == "global" else "per_key", fit)
    try:
        server = server_model(run.events, fit, audit)
    except TuneError as exc:
        print(f"analysis: nothing to tune: {exc}", file=sys.stderr)
        return 2
    offered = args.offered or 1.2 * server.sustained_rate
    say(f"simulating policies at {offered:.3g} requests/s offered "
        f"({args.logical} logical requests each)")
    backoff = tune(server, offered, logical=args.logical, deadline_s=args.deadline_s,
                   max_rejected_per_success=args.max_429_per_success,
                   max_p99_s=args.max_p99_s, progress=say)
    best, sdk = backoff["recommended"], backoff["sdk_default"]
    if best:
        print(f"recommended: {best['policy']}: {best['goodput_per_s']:.3g} ok/s of an ideal "
              f"{backoff['ideal_goodput_per_s']:.3g}, {best['rejected_per_success']:.3g} "
              f"429s per success, p99 {best['p99_s']:.3g} s")
    else:
        print(f"no recommendation: {backoff['note']}")
    print(f"OpenAI SDK default: {sdk['goodput_per_s']:.3g} ok/s, "
          f"{sdk['rejected_per_success']:.3g} 429s per success")
    if best and args.live_s > 0:
        backoff["live"] = _live(run, backoff, server, fit, args, say)
    _finish(run, *build_report(run, progress=say, backoff=backoff, fit=fit, audit=audit))
    return 0


def _live(run, backoff, server, fit, args, say) -> dict:
    """The recommended policy and the SDK default, sent for real; printed side by side."""
    from .live import LiveError, live_check

    try:
        live = live_check(run.path, run.manifest, backoff, server, fit.scope,
                          live_s=args.live_s, say=say)
    except LiveError as exc:
        print(f"analysis: live check skipped: {exc}", file=sys.stderr)
        return {"skipped": str(exc)}
    print(f"{'':12} {'':9} {'goodput/s':>10} {'429s/success':>13} {'p99 s':>7}")
    for name in ("recommended", "sdk_default"):
        for side in ("simulated", "live"):
            f = live[name][side]
            print(f"{name:12} {side:9} {f['goodput_per_s']:10.3g} "
                  f"{f['rejected_per_success']:13.3g} {f['p99_s']:7.3g}")
    checks = live["checks"]
    print(f"live: recommended reaches {checks['goodput_share_of_ideal']:.1%} of the ideal "
          f"goodput; simulation and live agree within 10%: "
          f"{'yes' if checks['simulation_agrees'] else 'no'}")
    return live


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="summary.json, figures and index.html for a run")
    rep.add_argument("run_dir", nargs="?", help="a run folder (default: the newest)")
    rep.add_argument("--reports", default="reports", help="where runs live")
    rep.set_defaults(func=cmd_report)
    tun = sub.add_parser("tune", help="simulate retry policies against the run's quota")
    tun.add_argument("run_dir", nargs="?", help="a run folder (default: the newest)")
    tun.add_argument("--reports", default="reports")
    tun.add_argument("--offered", type=float, default=None,
                     help="logical requests/s to simulate (default: 1.2 x the fitted rate)")
    tun.add_argument("--max-429-per-success", type=float, default=0.2)
    tun.add_argument("--max-p99-s", type=float, default=None)
    tun.add_argument("--deadline-s", type=float, default=30.0)
    tun.add_argument("--logical", type=int, default=10_000)
    tun.add_argument("--live-s", type=float, default=60.0,
                     help="seconds of live traffic to check the recommendation and the SDK "
                          "default against (0: simulate only)")
    tun.set_defaults(func=cmd_tune)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
