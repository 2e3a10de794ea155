"""Stopping a run early and cleanly: signals (SIGTERM, SIGUSR1, SIGINT) and a wall-time budget.

A signal on any rank only sets a flag (and tells rank 0 through the backend's stop channel); the engine
checks at the end of every epoch, so all ranks stop together after the same epoch, write a checkpoint and
exit with EXIT_STOPPED.  Repeated signals are harmless; a second SIGINT (Ctrl-C twice) ends at once.
"""

import os
import re
import signal

__all__ = ["EXIT_STOPPED", "EXIT_INTERRUPTED", "EXIT_OUTPUT", "StopFlag", "parse_duration", "format_duration"]

EXIT_STOPPED = 75  # EX_TEMPFAIL: stopped early with a checkpoint; resume to continue
EXIT_INTERRUPTED = 130  # a second Ctrl-C: ended at once, no new checkpoint
EXIT_OUTPUT = 74  # EX_IOERR: the run folder could not be written (disk full, removed); the last checkpoint stands
SIGNALS = ("SIGTERM", "SIGUSR1", "SIGINT")


class StopFlag:
    """Records the first stop request of this process; `install` routes the signals to it."""

    def __init__(self, notify=None, interrupt_now=None, announce=False):
        self.reason = None
        self._notify = notify  # tells rank 0 (a no-op on rank 0 itself)
        self._interrupt_now = interrupt_now  # called on a second SIGINT; never returns
        self._announce = announce
        self._previous = {}

    def install(self):
        for name in SIGNALS:
            signum = getattr(signal, name)
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def attach(self, notify):
        """Route later requests to `notify` (and pass on one that came before it existed)."""
        self._notify = notify
        if self.reason is not None:
            notify(self.reason)

    def restore(self):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.reason is not None:
            if signum == signal.SIGINT and self._interrupt_now is not None:
                self._interrupt_now()
            return
        self.reason = name
        if self._announce:  # os.write, not print: a handler may run in the middle of another print
            hint = " (Ctrl-C again to stop at once, without a checkpoint)" if signum == signal.SIGINT else ""
            os.write(2, f"hpcevo: {name} received: finishing the current epoch, then writing a checkpoint"
                        f"{hint}.\n".encode())
        if self._notify is not None:
            self._notify(name)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text):
    """Seconds in '3600', '90s', '45m', '2h', '1d', 'HH:MM:SS', 'MM:SS' or SLURM's 'D-HH:MM:SS'; None if invalid."""
    text = str(text).strip().lower()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text)
    if match:
        return float(match.group(1)) * _UNITS[match.group(2) or "s"]
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?", text)
    if match and ":" in text or match and "-" in text:
        days, first, second, third = (int(g) if g is not None else None for g in match.groups())
        if third is not None:
            hours, minutes, seconds = first, second, third
        elif second is not None:
            hours, minutes, seconds = (first, second, 0) if days is not None else (0, first, second)
        else:
            hours, minutes, seconds = first, 0, 0
        return float((days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds)
    return None


def format_duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
