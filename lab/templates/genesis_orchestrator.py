#!/usr/bin/env python3
"""Genesis orchestrator (lab build). Start: `python3 genesis_orchestrator.py` in the app root.

The service itself lives in the lab package and needs the lab's interpreter, which has the
`mistralai` SDK: started by another one, this script re-executes itself with the lab's, keeping
its pid and its command line (`<lab python> genesis_orchestrator.py`), then runs the service.
"""
import os
import sys

LAB_PYTHON = {lab_python!r}
LAB_PREFIX = {lab_prefix!r}
LAB_ROOT = {lab_root!r}
FAULT_DIR = {fault_dir!r}

if sys.prefix != LAB_PREFIX:
    os.execv(LAB_PYTHON, [LAB_PYTHON] + sys.argv)
sys.path.insert(0, LAB_ROOT)
from lab.host import main  # noqa: E402  pylint: disable=wrong-import-position

sys.exit(main(["--app-root", os.path.dirname(os.path.abspath(__file__)), "--fault-dir", FAULT_DIR] + sys.argv[1:]))
