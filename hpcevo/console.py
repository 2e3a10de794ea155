"""Text for a reader who may leave early: `python -m hpcevo problems | head` is not a failure."""

import os
import sys

__all__ = ["say"]


def say(text, file=None):
    """print(text, file=file, flush=True) (file: sys.stdout by default). When the reader has gone (a closed pipe),
    the stream's later writes go to /dev/null instead of raising BrokenPipeError, then or at exit."""
    file = sys.stdout if file is None else file
    try:
        print(text, file=file, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), file.fileno())
