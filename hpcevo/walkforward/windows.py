"""Walk-forward windows: T years of training (folds and selection period inside) followed by S years of test,
stepped by S and anchored at the data's end, so the last test period ends on the last date with a return.

Pure functions of the dates: `plan_windows` is what every launch mode and every resume computes the same.
"""

from dataclasses import dataclass

import numpy as np

from ..trading.calendar import _years_before
from ..trading.data import DataError

__all__ = ["Window", "plan_windows", "window_seed"]

_ONE_DAY = np.timedelta64(1, "D")
_SEED_KEY = 0x5746  # "WF": a window's seed stream, apart from the islands' and the statistics' streams


@dataclass(frozen=True)
class Window:
    """One window: the search trains from `train_start` and is tested on `test_start`..`test_end` (inclusive);
    no bar after `test_end` exists for it."""

    index: int  # 1, 2, ... in time order
    train_start: np.datetime64
    test_start: np.datetime64
    test_end: np.datetime64

    @property
    def name(self):
        return f"window-{self.index:02d}"

    def problem_options(self):
        """The trading options that make a run this window's search."""
        return {"train_start": str(self.train_start), "holdout_start": str(self.test_start),
                "end": str(self.test_end)}


def plan_windows(first_train, end, train_years, test_years, windows=0, source="the data"):
    """The windows over dates `first_train` (the first date a search may train on: the indicator warm-up is
    behind it) to `end` (the last date with a return). `windows` = 0: as many as fit; more than fit: DataError
    naming how many do."""
    first_train, end = np.datetime64(first_train, "D"), np.datetime64(end, "D")
    starts = []  # test starts, latest first
    while True:
        k = len(starts) + 1
        test_start = _years_before(end, test_years * k) + _ONE_DAY
        if _years_before(test_start, train_years) < first_train or (windows and k > windows):
            break
        starts.append(test_start)
    if not starts or windows > len(starts):
        fit = len(starts)
        raise DataError(
            f"{source}: from {first_train} (the first date after the indicator warm-up) to {end} there is room for "
            f"{fit} walk-forward window(s) of {train_years:g} training and {test_years:g} test years"
            f"{'' if not windows else f', not {windows}'}. Use more data, fewer windows (--windows), or shorter "
            f"periods (--train-years, --test-years).")
    starts.reverse()
    ends = [s - _ONE_DAY for s in starts[1:]] + [end]
    return [Window(i + 1, _years_before(s, train_years), s, e) for i, (s, e) in enumerate(zip(starts, ends))]


def window_seed(seed, index):
    """The search seed of window `index`: a function of the run seed and the window only."""
    state = np.random.SeedSequence(seed, spawn_key=(_SEED_KEY, index)).generate_state(1, dtype=np.uint32)
    return int(state[0] >> 1)
