"""The three phases of a spike (baseline, spike, recovery), shared by both spike scenarios."""

from __future__ import annotations

from locust import events

from . import options as checked

PHASES = ("baseline", "spike", "recovery")


def register_options() -> None:
    @events.init_command_line_parser.add_listener
    def _options(parser):
        g = parser.add_argument_group("spike")
        g.add_argument("--baseline-s", type=checked.seconds_within_a_run, default=10.0)
        g.add_argument("--spike-s", type=checked.seconds_within_a_run, default=10.0)
        g.add_argument("--recovery-s", type=checked.seconds_within_a_run, default=20.0)


def planned_s(opts) -> float:
    return opts.baseline_s + opts.spike_s + opts.recovery_s


def phase_bounds(opts) -> list[tuple[str, float, float]]:
    """(phase, start, end) in seconds from the start of the test."""
    out, t = [], 0.0
    for name, length in zip(PHASES, (opts.baseline_s, opts.spike_s, opts.recovery_s)):
        out.append((name, t, t + length))
        t += length
    return out


def phase_at(opts, elapsed: float) -> str | None:
    for name, start, end in phase_bounds(opts):
        if start <= elapsed < end:
            return name
    return None
