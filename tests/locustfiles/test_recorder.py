"""The recorder keeps every attempt, survives a killed process and bad values, never raises."""

import itertools
import math
import signal
import subprocess
import sys
import textwrap
import threading

import gevent

from analysis.schema import COLUMN_NAMES
from analysis.events_file import read_events
from locustfiles.common.recorder import Recorder, row_from_request


class FakeResponse:
    def __init__(self, status, headers=None):
        self.status_code = status
        self.headers = headers or {}


def make(tmp_path, name="w.arrows"):
    return Recorder(tmp_path / "events" / name, run_id="r", worker="w", scenario="s")


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
    return dict(zip(COLUMN_NAMES, row_from_request(*args)))


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


def test_a_value_that_does_not_fit_loses_only_its_row(tmp_path):
    rec = make(tmp_path)
    rec.add({"status": 200, "outcome": "ok"})
    rec.add({"status": "not a number", "outcome": "ok"})
    rec.add({"status": 429, "outcome": "rate_limited"})
    rec.close()
    table, _ = read_events(rec.path)
    assert table.column("status").to_pylist() == [200, 429]
    assert rec.errors == 1


def test_killed_process_leaves_rows_up_to_last_flush(tmp_path):
    """Killed while it keeps adding rows, the recorder leaves every row it had said was on
    disk (rows_written, counted after each batch's fsync), in order, in whole batches."""
    path = tmp_path / "events" / "k.arrows"
    script = textwrap.dedent(f"""
        from locustfiles.common.recorder import Recorder
        rec = Recorder({str(path)!r}, run_id="r", worker="k", scenario="s",
                       max_buffered_rows=1000)
        for i in range(300):
            rec.add({{"status": 200, "outcome": "ok", "attempt": i}})
        rec.flush()
        print("flushed", rec.rows_written, flush=True)
        said = False
        for i in range(300, 10**9):
            rec.add({{"status": 429, "outcome": "rate_limited", "attempt": i}})
            if not said and rec.rows_written >= 5300:  # five batches written by add itself
                print("written", rec.rows_written, flush=True)
                said = True
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
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
            rec.add({"attempt": next(numbers), "status": 429})
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
    rec.add({"attempt": 1})
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
    """pyarrow's one-time imports (pandas, half a second) happen when the recorder is made,
    before the load starts, not at the first flush in the middle of a run."""
    path = tmp_path / "events" / "i.arrows"
    script = textwrap.dedent(f"""
        import math, sys
        from locustfiles.common.recorder import Recorder
        rec = Recorder({str(path)!r}, run_id="r", worker="i", scenario="s")
        before = set(sys.modules)
        rec.add({{"status": 429, "outcome": "rate_limited", "retry_after_s": 7.0,
                  "ratelimit_reset_s": math.nan, "retry_after_raw": "7"}})
        rec.flush()
        print(sorted(set(sys.modules) - before))
        rec.close()
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
    assert read_events(path)[0].num_rows == 1


def test_cut_and_corrupt_files_give_a_clear_message(tmp_path):
    rec = make(tmp_path)
    for i in range(50):
        rec.add({"attempt": i})
    rec.flush()
    for i in range(50):
        rec.add({"attempt": 100 + i})
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
