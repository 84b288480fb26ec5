# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP GET: a total deadline, not one per read, against a server that trickles its answer.

The bounds on elapsed time are loose on purpose (a loaded machine): a trickled answer takes 13 s
or more in full, so ending under 5 s shows the deadline, however slow the machine.
"""

from __future__ import annotations

import time

from ansible_collections.genesis.model_ops.plugins.module_utils._http import http_get
from ansible_collections.genesis.model_ops.tests.unit.helpers import TRICKLED_BODY as BODY, trickle_server


def test_a_trickled_body_ends_at_the_deadline():
    with trickle_server() as url:
        start = time.monotonic()
        answer = http_get(url + '/health', 1)
        elapsed = time.monotonic() - start
    assert answer['error'] == 'timeout' and answer['http_status'] == 200 and answer['body'] == b''
    assert elapsed < 5, elapsed


def test_a_trickled_status_line_ends_at_the_deadline():
    with trickle_server(trickle_head=True) as url:
        start = time.monotonic()
        answer = http_get(url + '/health', 1)
        elapsed = time.monotonic() - start
    assert answer['error'] == 'timeout' and answer['http_status'] is None
    assert elapsed < 5, elapsed


def test_an_answer_within_the_deadline_is_read_whole():
    with trickle_server(BODY, delay=0.02) as url:
        answer = http_get(url + '/health', 30)
    assert (answer['error'], answer['http_status'], answer['body']) == (None, 200, BODY)


def test_the_deadline_is_the_clock_s():
    # an injected clock that jumps past the deadline after the request went out: the next read stops at once
    now = [1000.0]

    def clock():
        now[0] += 10  # every look at the clock, 10 s later
        return now[0]
    with trickle_server(BODY, delay=0.05) as url:
        start = time.monotonic()
        answer = http_get(url + '/health', 25, clock=clock)
        elapsed = time.monotonic() - start
    assert answer['error'] == 'timeout' and elapsed < 5, (answer, elapsed)


def test_no_time_left_asks_nothing():
    answer = http_get('http://127.0.0.1:9/health', 0)
    assert answer['error'] == 'timeout' and answer['latency_ms'] == 0.0
