"""reports/index.html: every run under reports/ with its scenario, target, date and verdict,
and the comparison pages. Pure: listings in (store.list_runs), HTML out. No matplotlib:
refreshing the index after every command costs next to nothing.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlsplit

from . import render
from ..store.reports import COMPARE_PREFIX, INDEX_MARK, RunListing


def _start(manifest: dict) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(manifest.get("start"))
    except (TypeError, ValueError):
        return None
    return t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _compares_of(name: str, pages: list[str]) -> list[dict]:
    """The comparison pages a run is on (compare-A-vs-B.html), named by the other run."""
    out = []
    for page in pages:
        stem = page[len(COMPARE_PREFIX):-len(".html")]
        if stem.startswith(f"{name}-vs-"):
            out.append({"name": "vs " + stem[len(name) + 4:], "link": quote(page)})
        elif stem.endswith(f"-vs-{name}"):
            out.append({"name": "vs " + stem[:-len(name) - 4], "link": quote(page)})
    return out


def run_row(r: RunListing, reports_name: str, compares: list[str]) -> dict:
    """One line of the index. Nothing in a listing is trusted to have the expected type."""
    summary = r.summary.as_dict() if r.summary is not None else {}
    manifest = r.manifest or {}
    start = _start(manifest)
    target = _text(summary.get("target")) or _text(manifest.get("target"))
    problems = [p for p in (r.manifest_problem,) if p]
    verdict = _text(summary.get("verdict"))
    status = "analysed"
    if r.summary is None or verdict is None:
        status = "not analysed yet"
        if r.summary is not None:
            problems.append("summary.json has no verdict")
        elif r.summary_problem and r.summary_problem != "no summary.json":
            problems.append(r.summary_problem)
    # The hint names the folder the way make expects it from the project's root.
    where = f"{reports_name}/{r.name}" if reports_name == "reports" else str(r.path)
    return {
        "name": r.name, "link": quote(r.name) + "/index.html" if r.has_page else None,
        "scenario": _text(summary.get("scenario")) or _text(manifest.get("scenario"))
        or "unknown",
        "target": target or "unknown",
        "host": (urlsplit(target).netloc or target) if target else "unknown",
        "date": start.strftime("%Y-%m-%d %H:%M:%S UTC") if start else "unknown",
        "sort_ts": start.timestamp() if start else r.mtime,
        "status": status, "verdict": verdict, "hint": f"make report RUN={where}",
        "events": summary.get("events") if isinstance(summary.get("events"), int) else None,
        "problems": problems,
        "compares": _compares_of(r.name, compares),
    }


def render_runs_index(runs: list[RunListing], compare_pages: list[str], reports_name: str,
                      generated: str) -> str:
    rows = sorted((run_row(r, reports_name, compare_pages) for r in runs),
                  key=lambda row: row["sort_ts"], reverse=True)
    return render(
        "runs_index.html", rows=rows, compares=[{"name": c, "link": quote(c)} for c in compare_pages],
        mark=INDEX_MARK, generated=generated)
