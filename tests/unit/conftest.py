# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures the unit tests share."""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile

import pytest


@pytest.fixture
def shared_tmp():
    """A temporary folder (mode 0755, in one all may enter) for a test whose processes give up root."""
    path = tempfile.mkdtemp(prefix='genesis-test-')
    os.chmod(path, 0o755)
    try:
        yield pathlib.Path(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
