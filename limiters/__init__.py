"""Independent real limiters (not ours, not built on the `limits` library) started on free
loopback ports with generated configs, each with its ground truth in TRUTH.md and in its
`truth()`. A separate program from the harness: this package imports nothing of ours."""

from .express_rate_limit import ExpressRateLimit
from .haproxy import HAProxyConcurrency, HAProxyQueue, HAProxyRate
from .rate_limiter_flexible import RateLimiterFlexible
from .varnish import VarnishThrottle

__all__ = ["ExpressRateLimit", "HAProxyConcurrency", "HAProxyQueue", "HAProxyRate",
           "RateLimiterFlexible", "VarnishThrottle"]
