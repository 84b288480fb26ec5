# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""make mutation mutates each file of tests/mutation/run.py against the unit tests listed for it: a file or a test
file that is renamed or removed must fail here, not an hour into `make mutation`."""

from __future__ import annotations

import importlib.util
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def load_runner():
    spec = importlib.util.spec_from_file_location('mutation_run', os.path.join(ROOT, 'tests', 'mutation', 'run.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_mutated_file_and_its_tests_exist():
    files = load_runner().FILES
    missing = [path for path, tests in files.items() for path in [path] + tests if not os.path.isfile(os.path.join(ROOT, path))]
    assert missing == []


def test_the_code_that_decides_and_changes_things_is_mutated():
    """The issue's list: the YAML editor, the file primitives, the verdict, the health gate, service control, the lock,
    masking (_common.mask_secrets)."""
    assert set(load_runner().FILES) >= {
        'plugins/module_utils/_yamledit.py', 'plugins/module_utils/_config.py', 'plugins/module_utils/_files.py',
        'plugins/plugin_utils/_verdict_scenarios.py', 'plugins/plugin_utils/_verdict_report.py',
        'plugins/module_utils/_health.py', 'plugins/module_utils/_service.py', 'plugins/module_utils/_runlock.py',
        'plugins/module_utils/_common.py'}
