"""The pure parts: reading the environment raw, the base URL's verdict, the nearest model id,
and Retry-After read as the recorder reads it."""

import math

import httpx
import pytest

from doctor.answers import parse_retry_after
from contract.target import env_keys
from doctor.config import classify_base_url, key_whitespace, read_key
from doctor.gateway_checks import nearest_model
from geventhttpclient.header import Headers

from contract.headers import parse_retry_after as recorder_parse_retry_after, pick

IDS = ["llama3.2:1b", "llama3.2:3b"]


@pytest.mark.parametrize("typed, meant", [("llama-3.2-3b", "llama3.2:3b"),
                                          ("Llama3.2-1B", "llama3.2:1b"),
                                          ("llama3.2:3", "llama3.2:3b"),
                                          ("gpt-4o", None)])
def test_nearest_model(typed, meant):
    assert nearest_model(typed, IDS) == meant


def test_key_is_read_raw_and_in_the_loads_order():
    assert read_key({"PINAIVU_API_KEY": "pk-a\n"}).key == "pk-a\n"
    both = read_key({"PINAIVU_API_KEY": "pk-a", "PINAIVU_API_KEYS": "pk-b,pk-c"})
    # the load uses the list first (contract.target.env_keys): the doctor checks that key
    assert env_keys({"PINAIVU_API_KEY": "pk-a", "PINAIVU_API_KEYS": "pk-b,pk-c"})[0] == "pk-b"
    assert both.key == "pk-b" and "PINAIVU_API_KEY is set too" in both.note
    assert "holds 2 keys" in both.note
    assert read_key({"PINAIVU_API_KEYS": " pk-b, pk-c"}).key == "pk-b"
    assert read_key({"PINAIVU_API_KEY": "  "}).key is None
    assert read_key({}).source == ""


@pytest.mark.parametrize("key, where", [("pk-a", None), ("pk-a\n", "trailing newline"),
                                        ("\tpk-a", "leading whitespace"),
                                        ("pk a", "inner whitespace"),
                                        (" pk a ", "leading and trailing and inner whitespace")])
def test_key_whitespace(key, where):
    assert key_whitespace(key) == where


@pytest.mark.parametrize("raw, problem, suggested", [
    ("https://api.pinaivu.com/v1", "", ""),
    ("https://api.pinaivu.com/v1/", "", ""),
    ("https://api.openai.com/v1", "openai", ""),
    ("api.pinaivu.com/v1", "invalid", ""),
    ("https://api.pinaivu.com", "no_v1", "https://api.pinaivu.com/v1"),
    ("https://gw.example/v1/chat/completions", "no_v1", "https://gw.example/v1"),
])
def test_classify_base_url(raw, problem, suggested):
    url = classify_base_url(raw)
    assert (url.problem, url.suggested) == (problem, suggested)


@pytest.mark.parametrize("headers", [
    {"retry-after": "7"}, {"retry-after": "1.5"}, {"retry-after-ms": "1234", "retry-after": "2"},
    {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, {"retry-after": "soon"},
    {"retry-after": "-1"}, {"retry-after": "3, 4"}, {},
])
def test_retry_after_is_read_as_the_recorder_reads_it(headers):
    """The doctor reads waits with the recorder's parser (contract.headers), from httpx's
    headers as the recorder reads them from geventhttpclient's."""
    now = 1445412470.0
    ours, raw = parse_retry_after(httpx.Headers(headers), now)
    theirs, _ = recorder_parse_retry_after(pick(Headers(list(headers.items()))), now)
    assert ours == theirs or (math.isnan(ours) and math.isnan(theirs))
    assert bool(raw) == bool(headers)
