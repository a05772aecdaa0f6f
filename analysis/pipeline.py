"""Each command's work, in order: read what it needs (store/), run each stage once (the quota
fit, the Retry-After audit, throughput and latency, the tuner), write what it made (store/).

The one caller of store/ and of the clock (console.py), with index_command.py (the runs
index's command, moved out to keep this module small); the stages stay pure (data in, data
out). What a command says goes to the `Console` it is handed (cli.py prints it); a run folder
that cannot be used raises RunError, which cli.py prints with exit code 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import store
from .console import Console, Say, now_utc, progress, stamp as _stamp
from .index_command import index, refresh_index, write_index
from .store import Run, RunError
from .summary import Summary

__all__ = ["Analysis", "Console", "Say", "analyse", "build_report", "compare", "fit_and_audit",
           "index", "now_utc", "progress", "refresh_index", "render", "report", "tune",
           "write_index"]


@dataclass
class Analysis:
    """A run analysed: the typed summary, the figures drawn from it and the page."""
    summary: Summary
    figures: dict[str, bytes]
    html: str


def fit_and_audit(decisions, say: Say, fit=None, audit=None, probe: dict | None = None):
    """The quota fit and the Retry-After audit (the one place each is called) over the
    decisions computed once; what was already made is used as it is. A fit the adaptive
    probe's own verdict (`probe`, its probe.json) contradicts is not given as the quota."""
    from .probe_check import reconcile
    from .quota import fit_quota
    from .retry_after import audit_retry_after

    if fit is None:
        say(f"fitting the quota to {len(decisions.events)} events")
        fit = reconcile(fit_quota(decisions), probe)
    if audit is None:
        say("auditing Retry-After")
        audit = audit_retry_after(decisions, "global" if fit.scope == "global" else "per_key",
                                  fit)
    return fit, audit


def analyse(run: Run, say: Say = lambda _m: None, backoff: dict | None = None,
            fit=None, audit=None, decisions=None) -> Analysis:
    """Every stage once, in order; the decisions, a fit and an audit already made are used
    as they are."""
    from . import load_levels
    from .declared import declared_policy
    from .decisions import decide
    from .figures import backoff_figure, run_figures
    from .pages.report import render_report
    from .quota import fitted_window_starts
    from .streaming import streaming_latency
    from .probe_steps import probe_section
    from .summary import clean, make_summary
    from .unanswered import unanswered
    from .verdict import summary_doc

    events = run.events
    decisions = decisions if decisions is not None else decide(events)
    fit, audit = fit_and_audit(decisions, say, fit, audit, run.probe)
    say("throughput, latency, 503s")
    sections = {"throughput": load_levels.throughput(events, fit.summary()),
                "unavailable": load_levels.unavailable(events),
                "latency": {**load_levels.latency(events), **streaming_latency(events)}
                if len(events) else {},
                "keys": load_levels.per_key(events) if len(events) else []}
    doc = summary_doc(run, fit, audit, sections, backoff, declared=declared_policy(
        decisions, fit), generated_at=now_utc().isoformat(timespec="seconds"))
    # issue 13, report part: the probe's steps, and what a tight loop or spike left open
    doc |= {"probe": clean(probe_section(run.probe, events)), "unanswered": unanswered(
        events, doc["scenario"], doc["quota"], doc["retry_after"].get("polite"))}
    say("drawing figures")
    figures = run_figures(events, fit, audit.points, doc["throughput"],
                          fitted_window_starts(fit, decisions), doc["probe"]
                          ) if len(events) else {}
    if doc["backoff"].get("policies"):
        figures |= backoff_figure(doc["backoff"])
    summary = make_summary(doc | {"figures": list(figures)})
    return Analysis(summary, figures, render_report(summary.as_dict(), figures))


def build_report(run: Run, progress: Say | None = None, backoff: dict | None = None,
                 fit=None, audit=None) -> tuple[dict, dict[str, bytes], str]:
    """summary.json's content, the figures and the page, as `report` writes them."""
    a = analyse(run, progress or (lambda _m: None), backoff, fit, audit)
    return a.summary.as_dict(), a.figures, a.html


# --- the commands ---------------------------------------------------------------------------

def _open_run(run_dir: str | None, reports: Path, say: Say) -> Run:
    return store.load_run(Path(run_dir) if run_dir else store.newest_run(reports),
                          progress=say)


def _rebuild(run: Run, say: Say) -> Analysis:
    """The report rebuilt from the events, keeping the results only live traffic made."""
    kept, notes = store.kept_results(run.path)
    run.problems.extend(notes)
    if kept:
        say(f"keeping {', '.join(kept)} from the earlier summary.json (they needed live "
            "traffic; make tune makes them again)")
    backoff = kept.get("backoff")
    return analyse(run, say, backoff.model_dump(mode="json", exclude_unset=True)
                   if backoff else None)


def _finish(run: Run, a: Analysis, console: Console) -> None:
    out = store.write_report(run.path, a.summary, a.figures, a.html)
    for p in a.summary.problems:
        console.note(p)
    console.out(a.summary.verdict)
    console.out(f"report: {out}")
    refresh_index(run.path.parent, console)


def report(run_dir: str | None, reports: Path, console: Console) -> int:
    say = progress(console)
    run = _open_run(run_dir, reports, say)
    a = _rebuild(run, say)
    _finish(run, a, console)
    # The page is written either way; a failed run exits 1, as the runner did, so that a
    # script that reports a run does not carry on as if its figures were good.
    for f in a.summary.failures:
        console.error(f"this run FAILED: {f}")
    return 1 if a.summary.failures or not len(run.events) else 0


def render(run_dir: str | None, reports: Path, console: Console) -> int:
    """The run's page again from its summary.json and the figures beside it: no events
    read, nothing re-fitted. A summary that cannot be used: exit 2, nothing written."""
    from .pages.report import render_report

    path = Path(run_dir) if run_dir else store.newest_run(reports)
    if not path.is_dir():
        raise RunError(f"run folder {path} does not exist")
    got = store.read_summary(path)
    if got.summary is None:
        console.error(f"{path}: {got.problem}: nothing to render (make report RUN={path} "
                      "makes it from the events)")
        return 2
    if got.stale:
        console.note("summary.json is older than the events: the page shows it as it is "
                     f"(make report RUN={path} rebuilds it from them)")
    figures, missing = store.read_figures(path, got.summary.figures)
    for name in missing:
        console.note(f"{name}.png is missing: the page says so in its place")
    out = store.write_page(path / "index.html",
                           render_report(got.summary.as_dict(), figures, missing))
    console.out(got.summary.verdict)
    console.out(f"report: {out}")
    refresh_index(path.parent, console)
    return 0


def tune(run_dir: str | None, reports: Path, console: Console, *, offered: float | None,
         logical: int, deadline_s: float, max_429_per_success: float,
         max_p99_s: float | None, live_s: float, allow_remote: bool) -> int:
    """Retry policies simulated against the run's fitted quota, the best and the SDK's
    default checked live, and the report rebuilt with them."""
    from . import tune as tuner
    from .decisions import decide
    from .live import LiveError, live_check, live_lines

    say = progress(console)
    run = _open_run(run_dir, reports, say)
    decisions = decide(run.events)
    fit, audit = fit_and_audit(decisions, say, probe=run.probe)
    try:
        server = tuner.server_model(run.events, fit, audit)
    except tuner.TuneError as exc:
        console.error(f"nothing to tune: {exc}")
        return 2
    try:
        offered = offered or tuner.default_offered(server, run.events)
    except tuner.TuneError as exc:
        console.error(str(exc))
        return 2
    if server.algorithm == "none_observed":
        say(f"no 429 in this run: simulating what retries do to its 503s "
            f"({server.p_unavailable:.1%} of attempts)")
    say(f"simulating policies at {offered:.3g} requests/s offered ({logical} logical "
        "requests each)")
    backoff = tuner.tune(server, offered, logical=logical, deadline_s=deadline_s,
                         max_rejected_per_success=max_429_per_success, max_p99_s=max_p99_s,
                         progress=say)
    for line in tuner.tune_lines(backoff):
        console.out(line)
    if backoff["recommended"] and live_s > 0:
        try:
            backoff["live"] = live_check(run.path, run.manifest, backoff, server, fit.scope,
                                         live_s=live_s, say=say, allow_remote=allow_remote)
            for line in live_lines(backoff["live"]):
                console.out(line)
        except LiveError as exc:
            console.error(f"live check skipped: {exc}")
            backoff["live"] = {"skipped": str(exc)}
    _finish(run, analyse(run, say, backoff, fit, audit, decisions), console)
    return 0


def _compared_runs(runs: list[str], reports: Path, console: Console) -> tuple[Path, Path]:
    a, b, note = store.compared_runs([Path(r) for r in runs], reports)
    if note:
        console.note(note)
    if len(runs) < 2:
        console.error(f"comparing two {store.read_manifest(b)[0].get('scenario')} runs: "
                      f"A {a.name}, B {b.name}")
    return a, b


def _side(path: Path, out_dir: Path, say: Say, console: Console):
    """A run as the comparison shows it: its summary.json when usable, else rebuilt (and
    saved with its page, as `report` would) from the events."""
    import os

    from .pages.compare import Side

    notes = []
    summary, problem = store.current_summary(path)
    if summary is None:
        if problem != "no summary.json":
            console.error(f"{path}: {problem}; rebuilding it from the events")
            notes.append(f"{problem}; rebuilt from the events")
        run = store.load_run(path, progress=say)
        a = _rebuild(run, say)
        console.out(f"report: {store.write_report(run.path, a.summary, a.figures, a.html)}")
        summary = a.summary
    manifest, _ = store.read_manifest(path)
    page = path / "index.html"
    link = Path(os.path.relpath(page, out_dir)).as_posix() if page.is_file() else None
    return Side(path.name, summary.as_dict(), manifest, link, notes)


def compare(runs: list[str], reports: Path, out: str | None, console: Console) -> int:
    from .figures import comparison_figures
    from .pages.compare import figure_data, render_compare

    say = progress(console)
    a, b = _compared_runs(runs, reports, console)
    for p in (a, b):
        store.check_run_folder(p)
    same = a.resolve() == b.resolve()
    if same:
        console.error(f"warning: comparing {a} with itself: every row will match")
    page = Path(out) if out else a.parent / store.compare_page_name(a, b)
    if page.is_dir():
        raise RunError(f"--out {page} is a folder: give a file name ending in .html")
    sides = [_side(p, page.parent, say, console) for p in (a, b)]
    say("drawing the comparison")
    html = render_compare(*sides, comparison_figures(*figure_data(*sides)), _stamp(),
                          same=same)
    page = store.write_page(page, html)
    console.out(f"A: {sides[0].summary['verdict']}")
    console.out(f"B: {sides[1].summary['verdict']}")
    console.out(f"compare: {page}")
    folders = {p.parent.resolve(): p.parent for p in (a, b)}  # a folder once
    for folder in folders.values():
        refresh_index(folder, console)
    return 0
