"""Analysis of harness runs. Kept light: importing `analysis.schema` must not pull in pandas."""
