"""Analysis of harness runs: `python -m analysis report|render|tune|compare|index|schema`.

Importing the package is light (no pandas, pyarrow or matplotlib): the commands that draw
nothing (index, render, schema) never load them. The layout is in DESIGN.md: cli, pipeline,
store/, decisions, quota/, retry_after, load_levels, simulate (backoff), tune, summary,
figures/, pages/.
"""
