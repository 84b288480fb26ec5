# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""_files.restore on its own: its words when it will not restore, the lock it waits for (named when it times
out), and a file another run restored while this one waited for the lock, which is then left alone."""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import json
import os
import threading
import time

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils import _files
from ansible_collections.genesis.model_ops.plugins.module_utils._files import ConfigError, restore

NEW = b'models:\n  rollout_percentage: 5\n'
OLD = b'models:\n  rollout_percentage: 100\n'


@pytest.fixture
def files(tmp_path):
    path, backup = tmp_path / 'production.yaml', tmp_path / 'production.yaml.bak'
    path.write_bytes(NEW)
    backup.write_bytes(OLD)
    return path, backup


def test_a_restore_by_default_writes(files):
    path, backup = files
    assert restore(str(path), str(backup))[:3] == (True, NEW, OLD)
    assert path.read_bytes() == OLD


def refuse(data):
    raise ValueError('not YAML: mapping values are not allowed here (line 2, column 4)')


def test_the_words_of_a_refused_restore(files, tmp_path):
    path, backup = files
    with pytest.raises(ConfigError) as err:
        restore(str(path), str(backup), parse=refuse)
    assert str(err.value) == ('the backup %s is not a valid file to restore: not YAML: mapping values are not allowed here '
                              '(line 2, column 4); nothing changed' % backup)
    with pytest.raises(ConfigError) as err:
        restore(str(path), str(tmp_path / 'gone.bak'))
    assert str(err.value) == 'cannot read the backup %s: No such file or directory; nothing changed' % (tmp_path / 'gone.bak')
    (tmp_path / 'a-folder').mkdir()
    with pytest.raises(ConfigError) as err:
        restore(str(tmp_path / 'a-folder'), str(backup))
    assert str(err.value) == 'cannot read %s: Is a directory; nothing changed' % (tmp_path / 'a-folder')
    assert path.read_bytes() == NEW


def hold(path):
    fd = os.open(str(path) + '.lock', os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_a_restore_waits_for_the_lock_and_names_it_when_it_times_out(files):
    path, backup = files
    fd = hold(path)
    try:
        with pytest.raises(ConfigError) as err:
            restore(str(path), str(backup), lock_timeout=0.3)
    finally:
        os.close(fd)
    assert str(err.value) == 'timed out after 0.3s waiting for the lock on %s: another run holds %s.lock' % (path, path)
    assert path.read_bytes() == NEW


def test_a_file_restored_by_another_run_while_this_one_waited_is_left_alone(files, tmp_path):
    path, backup = files
    audit = tmp_path / 'audit.log'
    fd = hold(path)
    outcome = {}
    waiting = threading.Thread(target=lambda: outcome.update(result=restore(str(path), str(backup), audit_log=str(audit))))
    try:
        waiting.start()
        time.sleep(0.3)  # it has read the file (NEW) and waits for the lock
        path.write_bytes(OLD)  # the other run, holding the lock, restores
    finally:
        os.close(fd)
    waiting.join(10)
    assert outcome['result'] == (False, OLD, OLD, None)
    assert not audit.exists()


@pytest.fixture
def far_from_utc(monkeypatch):
    """The host's local time 5 h 30 min from UTC: every time stamp written must still be UTC."""
    monkeypatch.setenv('TZ', 'Asia/Kolkata')
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_file_gone_is_restored_and_its_audit_line_says_there_was_none(files, tmp_path, far_from_utc):
    path, backup = files
    path.unlink()
    audit = tmp_path / 'audit.log'
    changed, old, new, line = restore(str(path), str(backup), audit_log=str(audit))
    assert (changed, old, new) == (True, None, OLD) and path.read_bytes() == OLD
    record = json.loads(audit.read_text(encoding='utf-8').splitlines()[-1])
    assert (record['before'], record['after']) == (None, 'sha256:' + hashlib.sha256(OLD).hexdigest()[:16])
    assert record == line
    stamp = datetime.datetime.strptime(record['at'], '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()) < 60


def test_a_backup_is_named_by_utc_time(tmp_path, far_from_utc):
    target = tmp_path / 'production.yaml'
    target.write_bytes(NEW)
    name = _files._backup(str(target), NEW, os.stat(target))  # pylint: disable=protected-access
    stamp = datetime.datetime.strptime(name.rsplit('.', 2)[1], '%Y%m%dT%H%M%S%fZ').replace(tzinfo=datetime.timezone.utc)
    assert abs((datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()) < 60
