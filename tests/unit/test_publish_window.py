"""The window of publishes in flight: a publish waits for room; a nucleus that never answers does not stop the component."""

from __future__ import annotations

import logging
import threading

from ml_feedback.ipc_publish import PublishWindow


def test_a_publish_beyond_the_window_waits_until_an_answer_frees_room():
    window = PublishWindow(size=2, patience=30)
    window.open()
    window.open()
    opened = threading.Event()
    third = threading.Thread(target=lambda: (window.open(), opened.set()))
    third.start()
    assert not opened.wait(0.2), "a third publish went out with two unanswered"
    window.done()
    assert opened.wait(5)
    third.join(5)
    assert window.in_flight == 2


def test_a_nucleus_that_never_answers_gets_one_more_publish_after_the_patience_with_a_warning(caplog):
    window = PublishWindow(size=1, patience=0.05)
    window.open()
    with caplog.at_level(logging.WARNING, logger="ml_feedback.ipc"):
        window.open()
    assert window.in_flight == 2
    assert caplog.messages == ["the nucleus has not answered 1 publishes for 0 s; sending one more"]
