# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A pid file naming a process that is not the service (same working folder, same command line started later,
or the service's command line elsewhere): the restart signals none of them, and starts the service."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ansible_collections.genesis.model_ops.plugins.module_utils import _service as svc

TRIALS = 60
SERVICE = '''import os, sys, time
if os.environ.get("LOOKALIKE"):
    time.sleep(60)
os.makedirs("run", exist_ok=True)
with open("run/genesis-orchestrator.pid", "w") as fh:
    fh.write("%d\\n" % os.getpid())
while True:
    time.sleep(0.2)
'''
COMMAND = [sys.executable, 'genesis_orchestrator.py']


def lookalike(kind, app, elsewhere, pid_file):
    """A process that is not the service, and the pid file naming it (written as the kind says)."""
    if kind == 'operator shell in the app root':
        proc = subprocess.Popen(['sleep', '60'], cwd=app)
    elif kind == 'service command line elsewhere':
        proc = subprocess.Popen(COMMAND, cwd=elsewhere, env=dict(os.environ, LOOKALIKE='1'))
    else:  # the pid file was written long before this process started: its pid was reused
        proc = subprocess.Popen(COMMAND, cwd=app, env=dict(os.environ, LOOKALIKE='1'))
    with open(pid_file, 'w', encoding='utf-8') as handle:
        handle.write('%d\n' % proc.pid)
    if kind == 'reused pid, same command line and folder':
        os.utime(pid_file, (time.time() - 60, time.time() - 60))
    return proc


def test_a_process_that_is_not_the_service_is_never_signalled(tmp_path, tally):
    app, elsewhere = tmp_path / 'opt' / 'genesis', tmp_path / 'home'
    for folder in (app / 'run', elsewhere):
        folder.mkdir(parents=True)
    for folder in (app, elsewhere):
        (folder / 'genesis_orchestrator.py').write_text(SERVICE, encoding='utf-8')
    (app / 'infrastructure' / 'config').mkdir(parents=True)
    (app / 'infrastructure' / 'config' / 'production.yaml').write_text('models: {use_finetuned: true}\n', encoding='utf-8')
    env_file = tmp_path / 'genesis.env'
    env_file.write_text('MISTRAL_API_KEY=k\n', encoding='utf-8')
    pid_file = str(app / 'run' / 'genesis-orchestrator.pid')
    params = {'state': 'restarted', 'manager': 'process', 'name': 'genesis-orchestrator', 'app_root': str(app),
              'pid_file': None, 'env_file': str(env_file), 'command': COMMAND, 'stop_timeout': 5.0, 'start_timeout': 30.0}
    kinds = ['operator shell in the app root', 'service command line elsewhere', 'reused pid, same command line and folder']
    counts = dict(would_signal=0, signalled=0, service_not_started=0)
    real = 0
    for trial in range(TRIALS):
        proc = lookalike(kinds[trial % 3], str(app), str(elsewhere), pid_file)
        try:
            # every trial asks what a restart would do; one in ten restarts for real
            counts['would_signal'] += svc.manage(params, check_mode=True)['old_pid'] is not None
            if trial % 10 == 9:
                real += 1
                result = svc.manage(params, check_mode=False)
                counts['signalled'] += proc.poll() is not None or result['stopped'] is not None
                counts['service_not_started'] += not svc.is_service(result['pid'], str(app), COMMAND, pid_file)
                os.kill(result['pid'], 9)
        finally:
            proc.kill()
            proc.wait()
    tally.record('pid file naming a process that is not the service', TRIALS, sum(counts.values()),
                 real_restarts=real, **counts)
    assert counts == dict(would_signal=0, signalled=0, service_not_started=0)
