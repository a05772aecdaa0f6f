"""The events file format: an Arrow IPC stream of record batches, one file per process.

pyarrow only (no pandas), so the recorder in Locust's processes can share it. A stream is a
sequence of self-contained batches: a file cut short by a killed process reads back up to its
last whole batch.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from .schema import COLUMNS, SCHEMA_VERSION

_ARROW_TYPES = {"str": pa.string(), "int": pa.int64(), "float": pa.float64()}
ARROW_SCHEMA = pa.schema([pa.field(n, _ARROW_TYPES[k]) for n, k in COLUMNS],
                         metadata={"pinaivu_schema_version": str(SCHEMA_VERSION)})
SUFFIX = ".arrows"


def read_events(path: Path) -> tuple[pa.Table, str | None]:
    """Every whole batch of one events file, and why reading stopped or was refused (None when
    the file read whole). A file of another schema version is refused, not guessed at."""
    path = Path(path)
    batches: list[pa.RecordBatch] = []
    problem = None
    try:
        with pa.OSFile(str(path), "rb") as f:
            reader = pa.ipc.open_stream(f)
            schema = reader.schema
            meta = schema.metadata or {}
            version = meta.get(b"pinaivu_schema_version", b"").decode() or "none"
            if version != str(SCHEMA_VERSION):
                return ARROW_SCHEMA.empty_table(), (
                    f"{path.name}: events schema version {version}, this harness reads "
                    f"version {SCHEMA_VERSION}; skipped")
            missing = [n for n, _ in COLUMNS if n not in schema.names]
            if missing:
                return ARROW_SCHEMA.empty_table(), (
                    f"{path.name}: missing columns {', '.join(missing)}; skipped")
            while True:
                try:
                    batches.append(reader.read_next_batch())
                except StopIteration:
                    break
                except (pa.ArrowInvalid, OSError) as exc:
                    problem = (f"{path.name}: cut short after {len(batches)} whole batches "
                               f"(a killed process?): {exc}")
                    break
    except (pa.ArrowInvalid, OSError) as exc:
        return ARROW_SCHEMA.empty_table(), f"{path.name}: not an events file ({exc})"
    table = pa.Table.from_batches(batches, schema=schema) if batches else \
        ARROW_SCHEMA.empty_table()
    return table.select([n for n, _ in COLUMNS]), problem
