"""Showing a written page: opening a browser and serving a folder over local HTTP (``zerops view --open/--serve``)."""
from __future__ import annotations

import os
from typing import Any

from zerops.errors import ZeropsError


def has_display() -> bool:
    """Whether a browser window can be shown: always on macOS / Windows, else when $DISPLAY or
    $WAYLAND_DISPLAY is set."""
    import sys

    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def open_in_browser(url: str) -> bool:
    """Open ``url`` with :mod:`webbrowser`; False when no browser could be started."""
    import webbrowser

    try:
        return bool(webbrowser.open(url))
    except webbrowser.Error:
        return False


def _stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and SIGTERM stop the server, even when the parent started us with SIGINT ignored
    (background jobs of a non-interactive shell, some test runners)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, stop)


def serve_folder(folder: str | os.PathLike, port: int, open_browser: bool = False, page: str = "viewer.html") -> int:
    """Serve ``folder`` on http://127.0.0.1:PORT/ (port 0: any free port) until Ctrl-C; print the page's URL."""
    import functools
    import http.server

    if not 0 <= int(port) <= 65535:
        raise ZeropsError(f"--serve PORT must be between 0 and 65535, got {port}")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True        # Ctrl-C never waits for an open browser connection
        block_on_close = False

    handler = functools.partial(Handler, directory=str(folder))
    try:
        server = Server(("127.0.0.1", int(port)), handler)
    except OSError as exc:
        raise ZeropsError(f"cannot serve on 127.0.0.1:{port} ({exc.strerror or exc}); "
                          "choose another --serve PORT") from None
    _stop_on_signals()
    url = f"http://127.0.0.1:{server.server_address[1]}/{page}"
    try:
        print(f"serving {folder} at {url} (Ctrl-C to stop)", flush=True)
        if open_browser:
            if has_display():
                open_in_browser(url)
            else:
                print("no display found; open the address above in a browser", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped", flush=True)
    finally:
        server.server_close()
    return 0
