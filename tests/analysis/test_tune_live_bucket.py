"""Live acceptance of the tuner on the token-bucket profile (2/s, bursts of 10, per key)."""

from .tune_live import check_acceptance, tune_live


def test_token_bucket_recommendation_holds_live(tmp_path):
    backoff = tune_live(tmp_path, "token-bucket")
    assert backoff["server"]["algorithm"] == "token_bucket"
    check_acceptance(backoff)
