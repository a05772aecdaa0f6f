"""The checks of the quota modifiers (counts_rejected, lockout, epoch phase) that need more
than one field; kept out of profile.py for its size. gateway/windows.py and gateway/lockout.py
implement what they allow."""

from __future__ import annotations

from typing import Any


def check_modifiers(q: Any) -> None:
    """Raise ValueError, naming the field, for a QuotaConfig `q` whose modifiers mean nothing."""
    if q.lockout_s is not None and q.algorithm == "none":
        raise ValueError("quota.lockout_s needs a quota that refuses: algorithm is 'none'")
    if q.lockout_extends and q.lockout_s is None:
        raise ValueError("quota.lockout_extends needs quota.lockout_s")
    if q.phase_s == 0.0:
        return
    if q.algorithm != "fixed_window" or q.alignment != "epoch":
        raise ValueError("quota.phase_s applies only to algorithm 'fixed_window' with "
                         "alignment 'epoch'")
    if q.phase_s == "key_hash":
        if q.scope == "global":
            raise ValueError("quota.phase_s = 'key_hash' needs scope 'per_key': one "
                             "window shared by all keys has no key to hash; give a number")
    elif q.window_s is not None and q.phase_s >= q.window_s:
        raise ValueError(f"quota.phase_s must be in [0, window_s={q.window_s}): "
                         f"got {q.phase_s:g}")
