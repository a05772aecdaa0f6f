"""The per-process event recorder: one row per HTTP attempt, appended to an Arrow IPC stream.

Rows are buffered in column lists and written as one record batch at least every second (and
at the end). An IPC stream is a sequence of self-contained batches, so a process killed at any
moment leaves a file whose whole batches all read back; only the batch being written is lost.
Nothing here raises into Locust: a row that cannot be built is counted as a harness error.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path

import pyarrow as pa

from analysis.schema import COLUMNS, RAW_MAX, SCHEMA_VERSION, outcome_for_status

from .headers import parse_ratelimit, parse_retry_after

log = logging.getLogger(__name__)

_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
ARROW_SCHEMA = pa.schema([pa.field(n, _ARROW_TYPES[k]) for n, k in COLUMNS],
                         metadata={"pinaivu_schema_version": str(SCHEMA_VERSION)})
_DEFAULTS = {"str": "", "int": 0, "float": math.nan}


class Recorder:
    def __init__(self, path: Path, *, run_id: str, worker: str, scenario: str,
                 max_buffered_rows: int = 20_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fixed = {"run_id": run_id, "worker": worker, "scenario": scenario}
        self.max_buffered_rows = max_buffered_rows
        self._columns: dict[str, list] = {n: [] for n, _ in COLUMNS}
        self._lock = threading.Lock()
        self._file = open(self.path, "ab")
        self._writer = pa.ipc.new_stream(self._file, ARROW_SCHEMA)
        self._file.flush()
        self.rows_written = 0
        self.errors = 0
        self.closed = False

    # -- writing ---------------------------------------------------------------------------

    def add(self, row: dict) -> None:
        """Buffer one row; missing columns get their empty value (NaN, 0 or '')."""
        with self._lock:
            for name, kind in COLUMNS:
                value = row.get(name, self.fixed.get(name))
                self._columns[name].append(_DEFAULTS[kind] if value is None else value)
            full = len(self._columns["run_id"]) >= self.max_buffered_rows
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            if self.closed or not self._columns["run_id"]:
                return
            columns, self._columns = self._columns, {n: [] for n, _ in COLUMNS}
            try:
                batch = pa.record_batch([pa.array(columns[n], type=ARROW_SCHEMA.field(n).type)
                                         for n, _ in COLUMNS], schema=ARROW_SCHEMA)
            except (pa.ArrowException, TypeError, ValueError) as exc:
                # One bad value must not cost the rest of the batch: keep the rows that convert.
                batch = self._salvage(columns, exc)
            self._writer.write_batch(batch)
            self._file.flush()
            os.fsync(self._file.fileno())
            self.rows_written += batch.num_rows

    def _salvage(self, columns: dict[str, list], exc: Exception) -> pa.RecordBatch:
        good: dict[str, list] = {n: [] for n, _ in COLUMNS}
        for i in range(len(columns["run_id"])):
            row = {n: columns[n][i] for n, _ in COLUMNS}
            try:
                pa.record_batch([pa.array([row[n]], type=ARROW_SCHEMA.field(n).type)
                                 for n, _ in COLUMNS], schema=ARROW_SCHEMA)
            except (pa.ArrowException, TypeError, ValueError):
                self.errors += 1
                log.error("recorder: dropped a row that does not fit the schema (%s)", exc)
                continue
            for n in good:
                good[n].append(row[n])
        return pa.record_batch([pa.array(good[n], type=ARROW_SCHEMA.field(n).type)
                                for n, _ in COLUMNS], schema=ARROW_SCHEMA)

    def close(self) -> None:
        self.flush()
        with self._lock:
            if not self.closed:
                self.closed = True
                self._writer.close()
                self._file.close()

    # -- Locust's request event -------------------------------------------------------------

    def on_request(self, request_type=None, name=None, response_time=None, response_length=None,
                   response=None, context=None, exception=None, start_time=None, url=None,
                   **_ignored) -> None:
        try:
            self.add(row_from_request(response_time, response_length, response, context or {},
                                      exception, start_time))
        except Exception:  # never into Locust: count it, log it, go on
            self.errors += 1
            log.exception("recorder: could not record an attempt")


def _cut(text: object) -> str:
    return str(text)[:RAW_MAX]


def row_from_request(response_time, response_length, response, context: dict, exception,
                     start_time) -> dict:
    """Build an event row from what Locust's request event carries.

    The user class fills `context` with the row's own fields (logical_id, attempt, phase,
    key_id, model, endpoint, intended_ts, ttfb_ms, outcome, request_id, error); the rest is read
    from the response here.
    """
    sent = float(start_time) if start_time is not None else math.nan
    latency_ms = float(response_time) if response_time is not None else math.nan
    status = int(getattr(response, "status_code", 0) or 0)
    headers = getattr(response, "headers", None) or {}
    now = sent + latency_ms / 1000 if not math.isnan(latency_ms) else sent
    retry_after_s, retry_after_raw = parse_retry_after(headers, now)
    limit, remaining, reset = parse_ratelimit(headers, now)
    outcome = context.get("outcome")
    if outcome is None:
        outcome = outcome_for_status(status, bool(context.get("request_id"))) if status \
            else "transport_error"
    error = context.get("error")
    if error is None and exception is not None and outcome not in ("rate_limited",
                                                                     "unavailable"):
        error = f"{type(exception).__name__}: {exception}"
    return {
        "user": context.get("user"), "phase": context.get("phase", ""),
        "logical_id": context.get("logical_id", ""), "attempt": context.get("attempt", 1),
        "key_id": context.get("key_id", ""), "model": context.get("model", ""),
        "endpoint": context.get("endpoint", ""),
        "intended_ts": context.get("intended_ts", sent), "sent_ts": sent,
        "latency_ms": latency_ms, "ttfb_ms": context.get("ttfb_ms"),
        "status": status, "outcome": outcome,
        "retry_after_s": retry_after_s, "retry_after_raw": retry_after_raw,
        "ratelimit_limit": limit, "ratelimit_remaining": remaining, "ratelimit_reset_s": reset,
        "request_id": _cut(context.get("request_id") or ""),
        "response_bytes": int(response_length or 0),
        "error": _cut(error or ""),
    }


def read_events(path: Path) -> tuple[pa.Table, str | None]:
    """Every whole batch of one events file, and why reading stopped early (None if it did
    not). A file cut by a killed process reads up to its last whole batch."""
    batches: list[pa.RecordBatch] = []
    problem = None
    try:
        with pa.OSFile(str(path), "rb") as f:
            reader = pa.ipc.open_stream(f)
            schema = reader.schema
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
                except (pa.ArrowInvalid, OSError) as exc:
                    problem = f"{path.name}: truncated after {len(batches)} batches ({exc})"
                    break
    except (pa.ArrowInvalid, OSError) as exc:
        return ARROW_SCHEMA.empty_table(), f"{path.name}: not an events file ({exc})"
    return pa.Table.from_batches(batches, schema=schema), problem
