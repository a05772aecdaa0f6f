"""python -m analysis report|tune [RUN_DIR]   (default: the newest run under reports/)
python -m analysis compare [RUN_A [RUN_B]] [--out PATH]
                                             (default: the two newest runs of one scenario)
python -m analysis index [REPORTS]           (reports/index.html: every run, every comparison)"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

from .rundir import (RunError, check_run_folder, comparable_runs, kept_results, list_runs,
                     load_run, newest_run, read_manifest, read_summary, write_page,
                     write_report, write_runs_index)
from .schema import REPORTS_DIR_ENV, reports_dir


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


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def write_index(reports: Path) -> Path | None:
    """Regenerate reports/index.html; None when an index.html not ours is in the way."""
    from .runs_index import render_runs_index

    runs, pages = list_runs(reports)
    return write_runs_index(reports, render_runs_index(runs, pages, reports.name, _now()))


def _refresh_index(reports: Path) -> None:
    """After writing into a run folder or beside it: the runs index must not go stale, but
    failing to refresh it must not fail the command that did the real work."""
    try:
        out = write_index(reports)
    except Exception as exc:  # noqa: BLE001 - a note, not a failure
        print(f"analysis: note: could not refresh {reports / 'index.html'}: {exc}",
              file=sys.stderr)
        return
    if out is not None:
        print(f"runs index: {out}")


def _finish(run, summary, figures, html) -> None:
    out = write_report(run, summary, figures, html)
    for p in summary["problems"]:
        print(f"analysis: note: {p}", file=sys.stderr)
    print(summary["verdict"])
    print(f"report: {out}")
    _refresh_index(run.path.parent)


def _rebuild(run, say):
    """The report rebuilt from the events, keeping the results only live traffic made."""
    from .report import build_report  # matplotlib and jinja2 only when needed

    kept, notes = kept_results(run.path)
    run.problems.extend(notes)
    if kept:
        say(f"keeping {', '.join(kept)} from the earlier summary.json (they needed live "
            "traffic; make tune makes them again)")
    return build_report(run, progress=say, backoff=kept.get("backoff"))


def cmd_report(args) -> int:
    say = _progress(time.monotonic())
    run = _open_run(args, say)
    if run is None:
        return 2
    summary, figures, html = _rebuild(run, say)
    _finish(run, summary, figures, html)
    # The page is written either way; a failed run exits 1, as the runner did, so that a
    # script that reports a run does not carry on as if its figures were good.
    for f in summary["failures"]:
        print(f"analysis: this run FAILED: {f}", file=sys.stderr)
    return 1 if summary["failures"] or not len(run.events) else 0


def cmd_tune(args) -> int:
    from .decisions import decide
    from .quota import fit_quota
    from .report import build_report
    from .retry_after import audit_retry_after
    from .tune import TuneError, default_offered, server_model, tune, tune_lines

    say = _progress(time.monotonic())
    run = _open_run(args, say)
    if run is None:
        return 2
    say("fitting the quota")
    decisions = decide(run.events)
    fit = fit_quota(decisions)
    audit = audit_retry_after(decisions, "global" if fit.scope == "global" else "per_key", fit)
    try:
        server = server_model(run.events, fit, audit)
    except TuneError as exc:
        print(f"analysis: nothing to tune: {exc}", file=sys.stderr)
        return 2
    try:
        offered = args.offered or default_offered(server, run.events)
    except TuneError as exc:
        print(f"analysis: {exc}", file=sys.stderr)
        return 2
    if server.algorithm == "none_observed":
        say(f"no 429 in this run: simulating what retries do to its 503s "
            f"({server.p_unavailable:.1%} of attempts)")
    say(f"simulating policies at {offered:.3g} requests/s offered "
        f"({args.logical} logical requests each)")
    backoff = tune(server, offered, logical=args.logical, deadline_s=args.deadline_s,
                   max_rejected_per_success=args.max_429_per_success,
                   max_p99_s=args.max_p99_s, progress=say)
    for line in tune_lines(backoff):
        print(line)
    if backoff["recommended"] and args.live_s > 0:
        backoff["live"] = _live(run, backoff, server, fit, args, say)
    _finish(run, *build_report(run, progress=say, backoff=backoff, fit=fit, audit=audit,
                                    decisions=decisions))
    return 0


def _live(run, backoff, server, fit, args, say) -> dict:
    """The recommended policy and the SDK default, sent for real; printed side by side."""
    from .live import LiveError, live_check, live_lines

    try:
        live = live_check(run.path, run.manifest, backoff, server, fit.scope,
                          live_s=args.live_s, say=say,
                          allow_remote=args.allow_remote_target)
    except LiveError as exc:
        print(f"analysis: live check skipped: {exc}", file=sys.stderr)
        return {"skipped": str(exc)}
    for line in live_lines(live):
        print(line)
    return live


def _compared_runs(args) -> tuple[Path, Path]:
    reports = Path(args.reports)
    given = [Path(r) for r in args.runs]
    if len(given) > 2:
        raise RunError("compare takes two runs (or one, compared with the newest other run "
                       "of its scenario, or none: the newest two runs of one scenario)")
    if len(given) == 2:
        return given[0], given[1]
    if len(given) == 1:
        check_run_folder(given[0])
    a, b, note = comparable_runs(reports, *given)
    if note:
        print(f"analysis: note: {note}", file=sys.stderr)
    print(f"comparing two {read_manifest(b)[0].get('scenario')} runs: A {a.name}, B {b.name}",
          file=sys.stderr)
    return a, b


def _side(path: Path, out_dir: Path, say):
    """A run as the comparison shows it: its summary.json when usable, else rebuilt (and
    saved with its page, as `report` would) from the events."""
    from .compare import Side, summary_problem

    notes = []
    summary, problem = read_summary(path)
    if summary is not None:
        problem = summary_problem(summary)
    if summary is None or problem:
        if problem != "no summary.json":
            print(f"analysis: {path}: {problem}; rebuilding it from the events", file=sys.stderr)
            notes.append(f"{problem}; rebuilt from the events")
        run = load_run(path, progress=say)
        summary, figures, html = _rebuild(run, say)
        page = write_report(run, summary, figures, html)
        print(f"report: {page}")
    manifest, _ = read_manifest(path)
    page = path / "index.html"
    link = Path(os.path.relpath(page, out_dir)).as_posix() if page.is_file() else None
    return Side(path.name, summary, manifest, link, notes)


def cmd_compare(args) -> int:
    from .compare import figures, render_compare

    say = _progress(time.monotonic())
    try:
        a, b = _compared_runs(args)
        for p in (a, b):
            check_run_folder(p)
        same = a.resolve() == b.resolve()
        if same:
            print(f"analysis: warning: comparing {a} with itself: every row will match",
                  file=sys.stderr)
        out = Path(args.out) if args.out else a.parent / f"compare-{a.name}-vs-{b.name}.html"
        if out.is_dir():
            raise RunError(f"--out {out} is a folder: give a file name ending in .html")
        sides = [_side(p, out.parent, say) for p in (a, b)]
    except RunError as exc:
        print(f"analysis: {exc}", file=sys.stderr)
        return 2
    say("drawing the comparison")
    html = render_compare(*sides, figures(*sides), _now(), same=same)
    out = write_page(out, html)
    print(f"A: {sides[0].summary['verdict']}")
    print(f"B: {sides[1].summary['verdict']}")
    print(f"compare: {out}")
    folders = {p.parent.resolve(): p.parent for p in (a, b)}  # a folder once
    for reports in folders.values():
        _refresh_index(reports)
    return 0


def cmd_index(args) -> int:
    reports = Path(args.reports_dir or args.reports)
    if not reports.is_dir():
        print(f"analysis: {reports} does not exist: run a scenario first (make tight-loop)",
              file=sys.stderr)
        return 2
    out = write_index(reports)
    if out is None:
        print(f"analysis: {reports / 'index.html'} exists and was not written by this tool; "
              "left alone", file=sys.stderr)
        return 1
    print(f"runs index: {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis")
    root = str(reports_dir())
    where = f"where runs live (default: ${REPORTS_DIR_ENV}, else reports; now {root})"
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="summary.json, figures and index.html for a run")
    rep.add_argument("run_dir", nargs="?", help="a run folder (default: the newest)")
    rep.add_argument("--reports", default=root, help=where)
    rep.set_defaults(func=cmd_report)
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
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
