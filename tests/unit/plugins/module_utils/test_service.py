# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Process-mode start and restart with real processes: a tiny service that keeps the contract's
pid file, started, stopped and restarted for real. systemd is not on this machine: its commands
are checked with a stubbed runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from ansible_collections.genesis.model_ops.plugins.module_utils import _service as svc

KEY = 'Zq3xK9mP2vL8nR4tW6yB1cD5fH7jA0sE'

SERVICE = textwrap.dedent('''\
    import os, signal, sys, time
    if os.environ.get("MISTRAL_API_KEY") != %(key)r:
        sys.exit("no key")
    if os.path.exists("fail"):
        print("cannot start: configuration check failed, key " + os.environ["MISTRAL_API_KEY"], file=sys.stderr, flush=True)
        sys.exit(3)
    if os.path.exists("stubborn"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.makedirs("run", exist_ok=True)
    with open("run/genesis-orchestrator.pid", "w") as fh:
        fh.write("%%d\\n" %% os.getpid())
    while True:
        time.sleep(0.2)
''') % {'key': KEY}


@pytest.fixture
def root(tmp_path):
    app = tmp_path / 'opt' / 'genesis'
    app.mkdir(parents=True)
    (app / 'genesis_orchestrator.py').write_text(SERVICE, encoding='utf-8')
    env = tmp_path / 'genesis.env'
    env.write_text('# the service key\nMISTRAL_API_KEY="%s"\n' % KEY, encoding='utf-8')
    os.chmod(env, 0o600)
    yield app
    pid = svc.read_pid(str(app / 'run' / 'genesis-orchestrator.pid'))
    if pid and svc.alive(pid):
        os.kill(pid, signal.SIGKILL)


def params(app, **overrides):
    return dict({'state': 'restarted', 'manager': 'process', 'name': 'genesis-orchestrator', 'app_root': str(app),
                 'pid_file': None, 'env_file': str(app.parent.parent / 'genesis.env'),
                 'command': [sys.executable, 'genesis_orchestrator.py'], 'stop_timeout': 5.0, 'start_timeout': 10.0},
                **overrides)


def test_env_file_values_quotes_comments_and_export(tmp_path):
    path = tmp_path / 'env'
    path.write_text('# c\nMISTRAL_API_KEY="a b"\nexport OTHER=\'x\'\nPLAIN=v=w\n\nnot a line\n', encoding='utf-8')
    assert svc.read_env_file(str(path)) == {'MISTRAL_API_KEY': 'a b', 'OTHER': 'x', 'PLAIN': 'v=w'}


def test_start_when_down_then_restart_gets_a_new_pid(root):
    result = svc.manage(params(root, state='started'), check_mode=False)
    first = result['pid']
    assert result['changed'] and result['old_pid'] is None and svc.is_service(first, str(root))
    # started again: already running, nothing to do
    again = svc.manage(params(root, state='started'), check_mode=False)
    assert (again['changed'], again['pid']) == (False, first)
    restarted = svc.manage(params(root), check_mode=False)
    assert restarted['changed'] and restarted['old_pid'] == first and restarted['stopped'] == 'term'
    assert restarted['pid'] != first and not svc.alive(first) and svc.is_service(restarted['pid'], str(root))
    assert KEY not in repr(restarted)


def test_check_mode_signals_and_starts_nothing(root):
    pid = svc.manage(params(root, state='started'), check_mode=False)['pid']
    result = svc.manage(params(root), check_mode=True)
    assert (result['changed'], result['old_pid'], result['pid'], result['stopped']) == (True, pid, None, None)
    assert svc.read_pid(str(root / 'run' / 'genesis-orchestrator.pid')) == pid and svc.alive(pid)


def test_a_service_that_ignores_sigterm_is_killed(root):
    (root / 'stubborn').write_text('', encoding='utf-8')
    pid = svc.manage(params(root, state='started'), check_mode=False)['pid']
    time.sleep(0.3)  # let it install its handler
    result = svc.manage(params(root, stop_timeout=0.5), check_mode=False)
    assert result['stopped'] == 'kill' and not svc.alive(pid)


def test_a_reused_pid_is_never_signalled(root, tmp_path):
    # the pid file names a live process that is not this app root's service (another cwd)
    other = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'], cwd=str(tmp_path))
    try:
        (root / 'run').mkdir()
        (root / 'run' / 'genesis-orchestrator.pid').write_text('%d\n' % other.pid, encoding='utf-8')
        result = svc.manage(params(root), check_mode=False)
        assert result['stale_pid_file'] is True and result['old_pid'] is None and result['stopped'] is None
        assert other.poll() is None  # untouched
        assert svc.is_service(result['pid'], str(root))
    finally:
        other.kill()
        other.wait()


def test_a_failed_start_says_why_without_the_key(root):
    (root / 'fail').write_text('', encoding='utf-8')
    with pytest.raises(svc.ServiceError) as err:
        svc.manage(params(root, state='started'), check_mode=False)
    message = str(err.value)
    assert 'exited with 3' in message and 'configuration check failed' in message
    assert KEY not in message and KEY[:10] not in message


def test_a_missing_env_file_or_app_root_is_named(root, tmp_path):
    with pytest.raises(svc.ServiceError, match='cannot read the env file .*nope'):
        svc.manage(params(root, env_file=str(tmp_path / 'nope')), check_mode=False)
    with pytest.raises(svc.ServiceError, match='app_root .*missing is not a directory'):
        svc.manage(params(root, app_root=str(tmp_path / 'missing')), check_mode=False)


class Systemctl:
    """A stand-in for `systemctl` (no systemd here): records the calls, answers MainPID."""

    def __init__(self, pids):
        self.calls, self.pids = [], list(pids)

    def __call__(self, argv, **_kwargs):
        self.calls.append(argv[1])
        out = str(self.pids.pop(0)) + '\n' if argv[1] == 'show' else ''
        return subprocess.CompletedProcess(argv, 0, out, '')


def test_systemd_restart_and_started(monkeypatch, root):
    fake = Systemctl([100, 200])
    monkeypatch.setattr(svc.subprocess, 'run', fake)
    result = svc.manage(params(root, manager='systemd'), check_mode=False)
    assert (result['old_pid'], result['pid'], result['changed']) == (100, 200, True)
    assert fake.calls == ['show', 'restart', 'show']
    fake = Systemctl([200])
    monkeypatch.setattr(svc.subprocess, 'run', fake)
    result = svc.manage(params(root, manager='systemd', state='started'), check_mode=False)
    assert (result['changed'], result['pid']) == (False, 200) and fake.calls == ['show']
