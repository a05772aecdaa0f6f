"""`make demo`'s script: every wall, a tight loop, a report whose path it prints, and no
process left behind."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def gateways_running() -> set[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if "-m gateway --profile" in line}


def test_demo_end_to_end():
    before = gateways_running()
    proc = subprocess.run([sys.executable, "scripts/demo.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for wall in ("200 completion", "401 revoked key", "403 key scoped", "404 model",
                 "422 temperature 5", "429 quota reached"):
        assert wall in proc.stdout
    assert "20 requests per 10 s per key, fixed window, anchored at the first request" \
        in proc.stdout
    path = Path(re.search(r"report: (\S+index\.html)", proc.stdout).group(1))
    assert path.is_file() and (path.parent / "summary.json").is_file()
    assert gateways_running() <= before  # every gateway it started is gone
