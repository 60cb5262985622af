"""The cyclic garbage collector paused while a process starts.

Importing Bamboe and its libraries allocates some 200,000 objects that live as long as the process
(modules, classes, mappers, compiled statements); while they pile up, the collector scans them over
and over (a fifth of ``bamboe run``'s start-up CPU, a sixth of a ``bamboe simulate``). So the
command line turns it off first (:func:`pause`), and once the start is done :func:`resume` moves
everything allocated so far to the permanent generation, where no collection scans it again, and
turns collection back on.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def pause() -> None:
    """No cyclic garbage collection until :func:`resume`."""
    gc.disable()


def resume() -> None:
    """Freeze what the start built and turn the collector back on (if :func:`pause` turned it off)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


@contextmanager
def paused() -> Iterator[None]:
    """:func:`pause` for the block (e.g. a command's imports), :func:`resume` after it."""
    pause()
    try:
        yield
    finally:
        resume()
