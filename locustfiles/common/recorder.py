"""The per-process event recorder: one row per HTTP attempt, appended to an Arrow IPC stream.

The user class hands each attempt's row over finished (`finished_row`, in the context of
Locust's request event); `on_request` only appends it. Rows are buffered as tuples and written
as one record batch at least every second (and at the end), converted, written and fsynced in
a worker thread: on the users' gevent loop a flush is one list swap. An IPC stream is a
sequence of self-contained batches, so a process killed at any moment leaves a file whose
whole batches all read back; only the batch being written is lost. Nothing here raises into
Locust: a row that cannot be built is counted as a harness error.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from pathlib import Path

import pyarrow as pa
from gevent.threadpool import ThreadPool

from contract.events import COLUMN_NAMES, COLUMNS, RAW_MAX, attempt_outcome
from contract.events_file import ARROW_SCHEMA
from contract.headers import NAN, NO_FIELDS, header_fields

log = logging.getLogger(__name__)

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


# A row holds every column but the three that are the same for the whole file (run_id,
# worker, scenario): those are added once per batch.
_FIXED = ("run_id", "worker", "scenario")
_ROW_AT = tuple(i for i, name in enumerate(COLUMN_NAMES) if name not in _FIXED)
ROW_NAMES = tuple(COLUMN_NAMES[i] for i in _ROW_AT)
_KINDS = tuple(COLUMNS[i][1] for i in _ROW_AT)
_ROW_STRUCT = pa.struct([ARROW_SCHEMA.field(i) for i in _ROW_AT])
_TYPE = {"str": str, "int": int, "float": float}
_EXPECTED = tuple(_TYPE[kind] for kind in _KINDS)
_FIXERS = tuple({"str": _as_str, "int": _as_int, "float": _as_float}[kind] for kind in _KINDS)


def total_row(values) -> tuple:
    """The row (ROW_NAMES' columns) with every value of its column's type: whatever a server's
    answer or a caller put in a field (any JSON type, bytes, a huge number), the row is kept.
    Text that is not text becomes its text (cut short); a number that is not a number becomes
    NaN (0 for counts). None stays: Arrow stores it as null (a user number that is unknown,
    not 0)."""
    return tuple(v if v is None or (type(v) is t and (t is not int or
                                                      _INT64[0] <= v <= _INT64[1]))
                 else fix(v) for v, t, fix in zip(values, _EXPECTED, _FIXERS))


class Recorder:
    """Rows are appended on the gevent loop's thread (Locust's request event, `on_request`)
    and written from one real OS thread of gevent's thread pool: converting, writing and
    fsyncing a batch does not stop the loop, so the users go on sending while it is written.
    `flush` hands the current rows over in one step (no greenlet switch between taking the
    list and replacing it, so no lock is needed on the hot path) and waits, in its own
    greenlet, until they are on disk. One worker thread takes the batches in the order they
    were handed over, so rows stay in order whoever calls `flush`."""

    def __init__(self, path: Path, *, run_id: str, worker: str, scenario: str,
                 max_buffered_rows: int = 20_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _first_conversion()
        self._fixed = tuple(pa.scalar(v, pa.string()) for v in (run_id, worker, scenario))
        self.max_buffered_rows = max_buffered_rows
        # Rows are tuples in ROW_NAMES order: one append per attempt on the hot path, and one
        # transpose per batch at flush time.
        self._rows: list[tuple] = []
        self._file = open(self.path, "ab")
        self._writer = pa.ipc.new_stream(self._file, ARROW_SCHEMA)
        self._file.flush()
        self._pool = ThreadPool(1)  # one worker: batches are written in the order given
        self.rows_written = 0
        self.errors = 0
        self.closed = False

    # -- writing ---------------------------------------------------------------------------

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
            batch, dropped = _to_batch(rows, self._fixed), 0
        except (pa.ArrowException, TypeError, ValueError, OverflowError) as exc:
            # One bad value must not cost the rest of the batch: keep the rows that convert.
            batch, dropped = _salvage(rows, self._fixed, exc)
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
        """One row per request event: the one the user class finished (`event_row` in the
        context), else one built from what the event carries."""
        try:
            row = context.get("event_row") if context else None
            if row is None:
                row = row_from_request(response_time, response_length, response,
                                       context or {}, exception, start_time)
            rows = self._rows
            rows.append(row)
            if len(rows) >= self.max_buffered_rows:
                self.flush()
        except Exception:  # never into Locust: count it, log it, go on
            self.errors += 1
            log.exception("recorder: could not record an attempt")


def _first_conversion() -> None:
    """Run pyarrow's first conversion now, and without pandas. pyarrow looks for pandas the
    first time `pa.array` runs (to tell pandas objects apart) and imports it when installed:
    half a second that would stall every user at the first flush, and pandas' heap in a
    process that never uses it (Locust's processes must not import pandas). Hidden for that
    one look, pandas is taken as absent by those checks for the rest of the process; pyarrow
    still imports it when a caller asks for pandas (`to_pandas`), so a process that does
    loses nothing."""
    if "pandas" in sys.modules:  # already paid for: nothing to save
        _to_batch([], ())
        return
    hide = _HidePandas()
    sys.meta_path.insert(0, hide)
    try:
        _to_batch([], ())
    finally:
        sys.meta_path.remove(hide)


class _HidePandas:
    """An import finder under which pandas cannot be imported."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"{name} is hidden from pyarrow's first look",
                                      name=name)
        return None


def _salvage(rows: list[tuple], fixed: tuple, exc: Exception) -> tuple[pa.RecordBatch, int]:
    """The rows that convert, each made total first if it does not, as a batch, and how many
    still did not (none, unless the schema itself is broken)."""
    good = []
    for row in rows:
        for candidate in (row, total_row(row)):
            try:
                _to_batch([candidate], ())
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                continue
            good.append(candidate)
            break
        else:
            log.error("recorder: dropped a row that does not fit the schema (%s)", exc)
    return _to_batch(good, fixed), len(rows) - len(good)


def _to_batch(rows: list[tuple], fixed: tuple) -> pa.RecordBatch | list:
    """The rows as a record batch; with `fixed` () only the rows' own columns, converted (a
    check that they convert). The rows go to Arrow as one struct array, tuple by tuple, in
    C++: no transpose in Python (benchmarks/recorder_overhead.py)."""
    arrays = pa.array(rows, type=_ROW_STRUCT).flatten()
    if not fixed:
        return arrays
    n = len(rows)
    run_id, worker, scenario = (pa.repeat(v, n) for v in fixed)
    # COLUMNS starts run_id, worker, user, scenario: the fixed three go back in their places
    return pa.record_batch([run_id, worker, arrays[0], scenario, *arrays[1:]],
                           schema=ARROW_SCHEMA)


def _cut(text: object) -> str:
    return str(text)[:RAW_MAX]


def finished_row(user, phase, logical_id, attempt, key_id, model, endpoint, intended_ts,
                 sent_ts, latency_ms, ttfb_ms, status, outcome, headers, request_id,
                 response_bytes, error, first_token_ms=NAN, tbt_mean_ms=NAN, tbt_max_ms=NAN,
                 chunks=0) -> tuple:
    """One attempt's row (a tuple in ROW_NAMES order) from what its client knows: the user
    class calls it once per attempt, so it stays lean (benchmarks/recorder_overhead.py).
    `headers` are the response's (read only when `status`, i.e. a response arrived)."""
    if status:
        retry_after_s, retry_after_raw, limit, remaining, reset, window, family, rl_raw = \
            header_fields(headers,
                          sent_ts + latency_ms / 1000 if latency_ms == latency_ms else sent_ts)
    else:
        retry_after_s, retry_after_raw, limit, remaining, reset, window, family, rl_raw = \
            NO_FIELDS
    # Not made total here: what a server sends is made total above (headers) and by the
    # callers (request_id); a value of the wrong type from a caller fails its batch's
    # conversion, and _salvage makes that row total.
    return (user, phase, logical_id, attempt, key_id, model, endpoint,
            sent_ts if intended_ts is None else intended_ts, sent_ts, latency_ms,
            NAN if ttfb_ms is None else ttfb_ms, status, outcome, retry_after_s,
            retry_after_raw, limit, remaining, reset,
            request_id[:RAW_MAX] if len(request_id) > RAW_MAX else request_id,
            response_bytes, _cut(error) if error else "",
            NAN if first_token_ms is None else first_token_ms, tbt_mean_ms, tbt_max_ms, chunks,
            window, family, rl_raw)


def request_outcome(status: int, context: dict, exception) -> str:
    """The outcome of a request event: the caller's, else contract's rule on what the event
    carries (Locust's `exception` is a failure only when no response arrived: for a response
    it is the HTTP error or the caller's verdict)."""
    outcome = context.get("outcome")
    if outcome is None:
        request_id = context.get("request_id")
        outcome = attempt_outcome(status, None if status else exception,
                                  request_id if type(request_id) is str else None)
    return outcome


def row_from_request(response_time, response_length, response, context: dict, exception,
                     start_time) -> tuple:
    """A row (ROW_NAMES order) from what Locust's request event carries, for an attempt whose
    client did not finish one (an attempt cancelled mid-request, the SDK's, /v1/models, a
    scenario's own request). The context may hold the row's own fields (logical_id, attempt,
    phase, key_id, model, endpoint, intended_ts, ttfb_ms, outcome, request_id, error, ...)."""
    sent = float(start_time) if start_time is not None else math.nan
    latency_ms = float(response_time) if response_time is not None else math.nan
    status = int(getattr(response, "status_code", 0) or 0)
    get = context.get
    request_id = get("request_id") or ""
    if type(request_id) is not str:  # only a string is a request id (DESIGN: bad_response)
        request_id = ""
    outcome = request_outcome(status, context, exception)
    error = get("error")
    if error is None and exception is not None and outcome not in ("rate_limited",
                                                                     "unavailable"):
        error = f"{type(exception).__name__}: {exception}"
    return finished_row(
        get("user"), get("phase", ""), get("logical_id", ""), get("attempt", 1),
        get("key_id", ""), get("model", ""), get("endpoint", ""), get("intended_ts"), sent,
        latency_ms, get("ttfb_ms"), status, outcome,
        getattr(response, "headers", None) if status else None, request_id,
        response_length or 0, error, get("first_token_ms"), get("tbt_mean_ms", NAN),
        get("tbt_max_ms", NAN), get("chunks", 0))
