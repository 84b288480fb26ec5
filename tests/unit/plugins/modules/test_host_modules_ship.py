# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A module that runs on a Genesis host ships no code that only the controller may run."""

from __future__ import annotations

import importlib.util
import os

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
# The modules that run on the controller (delegate_to: localhost), where mistralai is installed.
CONTROLLER_MODULES = ('mistral_check', 'prometheus_query')
CONTROLLER_UTILS = ('_mistral',)


def _shipped():
    """bench/module_utils_shipped.py, which follows a module's imports as Ansible packs them."""
    spec = importlib.util.spec_from_file_location('module_utils_shipped', os.path.join(ROOT, 'bench', 'module_utils_shipped.py'))
    if spec is None or not os.path.exists(spec.origin):
        pytest.skip('bench/ is not in the built collection', allow_module_level=True)
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


SHIPPED = _shipped()
HOST_MODULES = [name for name in SHIPPED.listing(SHIPPED.MODULES) if name not in CONTROLLER_MODULES]


def test_the_host_modules_are_known():
    assert {'api_key', 'host_evidence', 'log_scan', 'model_health', 'rollout_set', 'run_lock'} <= set(HOST_MODULES)


@pytest.mark.parametrize('module', HOST_MODULES)
def test_a_host_module_imports_no_controller_only_code(module):
    files, others = SHIPPED.shipped(module, SHIPPED.reader())
    assert not set(files) & set(CONTROLLER_UTILS), files
    assert not [name for name in others if name.split('.')[0] == 'mistralai' or '.plugin_utils' in name], others
