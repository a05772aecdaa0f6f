"""The recorder keeps every attempt, survives a killed process and bad values, never raises."""

import itertools
import math
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import gevent
from hypothesis import given, settings, strategies as st

from contract.events import COLUMN_NAMES, COLUMNS
from contract.events_file import read_events
from locustfiles.common.recorder import ROW_NAMES, Recorder, row_from_request

DEFAULTS = {"str": "", "int": 0, "float": math.nan}
KIND = dict(COLUMNS)


class FakeResponse:
    def __init__(self, status, headers=None):
        self.status_code = status
        self.headers = headers or {}


def make(tmp_path, name="w.arrows"):
    return Recorder(tmp_path / "events" / name, run_id="r", worker="w", scenario="s")


def finished(**fields) -> tuple:
    """A row as a user class finishes it, the fields not given empty."""
    return tuple(fields.get(n, DEFAULTS[KIND[n]]) for n in ROW_NAMES)


def add(rec, **fields) -> None:
    """Hand a finished row over as the user class does: in the request event's context."""
    rec.on_request(request_type="POST", name="/v1/chat/completions", response_time=1.0,
                   response_length=0, response=None, context={"event_row": finished(**fields)},
                   exception=None, start_time=1.0, url="/v1/chat/completions")


def test_rows_round_trip_with_every_column(tmp_path):
    rec = make(tmp_path)
    rec.on_request(response_time=12.5, response_length=99,
                   response=FakeResponse(429, {"retry-after": "3"}),
                   context={"key_id": "abcd1234", "phase": "spike", "user": 2}, exception=None,
                   start_time=1000.0)
    rec.on_request(response_time=5, response_length=10, response=FakeResponse(200, {}),
                   context={"request_id": "req_1"}, exception=None, start_time=1001.0)
    rec.close()
    table, problem = read_events(rec.path)
    assert problem is None
    assert table.column_names == list(COLUMN_NAMES)
    rows = table.to_pylist()
    assert [r["outcome"] for r in rows] == ["rate_limited", "ok"]
    assert rows[0]["retry_after_s"] == 3.0 and rows[0]["phase"] == "spike"
    assert rows[0]["intended_ts"] == 1000.0 and rows[0]["user"] == 2
    assert math.isnan(rows[1]["retry_after_s"]) and rows[1]["request_id"] == "req_1"


def row(*args):
    return dict(zip(ROW_NAMES, row_from_request(*args)))


def test_outcomes_from_status_and_errors():
    ok_without_id = row(3, 0, FakeResponse(200), {}, None, 1.0)
    assert ok_without_id["outcome"] == "bad_response"
    refused = row(1, 0, FakeResponse(0), {}, ConnectionRefusedError("refused"), 1.0)
    assert refused["outcome"] == "transport_error" and "ConnectionRefusedError" in \
        refused["error"] and refused["status"] == 0
    assert row(1, 0, FakeResponse(503), {}, None, 1.0)["outcome"] == "unavailable"
    assert row(1, 0, FakeResponse(500), {}, None, 1.0)["outcome"] == "server_error"
    long_id = row(1, 0, FakeResponse(200), {"request_id": "r" * 500}, None, 1.0)
    assert long_id["outcome"] == "ok" and len(long_id["request_id"]) == 200


def test_listener_never_raises_on_a_broken_response(tmp_path):
    class Hostile:
        @property
        def status_code(self):
            raise RuntimeError("boom")

    rec = make(tmp_path)
    rec.on_request(response=Hostile(), context={}, start_time=1.0, response_time=1)
    assert rec.errors == 1
    rec.close()


def test_a_value_of_the_wrong_type_loses_nothing(tmp_path):
    """Issue 10 item 11: such a row was dropped as "does not fit the schema"."""
    rec = make(tmp_path)
    add(rec, status=200, outcome="ok")
    add(rec, status="not a number", outcome={"a": 1}, retry_after_s="7", request_id=42,
        user=10 ** 30)
    add(rec, status=429, outcome="rate_limited")
    rec.close()
    rows = read_events(rec.path)[0].to_pylist()
    assert [r["status"] for r in rows] == [200, 0, 429]
    assert rows[1]["outcome"] == "{'a': 1}" and math.isnan(rows[1]["retry_after_s"])
    assert rows[1]["request_id"] == "42" and rows[1]["user"] == 0
    assert rec.errors == 0


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
CONTEXT_FIELDS = ["request_id", "outcome", "error", "phase", "logical_id", "attempt", "key_id",
                  "model", "user", "intended_ts", "ttfb_ms", "first_token_ms", "tbt_mean_ms",
                  "tbt_max_ms", "chunks"]


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(CONTEXT_FIELDS), JSON | st.binary(max_size=20)),
       st.sampled_from([200, 429, 503, 0]), JSON)
def test_any_json_value_in_any_field_is_a_row(tmp_path_factory, context, status,
                                              response_length):
    """Every field of the row is total: whatever type a JSON body (or a caller) puts in the
    context, the hook neither raises nor loses the row, and a 200 whose request_id is not a
    string is never `ok` unless the caller said so."""
    rec = make(tmp_path_factory.mktemp("any"))
    rec.on_request(response_time=1.0, response_length=response_length,
                   response=FakeResponse(status), context=dict(context), exception=None,
                   start_time=1.0)
    rec.close()
    assert rec.errors == 0
    rows = read_events(rec.path)[0].to_pylist()
    assert len(rows) == 1
    if status == 200 and "outcome" not in context:
        rid = context.get("request_id")
        assert rows[0]["outcome"] == ("ok" if isinstance(rid, str) and rid else
                                      "bad_response")


def test_a_request_id_that_is_not_a_string_is_a_bad_response():
    for rid in (42, {"id": "x"}, ["x"], 1.5, True):
        got = row(3, 0, FakeResponse(200), {"request_id": rid}, None, 1.0)
        assert got["outcome"] == "bad_response" and got["request_id"] == ""


ROOT = Path(__file__).resolve().parents[2]


def test_killed_process_leaves_rows_up_to_last_flush(tmp_path):
    """Killed while it keeps adding rows, the recorder leaves every row it had said was on
    disk (rows_written, counted after each batch's fsync), in order, in whole batches."""
    path = tmp_path / "events" / "k.arrows"
    script = textwrap.dedent(f"""
        from locustfiles.common.recorder import Recorder
        from tests.locustfiles.test_recorder import add
        rec = Recorder({str(path)!r}, run_id="r", worker="k", scenario="s",
                       max_buffered_rows=1000)
        for i in range(300):
            add(rec, status=200, outcome="ok", attempt=i)
        rec.flush()
        print("flushed", rec.rows_written, flush=True)
        said = False
        for i in range(300, 10**9):
            add(rec, status=429, outcome="rate_limited", attempt=i)
            if not said and rec.rows_written >= 5300:  # five batches, each flushed when full
                print("written", rec.rows_written, flush=True)
                said = True
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT)
    try:
        assert proc.stdout.readline().split() == ["flushed", "300"]
        word, written = proc.stdout.readline().split()
        assert word == "written"
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-way through later batches: it never stops
        proc.wait()
    table, _ = read_events(path)
    attempts = table.column("attempt").to_pylist()
    assert len(attempts) >= int(written) >= 5300
    assert attempts == list(range(len(attempts)))  # whole batches only, in order
    assert len(attempts) % 1000 == 300  # the first flush's 300, then whole batches of 1000


def test_rows_stay_whole_and_in_order_when_greenlets_flush_at_once(tmp_path):
    """Batches are written by a worker thread while users keep appending; whoever flushes, and
    however often, every row is written once, in the order it was added, and is on disk when
    flush returns."""
    rec = make(tmp_path)
    numbers = itertools.count()

    def user():
        for _ in range(300):
            add(rec, attempt=next(numbers), status=429)
            gevent.sleep(0)

    def flusher():
        for _ in range(40):
            rec.flush()
            gevent.sleep(0)

    gevent.joinall([gevent.spawn(user) for _ in range(4)] +
                   [gevent.spawn(flusher) for _ in range(3)], raise_error=True)
    rec.flush()
    on_disk = read_events(rec.path)[0].column("attempt").to_pylist()  # before close
    rec.close()
    assert on_disk == list(range(1200))
    assert read_events(rec.path)[0].column("attempt").to_pylist() == list(range(1200))
    assert rec.rows_written == 1200 and rec.errors == 0


def test_the_loop_runs_while_a_batch_is_written(tmp_path, monkeypatch):
    """fsync happens in another OS thread: a greenlet gets to run while it is in progress."""
    import locustfiles.common.recorder as recorder_module

    loop_ran = threading.Event()
    seen = {}

    def slow_fsync(fd):
        seen["thread"] = threading.get_ident()
        seen["loop ran"] = loop_ran.wait(timeout=30)  # set by a greenlet, or never

    monkeypatch.setattr(recorder_module.os, "fsync", slow_fsync)
    rec = make(tmp_path)
    add(rec, attempt=1)
    ticker = gevent.spawn(loop_ran.set)
    rec.flush()
    ticker.join()
    rec.close()
    assert seen["loop ran"] is True and seen["thread"] != threading.get_ident()
    assert read_events(rec.path)[0].num_rows == 1


def test_a_failing_write_never_reaches_locust(tmp_path):
    rec = Recorder(tmp_path / "events" / "f.arrows", run_id="r", worker="w", scenario="s",
                   max_buffered_rows=1)  # every row flushes at once, from on_request

    class Broken:
        def write_batch(self, batch):
            raise OSError("disk full")

        def close(self):
            pass

    rec._writer = Broken()
    rec.on_request(response_time=1, response=FakeResponse(429), context={}, start_time=1.0)
    assert rec.errors == 1
    rec.close()


def test_first_flush_imports_nothing(tmp_path):
    """pyarrow's one-time work (its look for pandas) happens when the recorder is made,
    before the load starts, not at the first flush in the middle of a run."""
    path = tmp_path / "events" / "i.arrows"
    script = textwrap.dedent(f"""
        import math, sys
        from locustfiles.common.recorder import Recorder
        from tests.locustfiles.test_recorder import add
        rec = Recorder({str(path)!r}, run_id="r", worker="i", scenario="s")
        before = set(sys.modules)
        add(rec, status=429, outcome="rate_limited", retry_after_s=7.0,
            ratelimit_reset_s=math.nan, retry_after_raw="7")
        rec.flush()
        print(sorted(set(sys.modules) - before))
        rec.close()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=ROOT,
                         check=True).stdout
    assert out.strip() == "[]"
    assert read_events(path)[0].num_rows == 1


def test_cut_and_corrupt_files_give_a_clear_message(tmp_path):
    rec = make(tmp_path)
    for i in range(50):
        add(rec, attempt=i)
    rec.flush()
    for i in range(50):
        add(rec, attempt=100 + i)
    rec.close()
    data = rec.path.read_bytes()
    cut = tmp_path / "cut.arrows"
    cut.write_bytes(data[:-300])
    table, problem = read_events(cut)
    assert table.num_rows == 50 and "cut short after 1 whole batches" in problem
    garbage = tmp_path / "garbage.arrows"
    garbage.write_bytes(b"this is not arrow at all" * 10)
    table, problem = read_events(garbage)
    assert table.num_rows == 0 and "not an events file" in problem


def test_a_version_1_file_reads_with_the_streaming_columns_empty(tmp_path):
    """Events schema 2 added first_token_ms, tbt_mean_ms, tbt_max_ms and chunks; a run
    recorded before still reads, those columns NaN and 0, the rest as written."""
    import pyarrow as pa

    from contract.events_file import ARROW_SCHEMA
    from contract.events import ADDED_IN

    old_fields = [f for f in ARROW_SCHEMA if f.name not in ADDED_IN[2]]
    old = pa.schema(old_fields, metadata={"pinaivu_schema_version": "1"})
    values = {"str": "x", "int": 7, "float": 1.5}
    kinds = dict(COLUMNS)
    batch = pa.record_batch([pa.array([values[kinds[f.name]]] * 2, type=f.type)
                             for f in old_fields], schema=old)
    path = tmp_path / "v1.arrows"
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, old) as writer:
        writer.write_batch(batch)
    table, problem = read_events(path)
    assert problem is None and table.column_names == list(COLUMN_NAMES)
    rows = table.to_pylist()
    assert len(rows) == 2 and rows[0]["status"] == 7 and rows[0]["latency_ms"] == 1.5
    assert all(math.isnan(r["first_token_ms"]) and math.isnan(r["tbt_mean_ms"])
               and math.isnan(r["tbt_max_ms"]) and r["chunks"] == 0 for r in rows)
