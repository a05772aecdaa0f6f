"""The harness's ground floor: what the scenarios, the analysis and the doctor share.

Standard library and pyarrow only, importing nothing else of ours, so that Locust's processes
load it without pandas and the doctor without the load tool. Its public names are listed here
once (tests/contract/test_exported_members.py pins them); import them from their modules.
"""

PUBLIC = {
    "contract.events": (
        "SCHEMA_VERSION", "ADDED_IN", "COLUMNS", "COLUMN_NAMES", "OUTCOMES", "SUFFIX", "CHAT",
        "RAW_MAX", "key_fingerprint", "attempt_outcome"),
    "contract.events_file": ("ARROW_SCHEMA", "read_events"),
    "contract.headers": (
        "MAX_WAIT_S", "NAN", "NO_FIELDS", "WANTED", "header_text", "pick", "parse_retry_after",
        "parse_ratelimit", "parse_declared", "header_fields"),
    "contract.ratelimit_families": ("NAN", "FAMILIES", "RATELIMIT_NAMES", "read_declared"),
    "contract.structured_fields": (
        "StructuredFieldError", "Token", "parse_list", "parse_dictionary", "parse_item"),
    "contract.target": (
        "DEFAULT_BASE_URL", "REPORTS_DIR_ENV", "KeyListError", "TargetError", "Target",
        "split_keys", "keys_variable", "env_keys", "load_target", "require_loopback_for_load",
        "reports_dir"),
    "contract.run_folder": (
        "MANIFEST", "EVENTS_DIR", "LOCUST_DIR", "SUMMARY", "REPORT_PAGE", "RUN_ID_TIME",
        "LIVE_SUFFIX", "RUN_DIR_HELP", "new_run_id", "default_run_dir", "holds_run",
        "events_path", "events_files", "write_json_atomic", "write_text_atomic"),
    "contract.runner": ("RUNNER_MODULE", "runner_command"),
    "contract.probe_log": (
        "PROBE_LOG", "SCHEMA_VERSION", "STEP_NAMES", "OLD_PHASES", "ProbeLogError",
        "check_probe_log", "write_probe_log", "read_probe_log"),
    "contract.policies": (
        "KINDS", "SDK_MAX_RETRIES", "SDK_INITIAL_RETRY_DELAY", "SDK_MAX_RETRY_DELAY",
        "SDK_MAX_RETRY_AFTER", "BUDGET_CAP", "Policy", "Pacer", "RetryBudget", "next_delay",
        "pacer_rate", "poisson_arrivals"),
    "contract.run_health": (
        "EXPECTED", "DEFAULT_FAIL_RATIO", "Counts", "fail_ratio", "failure_reasons", "add_counts",
        "count_outcomes", "outcome_table"),
}
