"""The per-process event recorder: one row per HTTP attempt, appended to an Arrow IPC stream.

Rows are buffered as tuples and written as one record batch at least every second (and at the
end), converted, written and fsynced in a worker thread so that the users' gevent loop is not
stopped meanwhile. An IPC stream is a sequence of self-contained batches, so a process killed
at any moment leaves a file whose whole batches all read back; only the batch being written is
lost. Nothing here raises into Locust: a row that cannot be built is counted as a harness error.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import pyarrow as pa
from gevent.threadpool import ThreadPool

from contract.events_file import ARROW_SCHEMA
from contract.events import COLUMNS, RAW_MAX, outcome_for_status

from contract.headers import NAN, NO_FIELDS, header_fields

log = logging.getLogger(__name__)

_DEFAULTS = {"str": "", "int": 0, "float": math.nan}
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _as_str(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:RAW_MAX * 4]).decode("utf-8", "replace")[:RAW_MAX]
    return _cut(value) if value is not None else ""


def _as_int(value) -> int:
    try:
        number = int(value)  # bool, integral float, numeric text
    except (TypeError, ValueError, OverflowError):
        return 0
    return number if _INT64[0] <= number <= _INT64[1] and number == value else 0


def _as_float(value) -> float:
    if isinstance(value, (int, float)):  # bool too
        try:
            return float(value)
        except OverflowError:
            return math.nan
    return math.nan


_KINDS = tuple(kind for _, kind in COLUMNS)
_TYPE = {"str": str, "int": int, "float": float}
_EXPECTED = tuple(_TYPE[kind] for kind in _KINDS)
_FIXERS = tuple({"str": _as_str, "int": _as_int, "float": _as_float}[kind] for kind in _KINDS)


def total_row(values) -> tuple:
    """The row with every value of its column's type: whatever a server's answer or a caller
    put in a field (any JSON type, bytes, a huge number), the row is kept. Text that is not
    text becomes its text (cut short); a number that is not a number becomes NaN (0 for
    counts). None stays: Arrow stores it as null (a user number that is unknown, not 0)."""
    return tuple(v if v is None or (type(v) is t and (t is not int or
                                                      _INT64[0] <= v <= _INT64[1]))
                 else fix(v) for v, t, fix in zip(values, _EXPECTED, _FIXERS))


class Recorder:
    """Rows are appended on the gevent loop's thread (Locust's request event, `add`) and
    written from one real OS thread of gevent's thread pool: converting, writing and fsyncing
    a batch does not stop the loop, so the users go on sending while it is written. `flush`
    hands the current rows over in one step (no greenlet switch between taking the list and
    replacing it, so no lock is needed on the hot path) and waits, in its own greenlet, until
    they are on disk. One worker thread takes the batches in the order they were handed over,
    so rows stay in order whoever calls `flush`."""

    def __init__(self, path: Path, *, run_id: str, worker: str, scenario: str,
                 max_buffered_rows: int = 20_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_id, self.worker, self.scenario = run_id, worker, scenario
        self._fixed = (run_id, worker, scenario)
        self.max_buffered_rows = max_buffered_rows
        # Rows are tuples in column order: one append per attempt on the hot path, and one
        # transpose per batch at flush time.
        self._rows: list[tuple] = []
        self._file = open(self.path, "ab")
        self._writer = pa.ipc.new_stream(self._file, ARROW_SCHEMA)
        self._file.flush()
        # pyarrow imports pandas (when installed) the first time pa.array runs, to check for
        # pandas objects: about half a second that would otherwise stall every user at the
        # first flush, one second into the run. Pay it here, before any load starts.
        _to_batch([])
        self._pool = ThreadPool(1)  # one worker: batches are written in the order given
        self.rows_written = 0
        self.errors = 0
        self.closed = False

    # -- writing ---------------------------------------------------------------------------

    def add(self, row: dict) -> None:
        """Buffer one row given as a dict; missing columns get their empty value."""
        fixed = {"run_id": self.run_id, "worker": self.worker, "scenario": self.scenario}
        values = []
        for name, kind in COLUMNS:
            value = row.get(name, fixed.get(name))
            values.append(_DEFAULTS[kind] if value is None else value)
        rows = self._rows
        rows.append(total_row(values))
        if len(rows) >= self.max_buffered_rows:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one batch, flushed and fsynced, before returning."""
        if self.closed or not self._rows:
            return
        rows, self._rows = self._rows, []
        written, dropped = self._pool.apply(self._write, (rows,))
        self.rows_written += written
        self.errors += dropped

    def _write(self, rows: list[tuple]) -> tuple[int, int]:
        """In the worker thread: (rows written, rows dropped)."""
        try:
            batch, dropped = _to_batch(rows), 0
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            # One bad value must not cost the rest of the batch: keep the rows that convert.
            batch, dropped = _salvage(rows, exc)
        self._writer.write_batch(batch)
        self._file.flush()
        os.fsync(self._file.fileno())
        return batch.num_rows, dropped

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.flush()
        finally:
            self.closed = True
            try:
                self._pool.apply(self._close_file)
            finally:
                self._pool.kill()

    def _close_file(self) -> None:
        try:
            self._writer.close()
        finally:
            self._file.close()

    # -- Locust's request event -------------------------------------------------------------

    def on_request(self, request_type=None, name=None, response_time=None, response_length=None,
                   response=None, context=None, exception=None, start_time=None, url=None,
                   **_ignored) -> None:
        try:
            rows = self._rows
            rows.append(row_from_request(response_time, response_length, response,
                                         context or {}, exception, start_time, self._fixed))
            if len(rows) >= self.max_buffered_rows:
                self.flush()
        except Exception:  # never into Locust: count it, log it, go on
            self.errors += 1
            log.exception("recorder: could not record an attempt")


def _salvage(rows: list[tuple], exc: Exception) -> tuple[pa.RecordBatch, int]:
    """The rows that convert, each made total first if it does not, as a batch, and how many
    still did not (none, unless the schema itself is broken)."""
    good = []
    for row in rows:
        for candidate in (row, total_row(row)):
            try:
                _to_batch([candidate])
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                continue
            good.append(candidate)
            break
        else:
            log.error("recorder: dropped a row that does not fit the schema (%s)", exc)
    return _to_batch(good), len(rows) - len(good)


def _to_batch(rows: list[tuple]) -> pa.RecordBatch:
    columns = list(zip(*rows)) if rows else [()] * len(COLUMNS)
    return pa.record_batch([pa.array(col, type=ARROW_SCHEMA.field(i).type)
                            for i, col in enumerate(columns)], schema=ARROW_SCHEMA)


def _cut(text: object) -> str:
    return str(text)[:RAW_MAX]


def row_from_request(response_time, response_length, response, context: dict, exception,
                     start_time, fixed: tuple[str, str, str] = ("", "", "")) -> tuple:
    """Build an event row (a tuple in COLUMNS order) from what Locust's request event carries.

    `fixed` is (run_id, worker, scenario). The user class fills `context` with the row's own
    fields (logical_id, attempt, phase, key_id, model, endpoint, intended_ts, ttfb_ms, outcome,
    request_id, error); the rest is read from the response here. This runs once per attempt
    inside Locust's process, so it stays lean (benchmarks/recorder_overhead.py).
    """
    sent = float(start_time) if start_time is not None else math.nan
    latency_ms = float(response_time) if response_time is not None else math.nan
    status = int(getattr(response, "status_code", 0) or 0)
    if status:
        retry_after_s, retry_after_raw, limit, remaining, reset = header_fields(
            getattr(response, "headers", None),
            sent + latency_ms / 1000 if latency_ms == latency_ms else sent)
    else:
        retry_after_s, retry_after_raw, limit, remaining, reset = NO_FIELDS
    get = context.get
    request_id = get("request_id") or ""
    if type(request_id) is not str:  # only a string is a request id (DESIGN: bad_response)
        request_id = ""
    outcome = get("outcome")
    if outcome is None:
        outcome = outcome_for_status(status, bool(request_id)) if status else "transport_error"
    error = get("error")
    if error is None and exception is not None and outcome not in ("rate_limited",
                                                                     "unavailable"):
        error = f"{type(exception).__name__}: {exception}"
    intended = get("intended_ts")
    ttfb = get("ttfb_ms")
    first_token = get("first_token_ms")
    row = (fixed[0], fixed[1], get("user"), fixed[2], get("phase", ""), get("logical_id", ""),
           get("attempt", 1), get("key_id", ""), get("model", ""), get("endpoint", ""),
           sent if intended is None else intended, sent, latency_ms,
           NAN if ttfb is None else ttfb, status, outcome, retry_after_s, retry_after_raw,
           limit, remaining, reset, request_id[:RAW_MAX] if len(request_id) > RAW_MAX
           else request_id, response_length or 0, _cut(error) if error else "",
           NAN if first_token is None else first_token, get("tbt_mean_ms", NAN),
           get("tbt_max_ms", NAN), get("chunks", 0))
    # Not made total here: this runs once per attempt (benchmarks/recorder_overhead.py), and
    # what a server sends is made total above (headers, request_id). A value of the wrong
    # type from a caller fails its batch's conversion, and _salvage makes that row total.
    return row
