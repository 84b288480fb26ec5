# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP GET: a total deadline, not one per read, against a server that trickles its answer.

No bound on wall-clock time (a loaded machine): the deadline is kept on an injected clock that moves
on by a second at each read, so a 10 s deadline ends the request after about ten reads; the trickled
answer needs one read per byte, more than that, each well within its own socket timeout.
"""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.module_utils._http import http_get
from ansible_collections.genesis.model_ops.tests.unit.helpers import TRICKLED_BODY as BODY, StepClock, trickle_server


def test_a_trickled_body_ends_at_the_deadline():
    assert len(BODY) > 20
    with trickle_server(delay=0.2) as url:
        answer = http_get(url + '/health', 10, clock=StepClock(1))
    assert answer['error'] == 'timeout' and answer['http_status'] == 200 and answer['body'] == b''


def test_a_trickled_status_line_ends_at_the_deadline():
    with trickle_server(delay=0.2, trickle_head=True) as url:
        answer = http_get(url + '/health', 10, clock=StepClock(1))
    assert answer['error'] == 'timeout' and answer['http_status'] is None


def test_an_answer_within_the_deadline_is_read_whole():
    with trickle_server(BODY, delay=0.02) as url:
        answer = http_get(url + '/health', 30)
    assert (answer['error'], answer['http_status'], answer['body']) == (None, 200, BODY)


def test_the_deadline_is_the_clock_s():
    # an injected clock that jumps past the deadline after the request went out: the next read stops at once
    with trickle_server(BODY, delay=0.2) as url:
        answer = http_get(url + '/health', 25, clock=StepClock(10))  # every look at the clock, 10 s later
    assert answer['error'] == 'timeout' and answer['body'] == b'', answer


def test_no_time_left_asks_nothing():
    answer = http_get('http://127.0.0.1:9/health', 0)
    assert answer['error'] == 'timeout' and answer['latency_ms'] == 0.0
