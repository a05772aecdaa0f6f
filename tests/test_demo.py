"""`make demo`'s script: every wall, a tight loop, a report whose path it prints, and no
process left behind."""

import re
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_end_to_end():
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
    # Every gateway it started (the walk's and the load test's) is gone. Checked by port:
    # other tests may be running gateways of their own meanwhile.
    ports = {int(p) for p in re.findall(r"http://127\.0\.0\.1:(\d+)/v1", proc.stdout)}
    assert len(ports) == 2
    assert not any(listening(p) for p in ports)
