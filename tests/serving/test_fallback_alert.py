"""The service alerts a webhook when the share of fallback answers jumps (real uvicorn, a real local receiver)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.service import client_of, settings_for

from recsys.registry import Registry
from serving.app import create_app


def test_a_wave_of_fallback_answers_reaches_the_webhook(registry: Registry) -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    settings = settings_for(registry, alert_webhook=f"http://127.0.0.1:{hook.server_address[1]}/hook",
                            alert_interval_s=1.0)
    try:
        with client_of(create_app(settings)) as client:
            deadline, n = time.monotonic() + 20, 0
            while not received and time.monotonic() < deadline:  # keep the wave going until an interval judges it
                for _ in range(20):  # users no model knows: every answer is the popularity fallback
                    n += 1
                    assert client.get(f"/users/stranger-{n}/recommendations", params={"k": 3}).json()["fallback"]
                time.sleep(0.05)
    finally:
        hook.shutdown()
        hook.server_close()
    assert received, "no alert reached the webhook"
    alert = received[0]
    assert alert["recsys"]["kind"] == "fallback_rate_jump" and alert["recsys"]["rate"] == 1.0
    assert alert["text"].startswith("[recsys] fallback rate jumped to 100.0%")
