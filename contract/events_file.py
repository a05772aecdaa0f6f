"""The events file format: an Arrow IPC stream of record batches, one file per process.

pyarrow only (no pandas), so the recorder in Locust's processes can share it. A stream is a
sequence of self-contained batches: a file cut short by a killed process reads back up to its
last whole batch.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from .events import ADDED_IN, COLUMNS, SCHEMA_VERSION

_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
ARROW_SCHEMA = pa.schema([pa.field(n, _ARROW_TYPES[k]) for n, k in COLUMNS],
                         metadata={"pinaivu_schema_version": str(SCHEMA_VERSION)})
_EMPTY = {"str": "", "int": 0, "float": float("nan")}


def _added_after(version: int) -> set[str]:
    return {name for v, names in ADDED_IN.items() if v > version for name in names}


def read_events(path: Path, columns=None) -> tuple[pa.Table, str | None]:
    """Every whole batch of one events file, and why reading stopped or was refused (None when
    the file read whole). A file of an older schema version reads with the columns added since
    empty (NaN, 0, ""); a file of an unknown version is refused, not guessed at. `columns`:
    only these (in this order), dropped from each batch as it is read, so that a large file's
    unread text columns (request ids, raw headers, errors) are never all held at once."""
    path = Path(path)
    wanted = [n for n, _ in COLUMNS] if columns is None else list(columns)
    unknown = set(wanted) - {n for n, _ in COLUMNS}
    if unknown:
        raise ValueError(f"no such event columns: {', '.join(sorted(unknown))}")
    out_schema = pa.schema([ARROW_SCHEMA.field(n) for n in wanted],
                           metadata=ARROW_SCHEMA.metadata)
    batches: list[pa.RecordBatch] = []
    problem = None
    try:
        with pa.memory_map(str(path), "r") as f:
            reader = pa.ipc.open_stream(f)
            schema = reader.schema
            meta = schema.metadata or {}
            version = meta.get(b"pinaivu_schema_version", b"").decode() or "none"
            if not (version.isdigit() and 1 <= int(version) <= SCHEMA_VERSION):
                return out_schema.empty_table(), (
                    f"{path.name}: events schema version {version}, this harness reads "
                    f"versions 1 to {SCHEMA_VERSION}; skipped")
            added = _added_after(int(version))
            missing = [n for n, _ in COLUMNS if n not in schema.names and n not in added]
            if missing:
                return out_schema.empty_table(), (
                    f"{path.name}: missing columns {', '.join(missing)}; skipped")
            present = [n for n in wanted if n in schema.names]
            while True:
                try:
                    batches.append(reader.read_next_batch().select(present))
                except StopIteration:
                    break
                except (pa.ArrowInvalid, OSError) as exc:
                    problem = (f"{path.name}: cut short after {len(batches)} whole batches "
                               f"(a killed process?): {exc}")
                    break
    except (pa.ArrowInvalid, OSError) as exc:
        return out_schema.empty_table(), f"{path.name}: not an events file ({exc})"
    if not batches:
        return out_schema.empty_table(), problem
    table = pa.Table.from_batches(batches)
    kinds = dict(COLUMNS)
    for name in wanted:
        if name not in table.column_names:
            table = table.append_column(ARROW_SCHEMA.field(name), pa.array(
                [_EMPTY[kinds[name]]] * table.num_rows, type=ARROW_SCHEMA.field(name).type))
    table = table.select(wanted)
    return pa.Table.from_arrays(table.columns, schema=out_schema), problem
