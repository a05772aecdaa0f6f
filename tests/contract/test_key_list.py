"""PINAIVU_API_KEYS with an empty entry is refused, by name and position, never by key, in
every place that reads the keys: the load scenarios, the doctor and tune's live check."""

import pytest

from analysis.live import LiveError, plan
from contract.target import KeyListError, env_keys, split_keys
from contract.target import TargetError, load_target

from ..doctor.helpers import run_doctor

KEY_A, KEY_B = "pk-secret-aaaa-1111", "pk-secret-bbbb-2222"


@pytest.mark.parametrize("raw, position, count", [
    (f"{KEY_A},,{KEY_B}", 2, 3),
    (f",{KEY_A}", 1, 2),
    (f"{KEY_A},{KEY_B},", 3, 3),
    (f"{KEY_A}, ,{KEY_B}", 2, 3),
])
def test_an_empty_entry_is_refused_with_its_position(raw, position, count):
    with pytest.raises(KeyListError) as info:
        split_keys(raw)
    message = str(info.value)
    assert f"entry {position} of {count}" in message and "PINAIVU_API_KEYS" in message
    assert KEY_A not in message and KEY_B not in message


def test_well_formed_lists_still_split():
    assert split_keys(f"{KEY_A}, {KEY_B}\n") == [KEY_A, KEY_B]
    assert split_keys(f"{KEY_A} {KEY_B}") == [KEY_A, KEY_B]
    assert split_keys("  ") == [] and split_keys("") == []
    assert env_keys({"PINAIVU_API_KEY": KEY_A}) == [KEY_A]
    assert env_keys({"PINAIVU_API_KEYS": " ", "PINAIVU_API_KEY": KEY_B}) == [KEY_B]


def test_scenarios_refuse_it_as_a_target_error():
    with pytest.raises(TargetError, match="entry 2 of 3") as info:
        load_target({"PINAIVU_API_KEYS": f"{KEY_A},,{KEY_B}"})
    assert KEY_A not in str(info.value)


def test_tune_live_check_refuses_it():
    with pytest.raises(LiveError, match="entry 2 of 3"):
        plan({}, "per_key", {"PINAIVU_BASE_URL": "http://127.0.0.1:1/v1",
                             "PINAIVU_API_KEYS": f"{KEY_A},,{KEY_B}"})


def test_doctor_refuses_it_before_any_request():
    # No server at this address: a refusal must come before anything is sent.
    code, out = run_doctor("http://127.0.0.1:9/v1", None, PINAIVU_API_KEYS=f"{KEY_A},,{KEY_B}")
    assert code == 2 and "entry 2 of 3" in out
