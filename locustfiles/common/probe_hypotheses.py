"""The probe's hypotheses: the limiter families, modifiers and scopes the evidence so far
allows, and the facts measured. Pure: no I/O, no clock, no Locust."""

from __future__ import annotations

import math

FIXED_FIRST = "fixed_window/first_request"
FIXED_EPOCH = "fixed_window/epoch"
FAMILIES = (FIXED_FIRST, FIXED_EPOCH, "sliding_log", "sliding_counter", "token_bucket",
            "concurrency", "shaping", "none")
MODIFIERS = ("counts_rejected", "lockout")
SCOPES = ("scope/per_key", "scope/global")
WINDOWS = {FIXED_FIRST, FIXED_EPOCH, "sliding_log"}
REFILLING = {"token_bucket", "sliding_counter"}
# Admissions this much slower than the fastest admitted one were held (shaping), not served.
HELD_S = 0.3
# A key refused this often in a sequential loop right after the burst is over a rate quota.
MOSTLY_ADMITTED = 0.8


def _fmt(x: float | None, unit: str = "s") -> str:
    return "?" if x is None or not math.isfinite(x) else f"{x:.3g} {unit}".rstrip()


class Knowledge:
    """The hypotheses still allowed and what has been measured."""

    def __init__(self, keys: int = 1) -> None:
        self.families = set(FAMILIES)
        self.modifiers: dict[str, bool | None] = dict.fromkeys(MODIFIERS)
        self.scope: str | None = None if keys > 1 else "unknown"
        self.keys = keys
        self.facts: dict[str, float] = {}
        self.done: list[str] = []
        self.tight_runs = 0
        self.split_tried = False

    @property
    def bursts(self) -> int:
        return self.done.count("idle_burst")

    @property
    def hypotheses(self) -> list[str]:
        return [*FAMILIES, *MODIFIERS, *(SCOPES if self.keys > 1 else ())]

    def open(self) -> list[str]:
        """What is still undecided: the families left when more than one, and the
        modifiers and the scope nobody answered."""
        out = sorted(self.families) if len(self.families) > 1 else []  # alignment too
        if not self.families <= {"none", "concurrency", "shaping"}:
            out += [m for m, v in self.modifiers.items() if v is None]
        if self.scope is None:
            out += list(SCOPES)
        return out

    def rule_out(self, names) -> list[str]:
        gone = [n for n in names if n in self.families]
        if len(gone) == len(self.families):
            return []
        self.families -= set(gone)
        return gone

    def keep_only(self, names) -> list[str]:
        """Rule out every family but `names`; nothing when that would leave none (evidence
        that contradicts itself settles nothing)."""
        if not self.families & set(names):
            return []
        return self.rule_out(sorted(self.families - set(names)))

    def settle_modifier(self, name: str, value: bool) -> list[str]:
        if self.modifiers[name] is None:
            self.modifiers[name] = value
            return [] if value else [name]
        return []

    @property
    def family(self) -> str | None:
        """The one family left; "fixed_window" when only the window's alignment is open (a
        lockout longer than the window hides it)."""
        if self.families == {FIXED_FIRST, FIXED_EPOCH}:
            return "fixed_window"
        return next(iter(self.families)) if len(self.families) == 1 else None

    def get(self, name: str) -> float | None:
        return self.facts.get(name)

    def finite(self, name: str) -> float | None:
        """A measured fact, or None when it was not measured or came out NaN."""
        v = self.facts.get(name)
        return v if v is not None and math.isfinite(v) else None

    def first_wait(self) -> float:
        """How long the quota stayed closed after the first refusal: the stated wait, else
        the one measured by waiting; 1 s when neither is known."""
        ra1 = self.finite("ra1")
        if ra1 is not None and ra1 > 0:  # a stated 0 says nothing of how long it stays shut
            return ra1
        p1 = self.finite("period1")
        return max(p1 - (self.finite("burst_s") or 0.0), 0.1) if p1 is not None else 1.0


def lockout_length(k: Knowledge) -> str:
    """The lockout's length in words, and into k.facts: the stated wait only when waiting it
    was seen to be enough (the header under test is no measure of itself), else the measured
    reopening's bracket, else nothing."""
    untrusted = k.get("polite_refused") or k.finite("ra_short_high") is not None
    if untrusted:
        low, high = k.finite("reopen_low"), k.finite("reopen_high")
        if high is None:
            return ""
        k.facts.update(lockout_low=low or 0.0, lockout_high=high)
        return " of " + lockout_words(k)
    last = k.finite("last_ra")
    k.facts["lockout_s"] = last if last is not None else (k.finite("ra1") or math.nan)
    return f" of about {_fmt(k.facts['lockout_s'])}" if k.finite("lockout_s") else ""


def lockout_words(k: Knowledge) -> str:
    """'between A and B s' (or 'at most B s') from the measured reopening's bracket."""
    low, high = k.facts["lockout_low"], k.facts["lockout_high"]
    return f"between {low:.3g} and {_fmt(high)}" if low > 0 else f"at most {_fmt(high)}"
