# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kill -9 at chosen points of an edit of production.yaml: the file is whole, holds the last edit that was
renamed in place, and a later edit removes what a killed one left.

The editing process reports each rename (of the backup, then of the file) before and after it, and waits
there for a go: a kill can land exactly between writing a temporary file and renaming it, or just after the
rename. One kill in four lets it run on and lands wherever it has got to. Counts, not timings, are checked.
"""

from __future__ import annotations

import os
import random
import signal

import yaml

from ansible_collections.genesis.model_ops.plugins.module_utils._config import edit_config

KILLS = int(os.environ.get('FAULTS_KILLS', 200))
ROLLOUT = ['models', 'rollout_percentage']
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'unit', 'plugins', 'module_utils', 'fixtures',
                       'production.yaml')


def editor(path, events, go):
    """Fork a process that edits path again and again (6, 5, 6 ...), reporting b'r'/b'd' around the backup's
    rename, b'R'/b'D' around the file's, b'L' when an edit returned, each time waiting for a byte on go."""
    pid = os.fork()
    if pid:
        return pid
    try:
        real_replace = os.replace

        def report(event):
            os.write(events, event)
            os.read(go, 1)

        def replace(source, target):
            backup = target.endswith('.bak')
            report(b'r' if backup else b'R')
            real_replace(source, target)
            report(b'd' if backup else b'D')
        os.replace = replace
        value = 6
        while True:
            edit_config(path, ROLLOUT, value, backup=True)
            report(b'L')
            value = 11 - value
    finally:
        os._exit(1)


def test_kill_9_at_every_point_of_an_edit(shm_tmp, tally):
    path = os.path.join(shm_tmp, 'production.yaml')
    with open(FIXTURE, encoding='utf-8') as handle:
        text = handle.read().replace('rollout_percentage: 100', 'rollout_percentage: 5')
    versions = {value: text.replace('rollout_percentage: 5', 'rollout_percentage: %d' % value).encode() for value in (5, 6)}
    with open(path, 'wb') as handle:
        handle.write(versions[5])
    rng = random.Random(2026)
    counts = dict(partial=0, lost=0, stray_left_after_next_edit=0, bad_backup=0)
    at = {}
    strays_seen = 0
    for _kill in range(KILLS):
        with open(path, 'rb') as handle:
            current = 5 if handle.read() == versions[5] else 6
        in_flight = 11 - current
        events_read, events_write = os.pipe()
        go_read, go_write = os.pipe()
        pid = editor(path, events_write, go_read)
        os.close(events_write)
        os.close(go_read)
        steps, free = rng.randrange(1, 12), rng.random() < 0.25
        for step in range(steps):
            event = os.read(events_read, 1)
            if event == b'D':
                current = in_flight
            elif event == b'L':
                in_flight = 11 - current
            if step == steps - 1:
                if free:
                    os.write(go_write, b'g' * 64)  # let it run on for a moment
                    event = b'free'
                at[event.decode()] = at.get(event.decode(), 0) + 1
                os.kill(pid, signal.SIGKILL)
            else:
                os.write(go_write, b'g')
        os.waitpid(pid, 0)
        for fd in (events_read, go_write):
            os.close(fd)
        try:
            with open(path, 'rb') as handle:
                data = handle.read()
        except FileNotFoundError:
            counts['lost'] += 1
            data = versions[current]
        allowed = {versions[current], versions[in_flight]} if free else {versions[current]}
        if data not in versions.values():
            counts['partial'] += 1
        elif data not in allowed:
            counts['lost'] += 1
        yaml.safe_load(data)
        names = os.listdir(shm_tmp)
        strays_seen += len([name for name in names if name.endswith('.tmp')])
        for name in names:
            if name.endswith('.bak'):
                with open(os.path.join(shm_tmp, name), 'rb') as handle:
                    counts['bad_backup'] += handle.read() not in versions.values()
                os.unlink(os.path.join(shm_tmp, name))
        edit_config(path, ROLLOUT, 5 if data == versions[6] else 6)  # the next run on the file
        counts['stray_left_after_next_edit'] += len([name for name in os.listdir(shm_tmp) if name.endswith('.tmp')])
    tally.record('kill -9 during an edit (backup and file renames, before and after, or anywhere)', KILLS,
                 sum(counts.values()), kills_at=', '.join('%s %d' % item for item in sorted(at.items())),
                 stray_temp_files_seen=strays_seen, **counts)
    assert counts == dict(partial=0, lost=0, stray_left_after_next_edit=0, bad_backup=0)
    # the kills landed between a write and its rename (a stray temporary file each), not only elsewhere
    assert at.get('R', 0) and at.get('r', 0) and strays_seen >= at['R'] + at['r']
