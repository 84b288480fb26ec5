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
    if os.environ.get("LOOKALIKE"):  # the same command line in the same folder, but not the service
        time.sleep(30)
    if os.environ.get("MISTRAL_API_KEY") != %(key)r:
        sys.exit("no key")
    if os.path.exists("fail"):
        print("cannot start: configuration check failed, key " + os.environ["MISTRAL_API_KEY"], file=sys.stderr, flush=True)
        sys.exit(3)
    if os.path.exists("stubborn"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.path.exists("silent"):  # fails without a word
        sys.exit(4)
    print("serving, pid", os.getpid(), flush=True)
    print("warming up", file=sys.stderr, flush=True)
    if os.path.exists("no_pid"):  # runs, never writes its pid file
        time.sleep(30)
        sys.exit(0)
    if os.path.exists("other_pid"):  # writes another process's pid into its pid file and exits
        os.makedirs("run", exist_ok=True)
        with open("run/genesis-orchestrator.pid", "w") as fh:
            fh.write(open("other_pid").read())
        sys.exit(0)
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
    (app / 'infrastructure' / 'config').mkdir(parents=True)
    (app / 'infrastructure' / 'config' / 'production.yaml').write_text(
        '# the runtime config\nmodels:\n  use_finetuned: true\n  rollout_percentage: 100\n', encoding='utf-8')
    env = tmp_path / 'genesis.env'
    env.write_text('# the service key\nMISTRAL_API_KEY="%s"\n' % KEY, encoding='utf-8')
    os.chmod(env, 0o600)
    yield app
    pid = svc.read_pid(str(app / 'run' / 'genesis-orchestrator.pid'))
    if pid and svc.alive(pid):
        os.kill(pid, signal.SIGKILL)


def serving(pid, app):
    return svc.is_service(pid, str(app), [sys.executable, 'genesis_orchestrator.py'], str(app / 'run' / 'genesis-orchestrator.pid'))


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
    assert result['changed'] and result['old_pid'] is None and serving(first, root)
    # started again: already running, nothing to do
    again = svc.manage(params(root, state='started'), check_mode=False)
    assert (again['changed'], again['pid']) == (False, first)
    restarted = svc.manage(params(root), check_mode=False)
    assert restarted['changed'] and restarted['old_pid'] == first and restarted['stopped'] == 'term'
    assert restarted['pid'] != first and not svc.alive(first) and serving(restarted['pid'], root)
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
        assert serving(result['pid'], root)
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize('argv, written_before', [
    # an operator's process working in the app root, its pid in the pid file
    (['sleep', '30'], False),
    # the service's very command line in the app root, started after the pid file was written (a reused pid)
    ([sys.executable, 'genesis_orchestrator.py'], True),
])
def test_a_process_in_the_app_root_that_is_not_the_service_is_never_signalled(root, argv, written_before):
    pid_file = root / 'run' / 'genesis-orchestrator.pid'
    pid_file.parent.mkdir()
    pid_file.write_text('1\n', encoding='utf-8')
    other = subprocess.Popen(argv, cwd=str(root), env=dict(os.environ, LOOKALIKE='1'))
    try:
        pid_file.write_text('%d\n' % other.pid, encoding='utf-8')
        if written_before:
            os.utime(pid_file, (time.time() - 30, time.time() - 30))
        assert not serving(other.pid, root)
        result = svc.manage(params(root), check_mode=False)
        assert result['stale_pid_file'] is True and result['old_pid'] is None and result['stopped'] is None
        assert other.poll() is None
        assert serving(result['pid'], root)
    finally:
        other.kill()
        other.wait()


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('change, message', [
    ({'env_file': '/nonexistent/genesis.env'}, 'cannot read the env file /nonexistent/genesis.env'),
    ({'command': ['no-such-python', 'genesis_orchestrator.py']}, 'cannot run no-such-python: not an executable file'),
    ({'command': ['./genesis_orchestrator.py']}, r'cannot run \./genesis_orchestrator.py: not an executable file'),
    ({'config_path': '/nonexistent/production.yaml'}, 'cannot read the config /nonexistent/production.yaml: No such file'),
    ({'config': b'models: {use_finetuned: true\n'}, r'the config \S+production.yaml is not valid YAML \(.*line 2\)'),
    ({'config': b'models:\n\tuse_finetuned: true\n'}, r'is not valid YAML \(found character .* line 2\)'),
    ({'config': b'models: fine-tuned\n'}, r'has no models: mapping \(host contract, section 3\): the service would not '
                                           r'start with it, so it was left running'),
    ({'config': b'- a list\n'}, 'has no models: mapping'),
])
def test_a_restart_bound_to_fail_leaves_the_running_service_alone(root, change, message, check_mode):
    pid = svc.manage(params(root, state='started'), check_mode=False)['pid']
    change = dict(change)  # the parameters are shared with the check-mode run
    if 'config' in change:  # a config broken by hand since the service started
        (root / 'infrastructure' / 'config' / 'production.yaml').write_bytes(change.pop('config'))
    with pytest.raises(svc.ServiceError, match=message):
        svc.manage(params(root, **change), check_mode=check_mode)
    assert serving(pid, root) and svc.read_pid(str(root / 'run' / 'genesis-orchestrator.pid')) == pid


def test_an_unreadable_env_file_stops_nothing(root):
    pid = svc.manage(params(root, state='started'), check_mode=False)['pid']
    env = root.parent.parent / 'genesis.env'
    env.write_bytes(b'MISTRAL_API_KEY=\xff\xfe\n')
    with pytest.raises(svc.ServiceError, match='cannot read the env file'):
        svc.manage(params(root), check_mode=False)
    assert serving(pid, root)


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


@pytest.fixture
def systemd(monkeypatch, tmp_path):
    """systemd as far as systemd_available() looks: its unit folder and a systemctl on PATH."""
    (tmp_path / 'units').mkdir()
    (tmp_path / 'bin').mkdir()
    (tmp_path / 'bin' / 'systemctl').write_text('#!/bin/sh\nexit 1\n', encoding='utf-8')
    (tmp_path / 'bin' / 'systemctl').chmod(0o755)
    monkeypatch.setattr(svc, 'UNIT_DIR', str(tmp_path / 'units'))
    monkeypatch.setenv('PATH', '%s:%s' % (tmp_path / 'bin', os.environ['PATH']))


def test_an_unknown_unit_is_named_and_nothing_is_restarted(monkeypatch, root, systemd):
    calls = []
    monkeypatch.setattr(svc.subprocess, 'run', lambda argv, **_kw: calls.append(argv[1]) or subprocess.CompletedProcess(
        argv, 1, '', 'No files found for genesis-orchestrator.service.'))
    with pytest.raises(svc.ServiceError, match='systemd does not know the unit genesis-orchestrator'):
        svc.manage(params(root, manager='systemd'), check_mode=False)
    assert calls == ['cat']


def test_systemd_restart_and_started(monkeypatch, root, systemd):
    fake = Systemctl([100, 200])
    monkeypatch.setattr(svc.subprocess, 'run', fake)
    result = svc.manage(params(root, manager='systemd'), check_mode=False)
    assert (result['old_pid'], result['pid'], result['changed']) == (100, 200, True)
    assert fake.calls == ['cat', 'show', 'restart', 'show']
    fake = Systemctl([200])
    monkeypatch.setattr(svc.subprocess, 'run', fake)
    result = svc.manage(params(root, manager='systemd', state='started'), check_mode=False)
    assert (result['changed'], result['pid']) == (False, 200) and fake.calls == ['cat', 'show']


def test_systemd_restarts_nothing_with_a_config_it_would_not_start_with(monkeypatch, root, systemd):
    (root / 'infrastructure' / 'config' / 'production.yaml').write_text('models: [\n', encoding='utf-8')
    fake = Systemctl([100])
    monkeypatch.setattr(svc.subprocess, 'run', fake)
    with pytest.raises(svc.ServiceError, match='is not valid YAML .*so it was left running'):
        svc.manage(params(root, manager='systemd'), check_mode=False)
    assert fake.calls == ['cat', 'show']  # no restart
