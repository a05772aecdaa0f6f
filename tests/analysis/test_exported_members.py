"""The public names of analysis' packages, listed once in each __init__.py, pinned here: a
name added or dropped is a decision, not an accident."""

from __future__ import annotations

import analysis.figures
import analysis.pages
import analysis.store

PINNED = {
    analysis.store: [
        "COMPARE_PREFIX", "INDEX_MARK", "RunListing", "compare_page_name", "list_runs",
        "may_write_runs_index", "write_runs_index",
        "ANALYSED", "Run", "RunError", "check_run_folder", "comparable_runs", "compared_runs",
        "load_run", "newest_run", "read_manifest", "user_runs",
        "SummaryRead", "current_summary", "kept_results", "read_figures", "read_summary",
        "write_page", "write_report", "write_summary"],
    analysis.figures: ["backoff_figure", "comparison_figures", "draw_pngs", "run_figures"],
}


def test_public_names_are_pinned_and_defined():
    for package, names in PINNED.items():
        assert package.__all__ == names, package.__name__
        assert all(hasattr(package, n) for n in names), package.__name__


def test_one_jinja_environment_for_every_page():
    templates = set(analysis.pages.ENV.list_templates())
    assert {"report.html", "compare.html", "runs_index.html"} <= templates
    assert analysis.pages.inline_images({"x": b"\x89PNG"}) == {"x": "iVBORw=="}
