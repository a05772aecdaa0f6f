"""The one I/O place of the analysis: run folders (run.json, events, summary.json, figures,
the report page) and the reports folder (its runs index, the comparison pages). Only
analysis/pipeline.py calls it; file names come from contract.run_folder."""

from .reports import (COMPARE_PREFIX, INDEX_MARK, RunListing, compare_page_name, list_runs,
                      may_write_runs_index, write_runs_index)
from .runs import (ANALYSED, Run, RunError, check_run_folder, comparable_runs, compared_runs,
                   load_run,
                   newest_run, read_manifest, user_runs)
from .summaries import (SummaryRead, current_summary, kept_results, read_figures,
                        read_summary, write_page, write_report, write_summary)

__all__ = [
    "COMPARE_PREFIX", "INDEX_MARK", "RunListing", "compare_page_name", "list_runs",
    "may_write_runs_index", "write_runs_index",
    "ANALYSED", "Run", "RunError", "check_run_folder", "comparable_runs", "compared_runs", "load_run",
    "newest_run", "read_manifest", "user_runs",
    "SummaryRead", "current_summary", "kept_results", "read_figures", "read_summary",
    "write_page", "write_report", "write_summary",
]
