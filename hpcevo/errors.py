"""Exception types: user mistakes (exit 2, one paragraph, no traceback) versus run failures."""

__all__ = ["UserError", "ConfigError", "ProblemError", "WorldError", "EvaluationError", "OutputError", "Rejected"]


class UserError(Exception):
    """A mistake the user can fix (config, flags, problem factory): reported once, exit status 2."""

    exit_status = 2


class ConfigError(UserError):
    """A bad config file, key, value or command-line flag."""


class ProblemError(UserError):
    """A problem factory that cannot be imported, called or used."""


class WorldError(UserError):
    """The MPI world does not fit the config or the launcher (sizes, thread level, srun --mpi=none)."""


class EvaluationError(RuntimeError):
    """An evaluation raised while on_error = "raise": ends the whole job."""


class OutputError(RuntimeError):
    """The run folder could not be written (disk full, folder removed or not writable)."""


class Rejected(Exception):
    """Raise from `evaluate` to give an individual the penalty fitness on purpose (e.g. a strategy that
    trades too rarely): counted in the logbook's `rejected` column, never reported as an error."""
