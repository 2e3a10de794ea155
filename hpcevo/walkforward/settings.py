"""The `[walkforward]` table (and the `walkforward` command's flags): how the windows are cut and run."""

from dataclasses import dataclass

from ..errors import ConfigError
from ..registry import suggestion

__all__ = ["WalkForward", "walkforward_settings", "DEFAULTS"]


@dataclass(frozen=True)
class WalkForward:
    train_years: float = 8.0  # training of each window: its folds, then its selection period
    test_years: float = 2.0  # the test period that follows; windows step by it
    windows: int = 0  # 0: as many as the data hold, the last test period ending at the data's end
    top: int = 1  # strategies traded per test period: the top `top` of the selection ranking, equal weight
    parallel: int = 0  # windows run side by side under MPI; 0: as many as the rank groups allow


DEFAULTS = WalkForward()
_KINDS = {"train_years": (int, float), "test_years": (int, float), "windows": (int,), "top": (int,),
          "parallel": (int,)}


def walkforward_settings(table, where="config"):
    """The validated WalkForward of a `[walkforward]` table; ConfigError naming the key and how to fix it."""
    for key, value in table.items():
        if key not in _KINDS:
            raise ConfigError(f"{where}: walkforward.{key} is not a walk-forward setting.{suggestion(key, _KINDS)} "
                              f"Known: {', '.join(_KINDS)}.")
        if isinstance(value, bool) or not isinstance(value, _KINDS[key]):
            kind = "a number" if float in _KINDS[key] else "an integer"
            raise ConfigError(f"{where}: walkforward.{key} must be {kind}, got {value!r}.")
    settings = WalkForward(**{k: float(v) if float in _KINDS[k] else v for k, v in table.items()})
    for key in ("train_years", "test_years"):
        value = getattr(settings, key)
        if not value > 0 or round(value * 12) < 1:
            raise ConfigError(f"{where}: walkforward.{key} must be at least one month (1/12), got {value:g}.")
    for key, low in (("windows", 0), ("top", 1), ("parallel", 0)):
        if getattr(settings, key) < low:
            raise ConfigError(f"{where}: walkforward.{key} must be {low} or more, got {getattr(settings, key)}.")
    return settings
