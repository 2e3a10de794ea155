"""A module that fails when imported, for the bad-input corpus (a factory whose module has a bug)."""

raise ImportError("cannot import name 'Toolbox' from 'deap.bases' (a typo in the user's module)")
