"""hpcevo: island-model evolutionary search with DEAP over MPI ranks."""

__version__ = "0.1.0"
__all__ = ["__version__"]
