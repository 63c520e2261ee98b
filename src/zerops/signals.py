"""Ctrl-C and SIGTERM held back while native worker threads run (scipy's k-NN queries with ``workers``):
a KeyboardInterrupt raised while such threads still use the arrays would let them run on into freed memory
(a segmentation fault instead of zerops's one line). The signal is recorded and acted on when the block ends."""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

_SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Run the block with SIGINT / SIGTERM recorded instead of handled; the first one recorded is handled (by
    the handler that was installed) when the block ends. Outside the main thread: no change."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []
    previous = {s: signal.getsignal(s) for s in _SIGNALS}

    def record(signum: int, frame: Any) -> None:
        caught.append((signum, frame))

    for s in _SIGNALS:
        signal.signal(s, record)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught:
        signum, frame = caught[0]
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL and signum == getattr(signal, "SIGINT", None):
            raise KeyboardInterrupt
        elif handler == signal.SIG_DFL:
            signal.raise_signal(signum)
