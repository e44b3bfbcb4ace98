"""Serving the console on waitress: a production WSGI server (pure Python, threads, no C build,
on Linux and Windows alike), not Flask's development server."""
from __future__ import annotations

import threading
from typing import Any

from waitress.server import create_server

from sentiment.config import Settings
from sentiment.web.app import create_app


THREADS = 6


def make_server(settings: Settings, host: str, port: int, *, threads: int = THREADS,
                trusted_proxy: str | None = None) -> Any:
    """A waitress server over the console, bound but not yet serving (`.run()`; `.close()`)."""
    app = create_app(settings)
    options: dict[str, Any] = {"host": host, "port": port, "threads": threads, "ident": "sentiment",
                               "clear_untrusted_proxy_headers": True}
    if trusted_proxy:
        # behind a reverse proxy that terminates HTTPS: take the client address and scheme from it
        options.update(trusted_proxy=trusted_proxy, trusted_proxy_count=1,
                       trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})
    return create_server(app, **options)


def run_until(server: Any, stop: threading.Event, slice_seconds: float = 0.5) -> None:
    """Serve until `stop` is set, then close: the loop runs in slices and checks the event between
    them (waitress stops cleanly only from its own loop; a KeyboardInterrupt raised anywhere inside
    it could leave a lock held and hang the close)."""
    try:
        while not stop.is_set():
            server.asyncore.loop(timeout=slice_seconds, map=server._map, count=1)
    finally:
        server.close()


class Background:
    """The console served from a thread of this process until `stop()`: browser tests and the
    screenshot script. waitress stops cleanly only from its own thread, so the loop runs in short
    slices and closes the server itself when asked to stop."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 0, *, threads: int = 4) -> None:
        self.server = make_server(settings, host, port, threads=threads)
        self.url = f"http://{host}:{self.server.effective_port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sentiment-web", daemon=True)

    def _run(self) -> None:
        run_until(self.server, self._stop, slice_seconds=0.05)

    def start(self) -> "Background":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
