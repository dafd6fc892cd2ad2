"""Batches at or over `offload_batch_users` are scored in a worker thread: same answers as the inline path."""

from __future__ import annotations

import threading

from support.service import client_of, settings_for

from serving import routes
from serving.app import create_app

WORKER = "AnyIO worker thread"


def test_offloaded_batches_answer_like_inline_ones(registry, monkeypatch):
    threads: list[str] = []
    score = routes._recommend

    def recording(*args, **kwargs):  # the real scorer, noting which thread ran it
        threads.append(threading.current_thread().name)
        return score(*args, **kwargs)

    monkeypatch.setattr(routes, "_recommend", recording)
    body = {"user_ids": ["u1", "u2", "stranger"], "k": 4, "model": "sasrec"}
    answers = []
    for threshold in (1000, 2):
        with client_of(create_app(settings_for(registry, offload_batch_users=threshold))) as client:
            r = client.post("/recommendations", json=body)
            assert r.status_code == 200
            answers.append(r.json())
    assert answers[0] == answers[1]
    assert threads[0] != WORKER and threads[1] == WORKER  # inline on the event loop, then in a worker thread
