import subprocess
import sys

import pytest

from gateway.profile import ProfileError, available_profiles, load_profile

SHIPPED = ["default", "token-bucket", "sliding", "sliding-counter", "epoch-window", "liar",
           "no-retry-after", "busy", "shaping", "concurrency", "many-headers",
           "header-liar", "counts-rejected", "sliding-counter-counts-rejected",
           "lockout", "lockout-extends", "epoch-phase", "epoch-key-phase"]


def test_every_shipped_profile_loads():
    assert set(SHIPPED) <= set(available_profiles())
    for name in SHIPPED:
        assert load_profile(name).name == name


def test_inherited_profile_keeps_parent_keys_and_overrides_quota():
    tb = load_profile("token-bucket")
    assert tb.quota.algorithm == "token_bucket" and tb.quota.burst == 10
    assert {k.name for k in tb.keys} == {k.name for k in load_profile("default").keys}


def test_override_sets_nested_field_with_toml_value():
    p = load_profile("default", ["quota.limit=7", "nodes.outage=[{start_s=1,end_s=2,down=1}]"])
    assert p.quota.limit == 7 and p.nodes.outage[0].down == 1


@pytest.mark.parametrize("overrides, field", [
    (["quota.window_s=-1"], "quota.window_s"),
    (["quota.algorithm='leaky'"], "quota.algorithm"),
    (["quota.algorithm='token_bucket'"], "quota.rate_per_s"),
    (["nodes.outage=[{start_s=5,end_s=2,down=1}]"], "end_s must be after start_s"),
    (["nodes.outage=[{start_s=0,end_s=2,down=9}]"], "exceeds nodes.count"),
    (["quota.bogus=1"], "quota.bogus"),
    (["latency.jitter=1.5"], "latency.jitter"),
])
def test_bad_field_is_named(overrides, field):
    with pytest.raises(ProfileError) as err:
        load_profile("default", overrides)
    assert field in str(err.value)


def test_shaping_and_concurrency_profiles_say_what_they_are():
    q = load_profile("shaping").quota
    assert (q.algorithm, q.rate_per_s, q.burst, q.scope) == ("token_bucket", 2.0, 1, "per_key")
    assert (q.queueing.size, q.queueing.max_delay_s) == (5, None)
    q = load_profile("concurrency").quota
    assert (q.algorithm, q.limit, q.scope, q.retry_after) == ("concurrency", 2, "per_key",
                                                              "absent")
    assert q.concurrency_status is None  # 429


@pytest.mark.parametrize("profile, overrides, field", [
    ("default", ["quota.queueing.size=3"], "quota.queueing (shaping) is only for algorithm "
                                           "'token_bucket', not 'fixed_window'"),
    ("concurrency", ["quota.queueing.size=3"], "only for algorithm 'token_bucket'"),
    ("shaping", ["quota.queueing.size=0"], "quota.queueing.size: Input should be greater"),
    ("shaping", ["quota.queueing.size=-2"], "quota.queueing.size: Input should be greater"),
    ("shaping", ["quota.queueing.size=1000000"], "quota.queueing.size: Input should be less"),
    ("shaping", ["quota.queueing={max_delay_s=1.0}"], "quota.queueing.size: Field required"),
    ("shaping", ["quota.queueing.max_delay_s=0"], "quota.queueing.max_delay_s: Input should "
                                                  "be greater"),
    ("shaping", ["quota.queueing.max_delay_s=-1.0"], "quota.queueing.max_delay_s"),
    ("shaping", ["quota.queueing.max_delay_s=86400"], "quota.queueing.max_delay_s: Input "
                                                      "should be less"),
    ("shaping", ["quota.queueing.timeout=1"], "quota.queueing.timeout: Extra inputs"),
    ("shaping", ["quota.queueing=5"], "quota.queueing: Input should be"),
    ("shaping", ["quota.counts_rejected=true"], "quota.counts_rejected is not supported with "
                                               "quota.queueing"),
    ("concurrency", ["quota.limit=0"], "quota.limit: Input should be greater than 0"),
    ("concurrency", ["quota.limit=1000000"], "quota.limit=1000000 in flight at once is absurd"),
    ("concurrency", ["quota.concurrency_status=500"], "quota.concurrency_status: Input should "
                                                      "be 429 or 503"),
    ("shaping", ["quota.concurrency_status=503"], "quota.concurrency_status is only for "
                                                  "algorithm 'concurrency'"),
    ("concurrency", ["quota.retry_after='honest'"], "quota.retry_after='honest' has no "
                                                    "meaning for 'concurrency'"),
    ("concurrency", ["quota.counts_rejected=true"], "quota.counts_rejected has no meaning for "
                                                   "'concurrency'"),
    # A lockout is the modifiers' wrapper over a rate limiter; shaping and the cap are not one.
    ("shaping", ["quota.lockout_s=5"], "quota.lockout_s is not supported with quota.queueing"),
    ("concurrency", ["quota.lockout_s=5"], "quota.lockout_s is not supported for "
                                           "'concurrency'"),
    ("concurrency", ["quota.headers=['ietf-08']"], "quota.headers is not supported for "
                                                   "'concurrency'"),
    # inf and nan are floats to TOML and --set; a figure past its bound is a mistake
    ("lockout", ["quota.lockout_s=inf"], "quota.lockout_s: Input should be a finite number"),
    ("lockout", ["quota.lockout_s=1e16"], "quota.lockout_s: Input should be less than"),
    ("header-liar", ["quota.declares.window_s=inf"], "quota.declares.window_s: Input should "
                                                     "be a finite number"),
    ("shaping", ["quota.rate_per_s=inf"], "quota.rate_per_s: Input should be a finite number"),
    ("token-bucket", ["quota.rate_per_s=nan"], "quota.rate_per_s: Input should be a finite"),
    ("token-bucket", ["quota.rate_per_s=1e-9"], "quota.rate_per_s: Input should be greater"),
    ("default", ["quota.limit=10000000000"], "quota.limit: Input should be less than"),
    ("liar", ["quota.retry_after_constant_s=inf"], "quota.retry_after_constant_s: Input "
                                                   "should be a finite number"),
])
def test_bad_shaping_or_concurrency_setting_is_named(profile, overrides, field):
    with pytest.raises(ProfileError) as err:
        load_profile(profile, overrides)
    assert field in str(err.value)


def test_concurrency_without_a_limit_is_named(tmp_path):
    lone = tmp_path / "lone.toml"  # inherits nothing, so no limit comes from `default`
    lone.write_text('[quota]\nalgorithm = "concurrency"\nretry_after = "absent"\n'
                    '[[keys]]\nname = "x"\nkey = "pk-xxxxxxxx"\n')
    with pytest.raises(ProfileError, match=r"quota\.limit \(the most requests in flight at "
                                           r"once\) is required for algorithm 'concurrency'"):
        load_profile(str(lone))


def test_bad_files(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[quota\nlimit = 1")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(str(broken))
    loop = tmp_path / "loop.toml"
    loop.write_text(f'inherit = "{loop}"\n')
    with pytest.raises(ProfileError, match="loops back"):
        load_profile(str(loop))
    with pytest.raises(ProfileError, match="unknown profile 'nope'; available: .*default"):
        load_profile("nope")
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(str(tmp_path / "missing.toml"))
    naive = tmp_path / "naive.toml"
    naive.write_text('inherit = "default"\n[[keys]]\nname="x"\nkey="pk-xxxxxxxx"\n'
                     'expires_at = 2024-01-01T00:00:00\n')
    with pytest.raises(ProfileError, match="keys.0.expires_at: .*time zone"):
        load_profile(str(naive))


def test_bad_profile_stops_server_with_message():
    proc = subprocess.run([sys.executable, "-m", "gateway", "--set", "quota.limit=0"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "quota.limit: Input should be greater than 0" in proc.stderr


@pytest.mark.parametrize("profile, says", [
    ("lockout", "then locked out 20 s (per_key)"),
    ("lockout-extends", "then locked out 5 s (each refusal restarts it)"),
    ("counts-rejected", "token bucket 2/s, burst 5, refusals counted"),
    ("epoch-phase", "epoch with phase 3.5 s"),
    ("epoch-key-phase", "with a phase per key (key hash)"),
    ("header-liar", "rate-limit headers: ietf-08, openai, declaring 20 per 10 s"),
    ("shaping", "burst 1, 5 held at most"),
    ("concurrency", "at most 2 in flight, then 429"),
])
def test_the_start_line_names_every_modifier(profile, says):
    # The line the gateway prints when it starts: a lockout or a lying header left out of it
    # would misstate the truth a user set up.
    from gateway.__main__ import describe
    assert says in describe(load_profile(profile))
