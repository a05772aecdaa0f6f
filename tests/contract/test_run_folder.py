"""The run folder's names come from contract.run_folder: one run-id format, one default folder
(under PINAIVU_REPORTS_DIR), atomic JSON writes."""

import datetime as dt
import json

from contract.run_folder import (MANIFEST, default_run_dir, events_path, holds_run, new_run_id,
                                 write_json_atomic)


def test_run_id_sorts_by_start_and_says_what_ran():
    when = dt.datetime(2026, 12, 1, 10, 35, 0, tzinfo=dt.UTC)
    assert new_run_id("tight_loop", when) == "20261201T103500Z-tight_loop"
    later = new_run_id("probe", when + dt.timedelta(seconds=1))
    assert sorted([later, new_run_id("tight_loop", when)])[0].endswith("tight_loop")


def test_default_run_dir_is_under_the_reports_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("PINAIVU_REPORTS_DIR", str(tmp_path / "runs"))
    folder = default_run_dir("sweep")
    assert folder.parent == tmp_path / "runs" and folder.name.endswith("Z-sweep")


def test_atomic_json_and_holds_run(tmp_path):
    assert not holds_run(tmp_path)
    write_json_atomic(tmp_path / MANIFEST, {"run_id": "r", "n": 1})
    assert json.loads((tmp_path / MANIFEST).read_text()) == {"run_id": "r", "n": 1}
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST]  # no temporary file left
    assert holds_run(tmp_path)
    assert events_path(tmp_path, "host-1").relative_to(tmp_path).as_posix() == \
        "events/host-1.arrows"
