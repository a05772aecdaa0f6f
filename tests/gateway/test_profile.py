import subprocess
import sys
from pathlib import Path

import pytest

from gateway.profile import ProfileError, available_profiles, load_profile

SHIPPED = ["default", "token-bucket", "sliding", "sliding-counter", "epoch-window", "liar",
           "no-retry-after", "busy", "counts-rejected", "sliding-counter-counts-rejected",
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


def test_every_profile_has_a_line_in_the_readme_table():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("### Profiles", 1)[1].split("\n\n", 2)[1]
    named = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert named == set(available_profiles())
