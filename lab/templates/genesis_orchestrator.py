#!/usr/bin/env python3
"""Genesis orchestrator (lab build). Start: `python3 genesis_orchestrator.py` in the app root.

The service itself lives in the lab package; this entry point re-executes into it with
the lab's interpreter, which has the `mistralai` SDK, keeping the same pid.
"""
import os
import sys

LAB_PYTHON = {lab_python!r}
LAB_ROOT = {lab_root!r}
FAULT_DIR = {fault_dir!r}

here = os.path.dirname(os.path.abspath(__file__))
os.environ["PYTHONPATH"] = LAB_ROOT
os.execv(LAB_PYTHON, [LAB_PYTHON, "-m", "lab.host", "--app-root", here, "--fault-dir", FAULT_DIR] + sys.argv[1:])
