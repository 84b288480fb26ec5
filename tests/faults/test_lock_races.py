# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs racing for one host's lock, free or with an expired lease: one holder, always.

The trials run in a small process of their own (this file as a script): forking it costs a fraction of
forking pytest, so 1,000 trials of up to 8 racers take a minute, not four.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

COLLECTIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '.collections')
TRIALS = int(os.environ.get('FAULTS_LOCK_TRIALS', 1000))


def at_once(count, work):
    """count forked processes run work(number) at the same moment (released together through a pipe); each
    may write a line of text to the shared output. Returns (their exit codes, the lines): 1 for one that raised."""
    gate_read, gate_write = os.pipe()
    out_read, out_write = os.pipe()
    children = []
    for number in range(count):
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.close(gate_write)
                os.read(gate_read, 1)
                line = work(number)
                if line:
                    os.write(out_write, line.encode() + b'\n')
                code = 0
            finally:
                os._exit(code)
        children.append(pid)
    os.close(gate_read)
    os.close(out_write)
    os.write(gate_write, b'x' * count)
    os.close(gate_write)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    with os.fdopen(out_read, 'rb') as out:
        return codes, out.read().decode().split()


def race(path, racers):
    """racers processes call try_acquire at once; returns the run ids that were told they hold the lock."""
    from ansible_collections.genesis.model_ops.plugins.module_utils._runlock import (  # pylint: disable=import-outside-toplevel
        LockHeld, try_acquire)

    def take(number):
        try:
            try_acquire(path, 'run-%d' % number, 'racer', 60)
            return 'run-%d' % number
        except LockHeld:
            return None
    codes, winners = at_once(racers, take)
    if codes != [0] * racers:
        raise SystemExit('a racer failed otherwise than by finding the lock held: exit codes %s' % codes)
    return winners


def trials(path, count):
    """count trials, 2 to 8 racers in turn, on a free lock and on one with an expired lease in turn: the counts."""
    counts = dict(double_holders=0, no_holder=0, holder_not_in_file=0)
    for trial in range(count):
        if trial % 2:
            with open(path, 'w', encoding='utf-8') as handle:
                json.dump({'run_id': 'dead', 'owner': 'x', 'at': 1, 'expires': time.time() - 1}, handle)
        elif os.path.exists(path):
            os.unlink(path)
        winners = race(path, 2 + trial % 7)
        with open(path, encoding='utf-8') as handle:
            holder = json.load(handle)['run_id']
        counts['double_holders'] += len(winners) > 1
        counts['no_holder'] += not winners
        counts['holder_not_in_file'] += len(winners) == 1 and winners[0] != holder
    return counts


def test_racing_runs_end_with_one_holder(shm_tmp, tally):
    proc = subprocess.run([sys.executable, __file__, os.path.join(shm_tmp, 'model_ops.lock'), str(TRIALS)],
                          env=dict(os.environ, PYTHONPATH=os.path.abspath(COLLECTIONS)), capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    counts = json.loads(proc.stdout)
    tally.record('lock races (2-8 processes, free and expired lease)', TRIALS, sum(counts.values()), **counts)
    assert counts == dict(double_holders=0, no_holder=0, holder_not_in_file=0)


if __name__ == '__main__':
    print(json.dumps(trials(sys.argv[1], int(sys.argv[2]))))
