"""Every rate-limit header family, read as its specification writes it (the drafts' examples,
GitHub's, OpenAI's and Anthropic's documented forms), values generated from those forms and
read back; junk and repeated fields give NaN and their text, never an exception."""

import datetime as dt
import math

import pytest
from hypothesis import assume, example, given, strategies as st

from contract.events import RAW_MAX
from contract.headers import header_fields, parse_declared, pick
from contract.ratelimit_families import FAMILIES

from .test_structured_fields import BARE, KEYS, ser_member

NOW = 1_800_000_000.0
NAN = math.nan
COUNTS = st.integers(0, 10**9)
WINDOWS = st.integers(1, 10**6)
DELAYS = st.integers(0, 10**6)


def read(headers, now=NOW):
    return parse_declared(pick(headers), now)


def agree(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert (isinstance(e, float) and math.isnan(e) and math.isnan(g)) or g == e, (got,
                                                                                      expected)


# -- the specifications' own examples --------------------------------------------------------

@pytest.mark.parametrize("headers, expected", [
    # draft-08..-10, sections 3.2 and 4.2
    ({"RateLimit-Policy": '"default";q=100;w=10', "RateLimit": '"default";r=50;t=30'},
     (100, 10, 50, 30, "ietf-08", "")),
    ({"RateLimit-Policy": '"permin";q=50;w=60,"perhr";q=1000;w=3600',
      "RateLimit": '"permin";r=3;t=20, "perhr";r=900;t=1800'}, (50, 60, 3, 20, "ietf-08", "")),
    ({"RateLimit-Policy": '"peruser";q=100;w=60;pk=:cHsdsRa894==:',
      "RateLimit": '"peruser";r=99;t=60;pk=:cHsdsRa894==:'}, (100, 60, 99, 60, "ietf-08", "")),
    ({"RateLimit": '"default";r=999;pk=:dHJpYWwxMjEzMjM=:'}, (NAN, NAN, 999, NAN, "ietf-08", "")),
    # bytes, not requests: no request limit is read from it
    ({"RateLimit-Policy": '"peruser";q=65535;qu="content-bytes";w=10',
      "RateLimit": '"peruser";r=300;t=60'}, (NAN, NAN, NAN, NAN, "ietf-08", "ratelimit: "
                                             '"peruser";r=300;t=60')),
    # draft-07, sections 3.5 and 5
    ({"RateLimit-Policy": "100;w=10", "RateLimit": "limit=100, remaining=50, reset=5"},
     (100, 10, 50, 5, "ietf-07", "")),
    ({"RateLimit-Policy": "10;w=1, 50;w=60, 1000;w=3600, 5000;w=86400",
      "RateLimit": "limit=50, remaining=1, reset=7"}, (50, 60, 1, 7, "ietf-07", "")),
    ({"RateLimit-Policy": "10;w=1;burst=1000, 1000;w=3600",
      "RateLimit": "limit=10, remaining=1, reset=1"}, (10, 1, 1, 1, "ietf-07", "")),
    # draft-06 and its predecessors' inline policies
    ({"RateLimit-Limit": "10", "RateLimit-Remaining": "1", "RateLimit-Reset": "7",
      "RateLimit-Policy": "10;w=1, 50;w=60"}, (10, 1, 1, 7, "ietf-06", "")),
    ({"RateLimit-Limit": "10, 10;w=1, 50;w=60", "RateLimit-Remaining": "9",
      "RateLimit-Reset": "1"}, (10, 1, 9, 1, "ietf-06", "")),
    # GitHub: reset in UTC epoch seconds; also the delay-seconds form some servers send
    ({"x-ratelimit-limit": "60", "x-ratelimit-remaining": "56", "x-ratelimit-used": "4",
      "x-ratelimit-reset": str(int(NOW) + 1372)}, (60, NAN, 56, 1372, "github", "")),
    ({"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "30"},
     (10, NAN, 1, 30, "github", "")),
    # OpenAI's documented example values
    ({"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59",
      "x-ratelimit-reset-requests": "1s"}, (60, NAN, 59, 1, "openai", "")),
    ({"x-ratelimit-limit-requests": "5000", "x-ratelimit-remaining-requests": "4999",
      "x-ratelimit-reset-requests": "12ms"}, (5000, NAN, 4999, 0.012, "openai", "")),
    ({"x-ratelimit-limit-requests": "5000", "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-requests": "6m0s"}, (5000, NAN, 0, 360, "openai", "")),
    # Anthropic: RFC 3339
    ({"anthropic-ratelimit-requests-limit": "50",
      "anthropic-ratelimit-requests-remaining": "49",
      "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:30Z"},
     (50, NAN, 49, 30, "anthropic", "")),
    ({}, (NAN, NAN, NAN, NAN, "", "")),
])
def test_documented_examples(headers, expected):
    agree(read(headers), expected)


# -- generated from each family's form, read back --------------------------------------------

IDS = st.one_of(st.from_regex(r'\A[a-zA-Z0-9 _-]{1,12}\Z').map(lambda s: f'"{s}"'),
                st.from_regex(r"\A[a-zA-Z][a-zA-Z0-9_.-]{0,8}\Z"))  # -11 allows a Token


@given(st.lists(st.tuples(IDS, COUNTS, WINDOWS, COUNTS, DELAYS), min_size=1, max_size=4,
                unique_by=lambda t: t[0].strip('"')), st.sampled_from([",", ", "]))
def test_ietf08_reads_the_policy_closest_to_its_limit(policies, sep):
    header_policy = sep.join(f"{i};q={q};w={w}" for i, q, w, _, _ in policies)
    header_limit = sep.join(f"{i};r={r};t={t}" for i, _, _, r, t in policies)
    first = min(range(len(policies)), key=lambda k: (policies[k][3], k))
    _, q, w, r, t = policies[first]
    agree(read({"RateLimit-Policy": header_policy, "RateLimit": header_limit}),
          (q, w, r, t, "ietf-08", ""))


@given(COUNTS, COUNTS, DELAYS, WINDOWS, st.permutations(["limit", "remaining", "reset"]),
       st.lists(st.tuples(COUNTS, WINDOWS), max_size=3, unique_by=lambda t: t[0]))
def test_ietf07_dictionary_in_any_order_with_its_policy(limit, remaining, reset, window, order,
                                                         others):
    others = [(q, w) for q, w in others if q != limit]
    values = {"limit": limit, "remaining": remaining, "reset": reset}
    policy = ", ".join(f"{q};w={w}" for q, w in [(limit, window), *others])
    agree(read({"RateLimit": ", ".join(f"{k}={values[k]}" for k in order),
                "RateLimit-Policy": policy}), (limit, window, remaining, reset, "ietf-07", ""))


@given(COUNTS, COUNTS, DELAYS, WINDOWS)
def test_ietf06_items_and_policy(limit, remaining, reset, window):
    agree(read({"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining),
                "RateLimit-Reset": str(reset), "RateLimit-Policy": f"{limit};w={window}"}),
          (limit, window, remaining, reset, "ietf-06", ""))


@given(COUNTS, COUNTS, DELAYS)
def test_github_epoch_reset(limit, remaining, delay):
    agree(read({"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(int(NOW) + delay)}),
          (limit, NAN, remaining, delay, "github", ""))


def go_duration(h, m, s, ms) -> tuple[str, float]:
    """A duration as Go's time.Duration.String() writes it, and its seconds."""
    total = h * 3600 + m * 60 + s + ms / 1000
    if total < 1:
        return (f"{ms}ms" if ms else "0s"), total
    secs = f"{s + ms / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    text = (f"{h}h{m}m" if h else f"{m}m" if m else "") + secs
    return text, total


@given(COUNTS, COUNTS, st.integers(0, 48), st.integers(0, 59), st.integers(0, 59),
       st.integers(0, 999))
def test_openai_go_durations(limit, remaining, h, m, s, ms):
    text, seconds = go_duration(h, m, s, ms)
    got = read({"x-ratelimit-limit-requests": str(limit),
                "x-ratelimit-remaining-requests": str(remaining),
                "x-ratelimit-reset-requests": text})
    assert got[:3] == (limit, got[1], remaining) and math.isnan(got[1])
    assert got[3] == pytest.approx(seconds, abs=1e-9) and got[4:] == ("openai", "")


@given(COUNTS, COUNTS, st.integers(0, 10**6), st.integers(-14 * 60, 14 * 60).map(
    lambda m: m - m % 15), st.sampled_from(["", ".5", ".123456"]), st.sampled_from("TZ"))
def test_anthropic_rfc3339_any_offset(limit, remaining, delay, offset_min, frac, style):
    at = NOW + delay + (float(frac) if frac else 0.0)
    tz = dt.timezone(dt.timedelta(minutes=offset_min))
    local = dt.datetime.fromtimestamp(int(NOW + delay), tz)
    offset = "Z" if offset_min == 0 and style == "Z" else local.strftime("%z")
    offset = offset if offset == "Z" else offset[:3] + ":" + offset[3:]
    text = local.strftime("%Y-%m-%dT%H:%M:%S") + frac + offset
    got = read({"anthropic-ratelimit-requests-limit": str(limit),
                "anthropic-ratelimit-requests-remaining": str(remaining),
                "anthropic-ratelimit-requests-reset": text})
    assert got[0] == limit and got[2] == remaining and got[4:] == ("anthropic", "")
    assert got[3] == pytest.approx(at - NOW, abs=1e-6)


# -- junk and repeated fields ----------------------------------------------------------------

FAMILY_NAMES = {
    "ietf-08": ["RateLimit-Policy", "RateLimit"], "ietf-07": ["RateLimit", "RateLimit-Policy"],
    "ietf-06": ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"],
    "github": ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"],
    "openai": ["x-ratelimit-limit-requests", "x-ratelimit-remaining-requests",
               "x-ratelimit-reset-requests"],
    "anthropic": ["anthropic-ratelimit-requests-limit",
                  "anthropic-ratelimit-requests-remaining",
                  "anthropic-ratelimit-requests-reset"],
}
ALL_NAMES = sorted({n for names in FAMILY_NAMES.values() for n in names})


@given(st.dictionaries(st.sampled_from(ALL_NAMES), st.text(max_size=40)),
       st.floats(NOW - 1e6, NOW + 1e6))
# Hundreds of digits read as float are infinity: no figure, the text kept.
@example({"x-ratelimit-limit-requests": "9" * 400, "x-ratelimit-reset-requests": "9" * 400 + "h"},
         NOW)
@example({"anthropic-ratelimit-requests-limit": "9" * 309}, NOW)
@example({"x-ratelimit-limit": "1", "x-ratelimit-reset": "9" * 309}, NOW)
def test_junk_never_raises(headers, now):
    limit, window, remaining, reset, family, raw = read(headers, now)
    for v in (limit, window, remaining, reset):
        assert math.isnan(v) or 0 <= v < math.inf
    assert family in FAMILIES + ("",) and len(raw) <= RAW_MAX
    if family == "":  # no family could be told: nothing is said
        assert all(math.isnan(v) for v in (limit, window, remaining, reset))


@given(st.sampled_from(ALL_NAMES), st.text(max_size=20).map(lambda t: "x?" + t))
def test_a_malformed_field_gives_nan_and_its_text(name, junk):
    limit, window, remaining, reset, family, raw = read({name: junk})
    assert all(math.isnan(v) for v in (limit, window, remaining, reset))
    assert raw == f"{name.lower()}: {junk}"[:RAW_MAX]


COUNT_FIELDS = [n for n in ALL_NAMES if not n.lower().endswith(("ratelimit", "-policy"))
                and "anthropic-ratelimit-requests-reset" != n
                and "x-ratelimit-reset-requests" != n]


@given(st.sampled_from(COUNT_FIELDS), COUNTS, COUNTS)
def test_a_repeated_field_whose_lines_differ_gives_nan_and_its_text(name, a, b):
    assume(a != b)
    headers = [(name, str(a)), (name, str(b))]  # two lines of one field
    fields = header_fields(headers, NOW)
    assert raw_of(fields) == f"{name.lower()}: {a}, {b}"
    agreed = header_fields([(name, str(a)), (name, str(a))], NOW)
    assert raw_of(agreed) == "" and a in fields_figures(agreed)


def raw_of(fields):
    return fields[7]


def fields_figures(fields):
    return (fields[2], fields[3], fields[4], fields[5])


# -- precedence -------------------------------------------------------------------------------

EVERY = {
    "ietf-08": {"RateLimit-Policy": '"default";q=8;w=8', "RateLimit": '"default";r=1;t=1'},
    "ietf-07": {"RateLimit": "limit=7, remaining=1, reset=1", "RateLimit-Policy": "7;w=7"},
    "ietf-06": {"RateLimit-Limit": "6", "RateLimit-Remaining": "1", "RateLimit-Reset": "1",
                "RateLimit-Policy": "6;w=6"},
    "anthropic": {"anthropic-ratelimit-requests-limit": "5"},
    "openai": {"x-ratelimit-limit-requests": "4"},
    "github": {"x-ratelimit-limit": "3"},
}


def test_precedence_follows_families_and_skips_what_cannot_be_read():
    present = list(FAMILIES)
    while present:
        headers = {}
        for family in reversed(present):  # later families must not overwrite earlier ones
            headers |= EVERY[family]
        if "ietf-08" in present and "ietf-07" in present:
            headers["RateLimit"] = EVERY["ietf-08"]["RateLimit"]  # one field, one shape
            headers["RateLimit-Policy"] = EVERY["ietf-08"]["RateLimit-Policy"]
        got = read(headers)
        assert got[4] == present[0], (present, got)
        present.pop(0)
    junk_first = {"RateLimit": "x?", "x-ratelimit-limit-requests": "4"}
    assert read(junk_first)[::4] == (4, "openai") and read(junk_first)[5] == "ratelimit: x?"


# the families' own parameter names and keys, and small numbers, come up often
SF_PARAMS = st.dictionaries(st.one_of(st.sampled_from(["w", "q", "r", "t", "qu", "pk"]), KEYS),
                            st.one_of(st.integers(-2, 20), BARE), max_size=3)
SF_VALUES = st.lists(st.tuples(st.one_of(st.integers(-2, 20), BARE), SF_PARAMS), max_size=4)
SF_DICT = st.lists(st.tuples(st.sampled_from(["limit", "remaining", "reset"]),
                             st.one_of(st.integers(-2, 20), BARE)), min_size=1, max_size=4)


@given(st.dictionaries(st.sampled_from(ALL_NAMES), st.one_of(
    SF_VALUES.map(lambda ms: ", ".join(ser_member(m) for m in ms)),
    SF_DICT.map(lambda es: ", ".join(f"{k}={ser_member((v, {}))}" for k, v in es))),
    min_size=1))
@example({"RateLimit-Limit": "-1, abc;w=3"})  # a bad limit beside one inline policy
@example({"X-RateLimit-Limit": "-1, 5;w=3"})
def test_well_formed_fields_of_the_wrong_shape_give_floats_or_nan(headers):
    """Structured values of any kind in any field: the figures stay numbers (or NaN)."""
    limit, window, remaining, reset, family, raw = read(headers)
    for v in (limit, window, remaining, reset):
        assert type(v) is float and (math.isnan(v) or 0 <= v < math.inf)
    assert family in FAMILIES + ("",) and len(raw) <= RAW_MAX


@pytest.mark.parametrize("headers, name", [
    ({"x-ratelimit-limit-requests": "9" * 400}, "x-ratelimit-limit-requests"),
    ({"x-ratelimit-limit-requests": "5", "x-ratelimit-reset-requests": "9" * 400 + "h"},
     "x-ratelimit-reset-requests"),
    ({"anthropic-ratelimit-requests-limit": "9" * 309}, "anthropic-ratelimit-requests-limit"),
    ({"x-ratelimit-limit": "1", "x-ratelimit-reset": "9" * 309}, "x-ratelimit-reset"),
])
def test_a_figure_too_large_to_be_one_gives_nan_and_its_text(headers, name):
    fields = read(headers)
    assert not any(v == math.inf for v in fields[:4]), fields
    assert f"{name}: " in fields[5], fields


def test_a_long_run_of_spaces_in_a_duration_is_read_or_refused():
    # The duration pattern once had a \s* at each end of groups that may all be empty: a
    # hostile run of spaces made it backtrack over every split (quadratic time).
    spaces = " " * 5000
    assert read({"x-ratelimit-limit-requests": "5",
                 "x-ratelimit-reset-requests": spaces + "1m2s" + spaces})[3] == 62
    fields = read({"x-ratelimit-limit-requests": "5",
                   "x-ratelimit-reset-requests": spaces + "x"})
    assert math.isnan(fields[3]) and "x-ratelimit-reset-requests" in fields[5]


@pytest.mark.parametrize("headers, name", [
    # one policy id, two different policies: which one is meant is unknown
    ([("RateLimit-Policy", '"default";q=10;w=5'), ("RateLimit-Policy", '"default";q=20;w=5'),
      ("RateLimit", '"default";r=3;t=4')], "ratelimit-policy"),
    # one limit, two different remainders
    ([("RateLimit-Policy", '"a";q=10;w=5'), ("RateLimit", '"a";r=1;t=2'),
      ("RateLimit", '"a";r=5;t=2')], "ratelimit"),
    # the earlier drafts: one quota, two windows
    ([("RateLimit-Limit", "10"), ("RateLimit-Remaining", "3"), ("RateLimit-Reset", "4"),
      ("RateLimit-Policy", "10;w=5, 10;w=6")], "ratelimit-policy"),
])
def test_a_field_that_says_two_things_at_once_is_not_read_and_its_text_kept(headers, name):
    fields = header_fields(headers, NOW)
    limit, remaining, reset, window = fields_figures(fields)
    assert f"{name}: " in raw_of(fields), fields
    if name == "ratelimit-policy":
        assert math.isnan(window), fields
        if "10;w=5, 10;w=6" not in str(headers):
            assert math.isnan(limit), fields  # neither 10 nor 20 is declared
    else:
        assert math.isnan(remaining), fields  # neither 1 nor 5
    # the same lines repeated alike say one thing, and are read
    same = [h for h in headers if h[1] not in ('"default";q=20;w=5', '"a";r=5;t=2')]
    if name != "ratelimit-policy" or "10;w=5, 10;w=6" not in str(headers):
        assert raw_of(header_fields(same + same[:1], NOW)) == ""
