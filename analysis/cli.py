"""python -m analysis report|tune|render [RUN_DIR]   (default: the newest run under reports/)
python -m analysis compare [RUN_A [RUN_B]] [--out PATH]
                                             (default: the two newest runs of one scenario)
python -m analysis index [REPORTS]           (reports/index.html: every run, every comparison)
python -m analysis schema                    (the JSON Schema of summary.json)

The commands' options, and their printing; pipeline.py does the work."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from contract.target import REPORTS_DIR_ENV, reports_dir


class Console:
    """Where a command's words go: results on stdout, notes, errors and progress on stderr."""

    def out(self, line: str) -> None:
        print(line, flush=True)

    def note(self, line: str) -> None:
        print(f"analysis: note: {line}", file=sys.stderr, flush=True)

    def error(self, line: str) -> None:
        print(f"analysis: {line}", file=sys.stderr, flush=True)

    def progress(self, elapsed_s: float, line: str) -> None:
        print(f"[{elapsed_s:6.1f} s] {line}", file=sys.stderr, flush=True)


def cmd_report(args, console) -> int:
    from . import pipeline
    return pipeline.report(args.run_dir, Path(args.reports), console)


def cmd_render(args, console) -> int:
    from . import pipeline
    return pipeline.render(args.run_dir, Path(args.reports), console)


def cmd_tune(args, console) -> int:
    from . import pipeline
    return pipeline.tune(args.run_dir, Path(args.reports), console, offered=args.offered,
                         logical=args.logical, deadline_s=args.deadline_s,
                         max_429_per_success=args.max_429_per_success,
                         max_p99_s=args.max_p99_s, live_s=args.live_s,
                         allow_remote=args.allow_remote_target)


def cmd_compare(args, console) -> int:
    from . import pipeline
    return pipeline.compare(args.runs, Path(args.reports), args.out, console)


def cmd_index(args, console) -> int:
    from . import pipeline
    return pipeline.index(Path(args.reports_dir or args.reports), console)


def cmd_schema(args, console) -> int:
    from .summary import json_schema
    console.out(json.dumps(json_schema(), indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis")
    root = str(reports_dir())
    where = f"where runs live (default: ${REPORTS_DIR_ENV}, else reports; now {root})"
    sub = p.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="summary.json, figures and index.html for a run")
    rep.add_argument("run_dir", nargs="?", help="a run folder (default: the newest)")
    rep.add_argument("--reports", default=root, help=where)
    rep.set_defaults(func=cmd_report)
    ren = sub.add_parser("render", help="a run's index.html again from its summary.json and "
                                        "figures, without the events (no re-fit)")
    ren.add_argument("run_dir", nargs="?", help="a run folder (default: the newest)")
    ren.add_argument("--reports", default=root, help=where)
    ren.set_defaults(func=cmd_render)
    tun = sub.add_parser("tune", help="simulate retry policies against the run's quota")
    tun.add_argument("run_dir", nargs="?", help="a run folder (default: the newest)")
    tun.add_argument("--reports", default=root, help=where)
    tun.add_argument("--offered", type=float, default=None,
                     help="logical requests/s to simulate (default: 1.2 x the fitted rate)")
    tun.add_argument("--max-429-per-success", type=float, default=0.2)
    tun.add_argument("--max-p99-s", type=float, default=None)
    tun.add_argument("--deadline-s", type=float, default=30.0)
    tun.add_argument("--logical", type=int, default=10_000)
    tun.add_argument("--live-s", type=float, default=60.0,
                     help="seconds of live traffic to check the recommendation and the SDK "
                          "default against (0: simulate only)")
    tun.add_argument("--allow-remote-target", action="store_true",
                     help="let the live check go to a PINAIVU_BASE_URL that is not loopback")
    tun.set_defaults(func=cmd_tune)
    cmp = sub.add_parser("compare", help="two runs side by side in one page")
    cmp.add_argument("runs", nargs="*", metavar="RUN",
                     help="two run folders; one: compared with the newest other run; "
                          "none: the two newest runs of one scenario")
    cmp.add_argument("--reports", default=root, help=where)
    cmp.add_argument("--out", default=None,
                     help="the page to write (default: compare-A-vs-B.html beside run A)")
    cmp.set_defaults(func=cmd_compare)
    idx = sub.add_parser("index", help="reports/index.html: every run and comparison")
    idx.add_argument("reports_dir", nargs="?", help=where)
    idx.add_argument("--reports", default=root, help=where)
    idx.set_defaults(func=cmd_index)
    sch = sub.add_parser("schema", help="print the JSON Schema of summary.json (the file "
                                        "analysis/summary.schema.json holds)")
    sch.set_defaults(func=cmd_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    console = Console()
    from .store import RunError  # a run folder that cannot be used: said, exit code 2

    try:
        return args.func(args, console)
    except RunError as exc:
        console.error(str(exc))
        return 2
