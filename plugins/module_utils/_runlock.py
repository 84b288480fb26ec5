# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A per-host lease lock that names the run holding it (the run_lock module)."""

from __future__ import annotations

import json
import os

from ansible_collections.genesis.model_ops.plugins.module_utils._files import write_atomically


def read(path):
    """The lock's content, {} when the file is gone, None when it cannot be understood (counts as held)."""
    try:
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def held_by_other(holder, run_id, now):
    if holder == {}:
        return False
    if holder is None:
        return True
    return holder.get('run_id') != run_id and float(holder.get('expires') or 0) > now


def write(path, content, exclusive):
    """Create (exclusive) or replace the lock file; False when another run created it first."""
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    if exclusive:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w', encoding='utf-8') as handle:
            json.dump(content, handle)
        return True
    write_atomically(path, json.dumps(content).encode('utf-8'))  # a temporary file of its own name, then a rename
    return True
