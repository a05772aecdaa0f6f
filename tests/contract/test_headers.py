"""Retry-After and rate-limit headers in every shape the recorder may meet."""

import email.utils
import math

import pytest
from hypothesis import given, strategies as st

from geventhttpclient.header import Headers

from contract.headers import (MAX_WAIT_S, NO_FIELDS, header_fields, parse_declared,
                              parse_ratelimit, parse_retry_after, pick)

NOW = 1_800_000_000.0


def ra(value, **more):
    headers = {"Retry-After": value, **more} if value is not None else more
    return parse_retry_after(pick(headers), NOW)


@pytest.mark.parametrize("value, expected", [
    ("7", 7.0), (" 7 ", 7.0), ("1.5", 1.5), ("0", 0.0),
    ("-3", math.nan), ("", math.nan), ("soon", math.nan), ("9" * 30, math.nan),
    ("1e3", math.nan), ("5, 5", 5.0), ("5, 9", math.nan), ("5,", math.nan),
])
def test_delta_seconds(value, expected):
    got, raw = ra(value)
    assert got == expected or (math.isnan(expected) and math.isnan(got))
    assert raw == value


def test_http_date_future_and_past():
    future = email.utils.formatdate(NOW + 42, usegmt=True)
    assert ra(future)[0] == pytest.approx(42, abs=1)
    past = email.utils.formatdate(NOW - 100, usegmt=True)
    assert ra(past)[0] == 0.0


def test_ms_header_wins_and_bad_ms_falls_back():
    assert ra("3", **{"retry-after-ms": "2500"})[0] == 2.5
    got, raw = ra("3", **{"retry-after-ms": "abc"})
    assert got == 3.0 and "ms=abc" in raw
    assert math.isnan(ra(None)[0])


def test_raw_is_cut_short():
    assert len(ra("x" * 5000)[1]) == 200


@given(st.text(max_size=60))
def test_never_raises_and_stays_in_range(text):
    value, raw = ra(text)
    assert math.isnan(value) or 0 <= value <= MAX_WAIT_S
    assert len(raw) <= 200


@given(st.integers(0, 10**6))
def test_integer_delta_round_trips(n):
    assert ra(str(n))[0] == n


@given(st.integers(0, 10**6))
def test_http_date_round_trips(n):
    assert ra(email.utils.formatdate(NOW + n, usegmt=True))[0] == pytest.approx(n, abs=1)


@pytest.mark.parametrize("headers, expected", [
    ({"x-ratelimit-limit-requests": "20", "x-ratelimit-remaining-requests": "3",
      "x-ratelimit-reset-requests": "6m0s"}, (20, 3, 360)),
    ({"x-ratelimit-limit-requests": "20", "x-ratelimit-remaining-requests": "3",
      "x-ratelimit-reset-requests": "20ms"}, (20, 3, 0.02)),
    ({"ratelimit-limit": "10", "ratelimit-remaining": "0", "ratelimit-reset": "4"}, (10, 0, 4)),
    ({"x-ratelimit-limit": "10", "x-ratelimit-remaining": "1",
      "x-ratelimit-reset": str(int(NOW) + 30)}, (10, 1, 30)),
    ({"x-ratelimit-limit": "10", "x-ratelimit-remaining": "1", "x-ratelimit-reset": "30"},
     (10, 1, 30)),
    ({"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "1"}, (10, 1, math.nan)),
    ({"x-ratelimit-limit-requests": "20", "x-ratelimit-remaining-requests": "3",
      "x-ratelimit-reset-requests": "1h2m3.5s"}, (20, 3, 3723.5)),
    ({"x-ratelimit-limit-requests": "nan", "x-ratelimit-remaining-requests": "inf",
      "x-ratelimit-reset-requests": "-1s"}, (math.nan, math.nan, math.nan)),
    ({"ratelimit-limit": "ten", "ratelimit-remaining": "", "ratelimit-reset": "-"},
     (math.nan, math.nan, math.nan)),
    ({"x-ratelimit-limit-requests": "20", "x-ratelimit-reset-requests": "later"},
     (20, math.nan, math.nan)),
    ({}, (math.nan, math.nan, math.nan)),
])
def test_ratelimit_families(headers, expected):
    got = parse_ratelimit(pick(headers), NOW)
    for g, e in zip(got, expected):
        assert (math.isnan(g) and math.isnan(e)) or g == pytest.approx(e)


@given(st.dictionaries(st.sampled_from(["ratelimit-limit", "ratelimit-remaining",
                                        "ratelimit-reset", "x-ratelimit-limit",
                                        "x-ratelimit-reset", "x-ratelimit-limit-requests",
                                        "x-ratelimit-reset-requests"]), st.text(max_size=20)))
def test_ratelimit_never_raises(headers):
    assert len(parse_ratelimit(pick(headers), NOW)) == 3


def test_pick_takes_any_case_and_survives_non_mappings():
    assert pick({"RateLimit-Limit": "5", "Server": "x"}) == {"ratelimit-limit": "5"}
    assert pick(None) == {} and pick(42) == {}


def same(a, b):
    return all((x != x and y != y) or x == y for x, y in zip(a, b, strict=True))


def expected_fields(headers, now):
    limit, window, remaining, reset, family, raw = parse_declared(pick(headers), now)
    return parse_retry_after(pick(headers), now) + (limit, remaining, reset, window, family,
                                                    raw)


def ghc(items):
    """geventhttpclient's headers, as Locust's FastHttpUser hands them over."""
    h = Headers()
    for name, value in items:
        h.add(name, value)
    return h


NAMES = ["Retry-After", "retry-after-ms", "x-ratelimit-limit-requests",
         "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "RateLimit-Limit",
         "ratelimit-remaining", "ratelimit-reset", "X-RateLimit-Limit", "x-ratelimit-remaining",
         "x-ratelimit-reset", "Server", "RateLimit", "RateLimit-Policy",
         "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining",
         "anthropic-ratelimit-requests-reset"]
VALUES = st.one_of(st.sampled_from(["7", "0", "6500", "1.5", "6.5s", "20ms", "6m0s", "-1",
                                    str(int(NOW) + 30), email.utils.formatdate(NOW + 30,
                                                                                usegmt=True),
                                    '"default";q=10;w=5', '"default";r=3;t=4', "10;w=5",
                                    "limit=10, remaining=3, reset=4",
                                    "2027-01-15T08:00:30Z"]),
                   st.text(max_size=12))


@given(st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=8),
       st.floats(NOW - 100, NOW + 100))
def test_header_fields_match_the_parsers_memoised_or_not(items, now):
    """The recorder's fast path answers as pick + the parsers do, the first time (parsed) and
    the second (memoised), at another `now` too; repeated headers included."""
    headers = ghc(items)
    for at in (now, now + 7.25):
        assert same(header_fields(headers, at), expected_fields(headers, at))
    plain = dict(items)
    assert same(header_fields(plain, now), expected_fields(plain, now))


@pytest.mark.parametrize("reset", [str(int(NOW) + 60), "2027-01-15T08:01:00Z"])
def test_answers_that_depend_on_now_are_taken_from_now_again(reset):
    date = email.utils.formatdate(NOW + 30, usegmt=True)
    name = "x-ratelimit-reset" if reset.isdigit() else "anthropic-ratelimit-requests-reset"
    headers = ghc([("Retry-After", date), (name, reset), ("x-ratelimit-limit", "10")])
    first, later = header_fields(headers, NOW), header_fields(headers, NOW + 10)
    assert first[0] == pytest.approx(30, abs=1) and later[0] == pytest.approx(20, abs=1)
    assert first[4] == 60 and later[4] == 50


def test_header_fields_of_nothing():
    assert same(header_fields(ghc([]), NOW), NO_FIELDS)
    assert same(header_fields(None, NOW), NO_FIELDS)
    assert same(header_fields(42, NOW), NO_FIELDS)


# -- every header shape a client hands over (issue 10, item 11) ------------------------------

class MultiItems:
    """httpx's Headers: items() joins a repeated header, multi_items() keeps its lines."""

    def __init__(self, pairs):
        self.pairs = pairs

    def multi_items(self):
        return list(self.pairs)

    def items(self):
        raise AssertionError("multi_items must be preferred")


@pytest.mark.parametrize("headers", [
    ghc([("Retry-After", "7"), ("Retry-After", "3")]),      # geventhttpclient: a list
    [("Retry-After", "7"), ("retry-after", "3")],           # http.client getheaders()
    [(b"Retry-After", b"7"), (b"Retry-After", b"3")],       # raw bytes
    {"Retry-After": ["7", "3"]},                            # a mapping to a list
    {"retry-after": (b"7", "3")},                           # a tuple, mixed
    MultiItems([("Retry-After", "7"), ("Retry-After", "3")]),
    {"Retry-After": "7, 3"},                                # already joined (httpx, requests)
], ids=["geventhttpclient", "pairs", "bytes", "list", "tuple", "multi_items", "joined"])
def test_two_differing_retry_after_lines_give_nan_and_their_joined_text(headers):
    for fields in (header_fields(headers, NOW), header_fields(headers, NOW)):  # memo too
        assert math.isnan(fields[0]) and fields[1] == "7, 3"


def test_repeated_lines_that_agree_keep_their_value_and_bytes_read():
    assert header_fields(ghc([("Retry-After", "4"), ("Retry-After", "4")]), NOW)[:2] == \
        (4.0, "4, 4")
    fields = header_fields({b"X-RateLimit-Limit-Requests": b"20",
                            b"x-ratelimit-remaining-requests": bytearray(b"3")}, NOW)
    assert fields[2:4] == (20.0, 3.0)
    assert pick({"Retry-After": 7}) == {"retry-after": "7"}  # a number, not text


def test_long_hostile_values_are_not_memoised():
    from contract import headers as module

    for i in range(50):
        header_fields(ghc([("Retry-After", f"{i}" + "x" * 5000)]), NOW)
    assert all(len(k) <= 64 for k in module._parsed)
    assert all(len(str(k)) < 2000 for k in module._fields_memo)
