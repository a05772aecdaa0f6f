"""Live acceptance of the tuner on the fixed-window profile (default: 20 per 10 s per key)."""

from .tune_live import check_acceptance, tune_live


def test_fixed_window_recommendation_holds_live(tmp_path):
    backoff = tune_live(tmp_path, "default")
    assert backoff["server"]["algorithm"] == "fixed_window"
    check_acceptance(backoff)
