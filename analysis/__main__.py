"""python -m analysis report [RUN_DIR]   (default: the newest run under reports/)"""

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


def cmd_report(args) -> int:
    from .report import build_report  # matplotlib and jinja2 only when needed

    start = time.monotonic()
    say = _progress(start)
    try:
        run_dir = Path(args.run_dir) if args.run_dir else newest_run(Path(args.reports))
        run = load_run(run_dir, progress=say)
    except RunError as exc:
        print(f"analysis: {exc}", file=sys.stderr)
        return 2
    summary, figures, html = build_report(run, progress=say)
    out = write_report(run, summary, figures, html)
    for p in summary["problems"]:
        print(f"analysis: note: {p}", file=sys.stderr)
    print(summary["verdict"])
    print(f"report: {out}")
    return 0 if len(run.events) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="summary.json, figures and index.html for a run")
    rep.add_argument("run_dir", nargs="?", help="a run folder (default: the newest)")
    rep.add_argument("--reports", default="reports", help="where runs live")
    rep.set_defaults(func=cmd_report)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
