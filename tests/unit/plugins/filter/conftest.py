# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the filters' tests share.

A filter is controller code: importing it (ansible.errors) marks the whole process as the
controller, and from then on a module's warn() goes to the display instead of its result,
which breaks the module tests that run later in the same session. Undo that outside these tests."""

from __future__ import annotations

import pytest
from ansible.module_utils import _internal

WAS_CONTROLLER = _internal.is_controller
import ansible.errors  # noqa: E402,F401 pylint: disable=wrong-import-position,unused-import

_internal.is_controller = WAS_CONTROLLER


@pytest.fixture(autouse=True, scope='module')
def as_the_controller():
    _internal.is_controller = True
    yield
    _internal.is_controller = WAS_CONTROLLER
