"""contract.structured_fields against RFC 9651: its examples, values generated from its ABNF
and serialised by its serialisation rules (written here, section 4.1), and junk (which parses
or fails with StructuredFieldError, nothing else)."""

import base64
import string

import pytest
from hypothesis import given, strategies as st

from contract.structured_fields import (StructuredFieldError, Token, parse_dictionary,
                                        parse_item, parse_list)


# -- the RFC's own examples -----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("sugar, tea, rum", [(Token("sugar"), {}), (Token("tea"), {}), (Token("rum"), {})]),
    ('("foo" "bar"), ("baz"), ("bat" "one"), ()',
     [([("foo", {}), ("bar", {})], {}), ([("baz", {})], {}),
      ([("bat", {}), ("one", {})], {}), ([], {})]),
    ('("foo"; a=1;b=2);lvl=5, ("bar" "baz");lvl=1',
     [([("foo", {"a": 1, "b": 2})], {"lvl": 5}), ([("bar", {}), ("baz", {})], {"lvl": 1})]),
    ("abc;a=1;b=2; cde_456, (ghi;jk=4 l);q=\"9\";r=w",
     [(Token("abc"), {"a": 1, "b": 2, "cde_456": True}),
      ([(Token("ghi"), {"jk": 4}), (Token("l"), {})], {"q": "9", "r": Token("w")})]),
    ("", []),
])
def test_rfc_list_examples(text, expected):
    assert parse_list(text) == expected


def test_rfc_dictionary_and_item_examples():
    assert parse_dictionary('en="Applepie", da=:w4ZibGV0w6ZydGU=:') == [
        ("en", ("Applepie", {})), ("da", ("Æblet\u00e6rte".encode(), {}))]
    assert parse_dictionary("a=?0, b, c; foo=bar") == [
        ("a", (False, {})), ("b", (True, {})), ("c", (True, {"foo": Token("bar")}))]
    assert parse_dictionary("rating=1.5, feelings=(joy sadness)") == [
        ("rating", (1.5, {})), ("feelings", ([(Token("joy"), {}), (Token("sadness"), {})], {}))]
    assert parse_item("5; foo=bar") == (5, {"foo": Token("bar")})
    assert parse_item("4.5") == (4.5, {})
    assert parse_item('"hello world"') == ("hello world", {})
    assert parse_item("foo123/456") == (Token("foo123/456"), {})
    assert parse_item(":cHJldGVuZCB0aGlzIGlzIGJpbmFyeSBjb250ZW50Lg==:") == (
        b"pretend this is binary content.", {})
    assert parse_item("?1") == (True, {})


@pytest.mark.parametrize("text", [
    "1,", ",1", "1,,2", "1.2345", "1234567890123456", "1234567890123.5", "-", "1.", ".5",
    '"unterminated', '"bad \\x escape"', "a=1", "(1 2", "(1,2)", "1;", "1;A=2", "?2",
    ":not base64!:", ":abc", "@1659578233", '%"display"', "é", "1 2", "\t1",
])
def test_what_the_rfc_fails_fails(text):
    with pytest.raises(StructuredFieldError):
        parse_list(text)


def test_a_dictionary_keeps_repeated_keys_for_the_caller():
    assert [k for k, _ in parse_dictionary("a=1, b=2, a=3")] == ["a", "b", "a"]
    with pytest.raises(StructuredFieldError):
        parse_dictionary("A=1")


# -- generated from the ABNF, serialised by the RFC's rules ----------------------------------

KEYS = st.from_regex(r"\A[a-z*][a-z0-9_\-.*]{0,8}\Z")
INTEGERS = st.integers(-999_999_999_999_999, 999_999_999_999_999)
DECIMALS = st.tuples(st.integers(-999_999_999_999, 999_999_999_999), st.integers(0, 999)).map(
    lambda t: round(t[0] + (t[1] / 1000 if t[0] >= 0 else -t[1] / 1000), 3))
STRINGS = st.text(alphabet=[chr(c) for c in range(0x20, 0x7F)], max_size=20)
TOKENS = st.from_regex(r"\A[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]{0,10}\Z").map(Token)
BYTES = st.binary(max_size=20)
BARE = st.one_of(INTEGERS, DECIMALS, STRINGS, TOKENS, BYTES, st.booleans())


def ser_bare(v) -> str:
    if isinstance(v, bool):
        return "?1" if v else "?0"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):  # at most 3 fractional digits, at least 1
        text = f"{v:.3f}".rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(v, Token):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return ":" + base64.b64encode(v).decode() + ":"


def ser_params(params: dict) -> str:
    return "".join(f";{k}" if v is True else f";{k}={ser_bare(v)}" for k, v in params.items())


PARAMS = st.dictionaries(KEYS, BARE, max_size=3)
ITEMS = st.tuples(BARE, PARAMS)
INNER = st.tuples(st.lists(ITEMS, max_size=3), PARAMS)
MEMBERS = st.lists(st.one_of(ITEMS, INNER), max_size=5)


def ser_member(m) -> str:
    value, params = m
    if isinstance(value, list):
        return "(" + " ".join(ser_bare(v) + ser_params(p) for v, p in value) + ")" + \
            ser_params(params)
    return ser_bare(value) + ser_params(params)


def same(a, b) -> bool:
    """Equal, a Token only to a Token and a String only to a String."""
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(MEMBERS, st.sampled_from([",", ", ", " ,\t"]))
def test_lists_round_trip(members, sep):
    assert same(parse_list(sep.join(ser_member(m) for m in members)), members)


@given(st.lists(st.tuples(KEYS, st.one_of(ITEMS, INNER)), max_size=5, unique_by=lambda t: t[0]))
def test_dictionaries_round_trip(entries):
    text = ", ".join(k + ser_params(m[1]) if m[0] is True else f"{k}={ser_member(m)}"
                     for k, m in entries)
    assert same(parse_dictionary(text), entries)


@given(st.text(max_size=40))
def test_junk_parses_or_fails_cleanly(text):
    for parse in (parse_list, parse_dictionary, parse_item):
        try:
            parse(text)
        except StructuredFieldError:
            pass


@given(st.text(alphabet=string.printable, max_size=40))
def test_printable_junk_parses_or_fails_cleanly(text):
    for parse in (parse_list, parse_dictionary, parse_item):
        try:
            parse(text)
        except StructuredFieldError:
            pass
