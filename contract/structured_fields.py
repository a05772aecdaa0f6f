"""The part of RFC 9651 (Structured Field Values for HTTP) that rate-limit headers use.

Lists and Dictionaries of Items and Inner Lists, each with Parameters; bare Items that are
Integers, Decimals, Strings, Tokens, Byte Sequences or Booleans (Dates and Display Strings,
which no rate-limit header uses, fail as unknown). The parsing follows the RFC's own algorithm
(its section 4.2): strict, so that a field it would fail fails here too, with
StructuredFieldError. Standard library only.

An Item comes back as (value, params), params a dict; a String is a `str`, a Token a `Token`
(a str subclass, so that the two stay apart), a Byte Sequence `bytes`, an Inner List a list of
Items. A Dictionary comes back as a list of (key, member) pairs in field order, duplicates kept:
RFC 9651 lets the last one win, and a caller may want to know that there were two.
"""

from __future__ import annotations

import base64
import binascii
import string

_LCALPHA = frozenset(string.ascii_lowercase)
_DIGITS = frozenset(string.digits)
_KEY_START = _LCALPHA | {"*"}
_KEY_CHARS = _LCALPHA | _DIGITS | frozenset("_-.*")
_TCHAR = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")
_TOKEN_START = frozenset(string.ascii_letters) | {"*"}
_TOKEN_CHARS = _TCHAR | frozenset(":/")
_BASE64 = frozenset(string.ascii_letters + string.digits + "+/=")


class StructuredFieldError(ValueError):
    """A field value that RFC 9651's parsing algorithm fails."""


class Token(str):
    """An sf-token, told apart from an sf-string."""

    __slots__ = ()


class _Input:
    __slots__ = ("text", "pos")

    def __init__(self, text: str) -> None:
        if not text.isascii():
            raise StructuredFieldError("structured fields are ASCII")
        self.text, self.pos = text, 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in chars:
            pos += 1
        self.pos = pos

    def fail(self, what: str):
        raise StructuredFieldError(f"{what} at offset {self.pos} of {self.text!r}")


def _top(text: str, parse):
    inp = _Input(text)
    inp.skip(" ")
    value = parse(inp)
    inp.skip(" ")
    if inp.pos != len(inp.text):
        inp.fail("unexpected text")
    return value


def parse_list(text: str) -> list:
    """An sf-list: [(value, params), ...]; an empty field is an empty list."""
    return _top(text, _members)


def parse_dictionary(text: str) -> list:
    """An sf-dictionary: [(key, (value, params)), ...], in order, duplicate keys kept."""
    return _top(text, _dictionary)


def parse_item(text: str) -> tuple:
    """An sf-item: (value, params)."""
    return _top(text, _item)


def _ends_after_member(inp: _Input) -> bool:
    """After a list or dictionary member: True at the field's end, else past its ','."""
    inp.skip(" \t")
    if inp.pos == len(inp.text):
        return True
    if inp.peek() != ",":
        inp.fail("expected ','")
    inp.pos += 1
    inp.skip(" \t")
    if inp.pos == len(inp.text):
        inp.fail("trailing ','")
    return False


def _members(inp: _Input) -> list:
    out = []
    while inp.pos < len(inp.text):
        out.append(_item_or_inner_list(inp))
        if _ends_after_member(inp):
            return out
    return out


def _dictionary(inp: _Input) -> list:
    out = []
    while inp.pos < len(inp.text):
        key = _key(inp)
        if inp.peek() == "=":
            inp.pos += 1
            member = _item_or_inner_list(inp)
        else:
            member = (True, _params(inp))
        out.append((key, member))
        if _ends_after_member(inp):
            return out
    return out


def _item_or_inner_list(inp: _Input) -> tuple:
    if inp.peek() != "(":
        return _item(inp)
    inp.pos += 1
    items = []
    while True:
        inp.skip(" ")
        if inp.peek() == ")":
            inp.pos += 1
            return items, _params(inp)
        items.append(_item(inp))
        if inp.peek() not in (" ", ")"):
            inp.fail("expected ' ' or ')' in an inner list")


def _item(inp: _Input) -> tuple:
    value = _bare(inp)
    return value, _params(inp)


def _params(inp: _Input) -> dict:
    params = {}
    while inp.peek() == ";":
        inp.pos += 1
        inp.skip(" ")
        key = _key(inp)
        value = True
        if inp.peek() == "=":
            inp.pos += 1
            value = _bare(inp)
        params[key] = value  # the RFC: a repeated parameter's last value wins
    return params


def _key(inp: _Input) -> str:
    if inp.peek() not in _KEY_START:
        inp.fail("expected a key")
    start = inp.pos
    text = inp.text
    while inp.pos < len(text) and text[inp.pos] in _KEY_CHARS:
        inp.pos += 1
    return text[start:inp.pos]


def _bare(inp: _Input):
    c = inp.peek()
    if c == "-" or c in _DIGITS:
        return _number(inp)
    if c == '"':
        return _string(inp)
    if c in _TOKEN_START:
        return _token(inp)
    if c == ":":
        return _bytes(inp)
    if c == "?":
        return _boolean(inp)
    inp.fail("expected an item")


def _number(inp: _Input):
    text, start = inp.text, inp.pos
    sign = 1
    if inp.peek() == "-":
        sign, inp.pos = -1, inp.pos + 1
    digits_start = inp.pos
    dot = -1
    while inp.pos < len(text):
        c = text[inp.pos]
        if c in _DIGITS:
            inp.pos += 1
        elif c == "." and dot < 0:
            if inp.pos - digits_start > 12:
                inp.fail("decimal with more than 12 integer digits")
            dot = inp.pos
            inp.pos += 1
        else:
            break
        if dot < 0 and inp.pos - digits_start > 15:
            inp.fail("integer with more than 15 digits")
        if dot >= 0 and inp.pos - digits_start > 16:
            inp.fail("decimal with more than 16 characters")
    number = text[digits_start:inp.pos]
    if not number or number == ".":
        inp.pos = start
        inp.fail("expected a number")
    if dot < 0:
        return sign * int(number)
    if number.endswith(".") or len(number) - (dot - digits_start) - 1 > 3:
        inp.fail("decimal needs 1 to 3 fractional digits")
    if dot == digits_start:
        inp.fail("decimal needs an integer part")
    return sign * float(number)


def _string(inp: _Input) -> str:
    text = inp.text
    inp.pos += 1
    out = []
    while inp.pos < len(text):
        c = text[inp.pos]
        inp.pos += 1
        if c == "\\":
            if inp.pos >= len(text) or text[inp.pos] not in '"\\':
                inp.fail("bad escape in a string")
            out.append(text[inp.pos])
            inp.pos += 1
        elif c == '"':
            return "".join(out)
        elif not " " <= c <= "~":
            inp.fail("control character in a string")
        else:
            out.append(c)
    inp.fail("unterminated string")


def _token(inp: _Input) -> Token:
    text, start = inp.text, inp.pos
    inp.pos += 1
    while inp.pos < len(text) and text[inp.pos] in _TOKEN_CHARS:
        inp.pos += 1
    return Token(text[start:inp.pos])


def _bytes(inp: _Input) -> bytes:
    text = inp.text
    end = text.find(":", inp.pos + 1)
    if end < 0:
        inp.fail("unterminated byte sequence")
    body = text[inp.pos + 1:end]
    if not set(body) <= _BASE64:
        inp.fail("bad base64 in a byte sequence")
    inp.pos = end + 1
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        inp.fail("bad base64 in a byte sequence")


def _boolean(inp: _Input) -> bool:
    inp.pos += 1
    c = inp.peek()
    if c not in ("0", "1"):
        inp.fail("expected ?0 or ?1")
    inp.pos += 1
    return c == "1"
