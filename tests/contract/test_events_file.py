"""read_events(path, columns): only the columns asked for, in that order, each batch's other
columns dropped as it is read (the report reads 16 of 28; a 5M-event run's unread text
columns are most of its size), with the same answers on cut and older files."""

import math

import pyarrow as pa
import pytest

from contract.events import ADDED_IN, COLUMNS
from contract.events_file import ARROW_SCHEMA, read_events

VALUES = {"str": "x", "int": 7, "float": 1.5}


def write(path, schema, batches: int = 3, rows: int = 4):
    kinds = dict(COLUMNS)
    batch = pa.record_batch([pa.array([VALUES[kinds[f.name]]] * rows, type=f.type)
                             for f in schema], schema=schema)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for _ in range(batches):
            writer.write_batch(batch)
    return path


def test_only_the_columns_asked_for_in_their_order(tmp_path):
    path = write(tmp_path / "w.arrows", ARROW_SCHEMA)
    table, problem = read_events(path, ["status", "key_id", "sent_ts"])
    assert problem is None and table.column_names == ["status", "key_id", "sent_ts"]
    assert table.num_rows == 12 and table.column("status").to_pylist() == [7] * 12
    assert table.schema.field("status").type == pa.int64()
    whole, _ = read_events(path)
    assert whole.schema.equals(ARROW_SCHEMA) and whole.num_rows == 12


def test_columns_of_an_older_file_arrive_empty(tmp_path):
    old = pa.schema([f for f in ARROW_SCHEMA if f.name not in ADDED_IN[2]],
                    metadata={"pinaivu_schema_version": "1"})
    table, problem = read_events(write(tmp_path / "v1.arrows", old),
                                 ["chunks", "latency_ms", "first_token_ms"])
    assert problem is None and table.column_names == ["chunks", "latency_ms", "first_token_ms"]
    rows = table.to_pylist()
    assert all(r["chunks"] == 0 and r["latency_ms"] == 1.5 and math.isnan(r["first_token_ms"])
               for r in rows)


def test_a_cut_file_reads_its_whole_batches_of_the_columns(tmp_path):
    path = write(tmp_path / "w.arrows", ARROW_SCHEMA, batches=2, rows=50)
    cut = tmp_path / "cut.arrows"
    cut.write_bytes(path.read_bytes()[:-300])
    table, problem = read_events(cut, ["attempt"])
    assert table.num_rows == 50 and table.column_names == ["attempt"]
    assert "cut short after 1 whole batches" in problem
    empty, problem = read_events(tmp_path / "missing.arrows", ["attempt"])
    assert empty.num_rows == 0 and empty.column_names == ["attempt"]
    assert "not an events file" in problem


def test_an_unknown_column_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match="no such event columns: nope"):
        read_events(write(tmp_path / "w.arrows", ARROW_SCHEMA), ["status", "nope"])


@pytest.mark.parametrize("version", [1, 2])
def test_files_before_the_declared_policy_columns_read_them_empty(tmp_path, version):
    """Issue 12 added ratelimit_window_s, ratelimit_family and ratelimit_raw (version 3)."""
    gone = {n for v, names in ADDED_IN.items() if v > version for n in names}
    assert {"ratelimit_window_s", "ratelimit_family", "ratelimit_raw"} <= gone
    old = pa.schema([f for f in ARROW_SCHEMA if f.name not in gone],
                    metadata={"pinaivu_schema_version": str(version)})
    table, problem = read_events(write(tmp_path / f"v{version}.arrows", old))
    assert problem is None and table.schema.equals(ARROW_SCHEMA) and table.num_rows == 12
    rows = table.to_pylist()
    assert all(math.isnan(r["ratelimit_window_s"]) and r["ratelimit_family"] == ""
               and r["ratelimit_raw"] == "" and r["ratelimit_limit"] == 1.5 for r in rows)
