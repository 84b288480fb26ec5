# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault suite's tally: each test records how many trials it ran and how many went wrong; at the end
the figures go to tests/output/faults.json, and into docs/reliability.md when FAULTS_DOC names it (make faults)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BEGIN, END = '<!-- fault figures: written by make faults -->', '<!-- end of fault figures -->'
FIGURES = {}


class Tally:
    def record(self, fault, trials, bad, **detail):
        FIGURES[fault] = dict(trials=trials, bad=bad, **detail)


@pytest.fixture(scope='session')
def tally():
    return Tally()


@pytest.fixture
def shm_tmp():
    """A folder in memory (/dev/shm where there is one): thousands of fsyncs there cost nothing, and what is tried
    (locks, renames, kills) behaves as on a disk."""
    path = tempfile.mkdtemp(prefix='genesis-faults-', dir='/dev/shm' if os.path.isdir('/dev/shm') else None)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _timed(request):
    started = time.monotonic()
    yield
    for fault in [name for name, figures in FIGURES.items() if 'test' not in figures]:
        FIGURES[fault].update(test='%s::%s' % (os.path.relpath(str(request.path), ROOT), request.node.name),
                              seconds=round(time.monotonic() - started, 1))


def _table():
    lines = ['| fault | trials | went wrong | details | test | seconds |', '|---|---:|---:|---|---|---:|']
    for fault, figures in FIGURES.items():
        detail = ', '.join('%s %s' % (key.replace('_', ' '), value) for key, value in figures.items()
                           if key not in ('trials', 'bad', 'test', 'seconds'))
        lines.append('| %s | %d | %d | %s | `%s` | %s |' % (
            fault, figures['trials'], figures['bad'], detail, figures.get('test', ''), figures.get('seconds', '')))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    return '\n'.join(['Measured %s on %s, %d cores (`make faults`):' % (stamp, platform.machine(), os.cpu_count()), '']
                     + lines)


def pytest_sessionfinish(session, exitstatus):  # pylint: disable=unused-argument
    if not FIGURES:
        return
    out = os.path.join(ROOT, 'tests', 'output')
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, 'faults.json'), 'w', encoding='utf-8') as handle:
        json.dump(FIGURES, handle, indent=2, sort_keys=True)
    doc = os.environ.get('FAULTS_DOC')
    if doc and exitstatus == 0:
        with open(doc, encoding='utf-8') as handle:
            text = handle.read()
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        with open(doc, 'w', encoding='utf-8') as handle:
            handle.write(head + BEGIN + '\n' + _table() + '\n' + END + tail)


def pytest_terminal_summary(terminalreporter):
    """The counts in the run's output (CI's log), whatever the verbosity."""
    if FIGURES:
        terminalreporter.write_sep('-', 'fault counts')
        terminalreporter.write_line(_table())
