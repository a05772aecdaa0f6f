"""Target configuration from the environment."""

import pytest

from contract.target import (DEFAULT_BASE_URL, TargetError, load_target,
                             require_loopback_for_load)


def test_keys_round_robin_and_fingerprints():
    t = load_target({"PINAIVU_API_KEYS": "pk-a-1111, pk-b-2222\npk-c-3333"})
    assert t.base_url == DEFAULT_BASE_URL
    assert [t.key_for_user(i) for i in range(4)] == ["pk-a-1111", "pk-b-2222", "pk-c-3333",
                                                     "pk-a-1111"]
    assert all(len(k) == 8 and k not in ("pk-a-1111",) for k in t.key_ids)
    assert load_target({"PINAIVU_API_KEY": "pk-solo-1"}).keys == ("pk-solo-1",)


@pytest.mark.parametrize("env, message", [
    ({}, "no API key: set PINAIVU_API_KEY"),
    ({"PINAIVU_API_KEY": "  "}, "no API key"),
    ({"PINAIVU_API_KEY": "k", "PINAIVU_BASE_URL": "ftp://x/v1"}, r"not an http\(s\) URL"),
    ({"PINAIVU_API_KEY": "k", "PINAIVU_BASE_URL": "localhost:8000"}, r"not an http\(s\) URL"),
])
def test_bad_configuration_is_explained(env, message):
    with pytest.raises(TargetError, match=message):
        load_target(env)


def test_wrong_base_url_warnings_name_the_troubleshooting_case():
    t = load_target({"PINAIVU_API_KEY": "k", "PINAIVU_BASE_URL": "https://api.openai.com/v1"})
    assert any("Wrong base URL for OpenAI SDK" in w for w in t.warnings())
    t = load_target({"PINAIVU_API_KEY": "k", "PINAIVU_BASE_URL": "http://127.0.0.1:8000"})
    assert any("does not end in /v1" in w for w in t.warnings())
    assert load_target({"PINAIVU_API_KEY": "k"}).warnings() == []


def test_load_goes_to_loopback_unless_allowed():
    remote = load_target({"PINAIVU_API_KEY": "k", "PINAIVU_BASE_URL": "https://api.pinaivu.com/v1"})
    with pytest.raises(TargetError, match="not a loopback address"):
        require_loopback_for_load(remote, allow_remote=False)
    require_loopback_for_load(remote, allow_remote=True)
    for url in ("http://localhost:1/v1", "http://127.0.0.5:1/v1", "http://[::1]:1/v1"):
        require_loopback_for_load(load_target({"PINAIVU_API_KEY": "k",
                                               "PINAIVU_BASE_URL": url}), allow_remote=False)
