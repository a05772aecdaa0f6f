"""The analysis side's limiter arithmetic against brute force."""


import numpy as np
from hypothesis import given, strategies as st

from analysis.quota import sliding_counter_wait, window_starts


def admits(prev, cur, elapsed, window, limit):
    return prev * (window - elapsed) / window + cur < limit


@given(prev=st.integers(0, 30), cur=st.integers(0, 30), limit=st.integers(1, 20),
       elapsed=st.floats(0, 9.99))
def test_sliding_counter_wait_is_the_first_admitting_moment(prev, cur, elapsed, limit):
    window = 10.0
    if admits(prev, cur, elapsed, window, limit):
        return
    wait = float(sliding_counter_wait(prev, cur, elapsed, window, limit))

    def admits_after(d):
        t = elapsed + d
        if t < window:
            return admits(prev, cur, t, window, limit)
        return admits(cur, 0, t - window, window, limit) if t < 2 * window else True

    assert admits_after(wait + 1e-6)
    assert wait < 1e-3 or not admits_after(wait - 1e-3)


def test_window_starts_and_the_full_window_slack():
    # 3 per 1 s: admissions at 0, .1, .2, then one read 1 ms before the window ends.
    admitted = np.array([0.0, 0.1, 0.2, 0.999, 1.2, 2.5])
    assert list(window_starts(admitted, 3, 1.0)) == [0.0, 1.2, 2.5]
    # With slack, the full window cannot admit a fourth: 0.999 starts the next window.
    assert list(window_starts(admitted, 3, 1.0, slack=0.005)) == [0.0, 0.999, 2.5]
    assert len(window_starts(np.array([]), 3, 1.0)) == 0
