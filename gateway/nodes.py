"""The pool of GPU nodes a request is routed to; no free slot on an online node means 503."""

from __future__ import annotations

import hashlib
import struct

from .profile import NodesConfig


class Slot:
    """One occupied slot; release() may be called more than once (stream end and cleanup)."""

    __slots__ = ("pool", "node", "_held")

    def __init__(self, pool: NodePool, node: int) -> None:
        self.pool, self.node, self._held = pool, node, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self.pool.busy[self.node] -= 1


class NodePool:
    def __init__(self, cfg: NodesConfig) -> None:
        self.cfg = cfg
        self.busy = [0] * cfg.count

    def _randomly_offline(self, node: int, second: int) -> bool:
        # A hash rather than a shared RNG: the answer for (node, second) is the same whichever
        # request asks first, so a profile's outage pattern repeats run after run.
        digest = hashlib.blake2b(struct.pack("<qqq", self.cfg.seed, node, second),
                                 digest_size=8).digest()
        return struct.unpack("<Q", digest)[0] / 2**64 < self.cfg.random_offline_p

    def online(self, node: int, uptime_s: float) -> bool:
        for outage in self.cfg.outage:
            # The first `down` nodes are the ones that go offline.
            if outage.start_s <= uptime_s < outage.end_s and node < outage.down:
                return False
        if self.cfg.random_offline_p and self._randomly_offline(node, int(uptime_s)):
            return False
        return True

    def online_count(self, uptime_s: float) -> int:
        return sum(self.online(n, uptime_s) for n in range(self.cfg.count))

    def acquire(self, uptime_s: float) -> Slot | None:
        best = None
        for node in range(self.cfg.count):
            if self.busy[node] < self.cfg.slots and self.online(node, uptime_s):
                if best is None or self.busy[node] < self.busy[best]:
                    best = node
        if best is None:
            return None
        self.busy[best] += 1
        return Slot(self, best)
