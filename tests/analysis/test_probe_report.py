"""Issue 13, items 4 and 5 on the page: the adaptive probe's steps (probe.json) on one
timeline and in a table, the polite client's answer counted from the events, how sure the
verdict is, and a probe.json that cannot be used named on the page and the terminal with
nothing lost. Run folders made by tests/analysis/probe_run.py; `report` runs in-process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from analysis import pipeline
from analysis.pages.report import sureness
from analysis.store.probe import read_probe
from ..test_profiles_report import page_text
from .probe_run import STEPS, T0, make_probe_run, probe_log, probe_rows
from .summaries import summary as a_summary


class Said:
    """A console that keeps what the command said."""

    def __init__(self):
        self.lines: list[str] = []

    def out(self, line):
        self.lines.append(line)

    note = error = out

    def progress(self, _elapsed, _line):
        pass


def report(run_dir: Path) -> tuple[dict, dict, list[str]]:
    said = Said()
    assert pipeline.report(str(run_dir), run_dir.parent, said) == 0
    return json.loads((run_dir / "summary.json").read_text()), page_text(run_dir), said.lines


def polite_counts(rows: list[dict]) -> dict:
    """The polite answer counted here from the rows: each polite 429 and its retry, the wait
    it stated (Retry-After, else the declared reset), and whether the retry waited that."""
    by_id: dict[str, dict] = {}
    for r in rows:
        if r["phase"] == "polite":
            by_id.setdefault(r["logical_id"], {})[r["attempt"]] = r
    told = early = let_in = refused = 0
    for pair in by_id.values():
        first, retry = pair[1], pair[2]
        stated = (first["retry_after_s"] if not math.isnan(first["retry_after_s"])
                  else first["ratelimit_reset_s"])
        waited = retry["sent_ts"] - (first["sent_ts"] + first["latency_ms"] / 1000)
        if waited < stated - 0.05:
            early += 1
            continue
        told += 1
        let_in += 200 <= retry["status"] < 300
        refused += retry["status"] == 429
    return {"asked": told, "let_in": let_in, "refused": refused, "sent_early": early}


def test_the_page_shows_the_probe_steps_and_the_polite_answer(tmp_path):
    rows = probe_rows()
    summary, text, said = report(make_probe_run(tmp_path / "run", rows))
    # the polite answer, against the rows (and the fixture's design: 4 waited, 2 let in)
    polite = summary["retry_after"]["polite"]
    expected = polite_counts(rows)
    assert expected == {"asked": 4, "let_in": 2, "refused": 2, "sent_early": 1}
    assert {k: polite[k] for k in expected} == expected
    assert polite["source"] == "polite" and polite["on_reset"] == 1
    words = ("Waiting as told got in 2 of 4 times: a client that obeys Retry-After is "
             "refused again 2 times in 4")
    assert text["retry-after-polite"].startswith(words)
    assert words in text["verdict"] and words in "\n".join(said)
    # the probe's section: its verdict and budget, each step with what came back
    probe = summary["probe"]
    assert (probe["settled"], probe["settled_after_s"], probe["budget_s"]) == (True, 15.6, 150)
    assert text["probe-headline"].startswith(
        "The probe settled after 15.6 s (its budget: 150 s, 2000 requests), in 3 steps: 3 per "
        "1 s, fixed window, with a 4 s lockout after a refusal.")
    table = text["probe-steps"]
    for step, got in zip(STEPS, probe["steps"]):
        mine = [r for r in rows if r["phase"] == step["name"]]
        ok = sum(200 <= r["status"] < 300 for r in mine)
        refused = sum(r["status"] == 429 for r in mine)
        assert (got["sent"], got["ok"], got["rate_limited"]) == (len(mine), ok, refused)
        assert got["start_s"] == round(step["started_ts"] - T0, 3)
        line = (f"{step['index']} {step['name']}{got['start_s']:.1f}–{got['end_s']:.1f} "
                f"{len(mine)}{ok}{refused}0 {step['tried']}{step['learned']}"
                f"{', '.join(step['ruled_out'])}{', '.join(step['open']) or '—'}")
        assert line in table, (line, table)
    assert "probe_timeline" in summary["figures"]
    html = (tmp_path / "run" / "index.html").read_text()
    assert '<img alt="the probe steps on one timeline" src="data:image/png;base64,' in html
    # how sure, right under the verdict
    apart = summary["quota"]["indistinguishable"]
    rivals = "; ".join(", ".join(e["models"][1:]) + f" ({e['experiment']} would tell them "
                       "apart)" for e in apart)
    assert text["sureness"] == (
        f"How sure: the fitted model reproduces {100 * summary['quota']['agreement']:.2f}% of "
        f"{summary['quota']['decisions']} accept/refuse decisions; "
        + (f"{apart[0]['models'][0]} is not the only reading: as well explained by {rivals}; "
           if apart else "") + "the probe settled after 15.6 s of its 150 s budget.")
    assert html.index('id="verdict"') < html.index('id="sureness"') < html.index('id="probe"')
    assert not summary["problems"]
    # `render` draws the same from summary.json alone: events and probe.json gone
    run_dir = tmp_path / "run"
    for f in [run_dir / "index.html", run_dir / "probe.json", *(run_dir / "events").iterdir()]:
        f.unlink()
    assert pipeline.render(str(run_dir), run_dir.parent, Said()) == 0
    again = page_text(run_dir)
    for ident in ("probe-headline", "probe-steps", "sureness", "retry-after-polite"):
        assert again[ident] == text[ident]
    assert "the probe steps on one timeline" in (run_dir / "index.html").read_text()


def test_a_probe_json_that_cannot_be_used_is_named_and_left_as_it_is(tmp_path):
    content = "{\"schema_version\": 1, \"steps\": ["  # cut short, as by a full disk
    run_dir = make_probe_run(tmp_path / "run", log=content)
    summary, text, said = report(run_dir)
    message = "probe.json cannot be used (it is not valid JSON"
    assert summary["probe"] is None and "probe" not in text
    assert any(message in p for p in summary["problems"]), summary["problems"]
    assert message in text["problems"]
    assert any(message in line for line in said)  # on the terminal too
    assert (run_dir / "probe.json").read_text() == content  # nothing lost
    # the rest of the report is made from the events as ever
    assert summary["retry_after"]["polite"]["asked"] == 4 and "quota-headline" in text


@pytest.mark.parametrize("log, why", [
    (probe_log(steps=[{k: v for k, v in STEPS[0].items() if k != "tried"}]),
     "probe log step 0 has no 'tried'"),
    (probe_log(schema_version=7), "probe log schema_version 7, this harness reads 1"),
    (probe_log(steps=[STEPS[0] | {"index": "first"}]),
     "probe log step 0: 'index' is 'first', not int"),
    (probe_log(settled="yes"), "probe log: 'settled' is 'yes', not bool"),
    ([STEPS], "probe log is not an object"),
    (probe_log(steps=[STEPS[0] | {"name": "warp"}]), "probe log step 0: 'warp' is not a probe "
     "step (idle_burst, polite, reopen_gap, pace_under, pace_over, split, clock_phase, "
     "concurrency_ramp, shaping_excess, scope_uneven, tight)"),
    (probe_log(steps=[STEPS[0] | {"started_ts": 1e300, "ended_ts": 1e300}]),
     "step 0 ('idle_burst') does not lie inside the probe's run"),
    (probe_log(ended_ts=1e300), "ended_ts 1e+300 is not within the probe's budget of its "
     "start"),
])
def test_what_is_wrong_with_a_probe_json_is_said(tmp_path, log, why):
    (tmp_path / "probe.json").write_text(json.dumps(log))
    assert read_probe(tmp_path) == (None, (
        f"probe.json cannot be used ({why}): the probe's steps are not shown; the events are "
        "analysed as they are and the file is left as it is"))


def test_a_deeply_nested_probe_json_is_named_not_a_crash(tmp_path):
    (tmp_path / "probe.json").write_text("[" * 100_000)
    doc, why = read_probe(tmp_path)
    assert doc is None and why.startswith("probe.json cannot be used (it is not valid JSON")


def test_no_probe_json_no_probe_section(tmp_path):
    summary, text, _ = report(make_probe_run(tmp_path / "run", log=False))
    assert summary["probe"] is None and "probe" not in text and "sureness" in text
    assert not any("probe.json" in p for p in summary["problems"])
    assert "probe_timeline" not in summary["figures"]


def test_how_sure_names_no_fitted_model_when_none_was_settled_on():
    s = a_summary()
    s["quota"] |= {"algorithm": "unknown", "agreement": 1.0, "decisions": 50}
    assert sureness(s)[0] == ("no model was settled on: the best one tried reproduces 100.00% "
                              "of 50 accept/refuse decisions")


def test_how_sure_names_the_models_a_run_cannot_tell_apart():
    s = a_summary()
    s["quota"] |= {"agreement": 0.995, "decisions": 200, "indistinguishable": [
        {"models": ["fixed_window", "sliding_log"], "experiment": "split"},
        {"models": ["lockout"]}, "not an entry", {"experiment": "no models"}]}
    assert sureness(s) == [
        "the fitted model reproduces 99.50% of 200 accept/refuse decisions",
        "fixed_window is not the only reading: as well explained by sliding_log (split would "
        "tell them apart)"]
    s["quota"]["indistinguishable"] = "garbled"
    s["probe"] = {"settled": False, "budget_s": 150, "open": ["lockout", "sliding_log"],
                  "steps": []}
    assert sureness(s)[1:] == [
        "the probe did not settle within its 150 s budget; still open: lockout, sliding_log"]
    del s["quota"]["indistinguishable"]
    assert len(sureness(s)) == 2


def test_a_probe_that_did_not_settle_says_so_and_what_was_open():
    from analysis.pages.report import render_report
    from ..test_profiles_report import ById

    step = {"index": 0, "name": "tight", "start_s": 0.0, "end_s": 3.0, "requests": 9,
            "sent": 8, "ok": 3, "rate_limited": 5, "other": 0, "tried": "a tight loop",
            "learned": "3 admitted", "ruled_out": [], "open": ["lockout"]}
    s = a_summary(probe={"settled": False, "settled_after_s": None, "budget_s": 20.0,
                         "verdict": "", "hypotheses": ["lockout", "sliding_log"],
                         "open": ["lockout", "sliding_log"], "steps": [step],
                         "started_ts": 1000.0})
    parser = ById()
    parser.feed(render_report(s, {}))
    text = {k: " ".join(v.split()) for k, v in parser.text.items()}
    assert text["probe-headline"] == (
        "The probe did not settle (its budget: 20 s), in 1 step. It began with lockout, "
        "sliding_log. Still open at the end: lockout, sliding_log.")
    # the events' count is shown, and the probe's own when it differs
    assert "0 tight0.0–3.0 8 (the probe counted 9)350 a tight loop3 admitted—lockout" \
        in text["probe-steps"]
    assert text["sureness"].endswith("the probe did not settle within its 20 s budget; still "
                                     "open: lockout, sliding_log.")
