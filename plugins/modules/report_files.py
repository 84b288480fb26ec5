# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: report_files
short_description: Write a run's report files on the controller, each whole or not at all
version_added: 0.3.0
description:
  - Writes the files of a report (the diagnosis, the remediation report, a host's record of a remediation) into
    O(folder) on the controller, in the Ansible process itself. No module is started, so writing four files costs
    what writing one does.
  - Makes O(folder) first when it is missing, its parents included. Each file is written to a temporary file in
    O(folder), synced and renamed over the old one, so a reader (a dashboard, the next diagnosis) sees the old
    report or the new one, never a part of one.
  - It runs on the controller whatever host the task is for, as C(delegate_to=localhost) would.
options:
  folder:
    description:
      - The folder the files go in, on the controller. A relative path is taken from the current folder.
    type: path
    required: true
  files:
    description:
      - The files, each a name (a file name, no folder) and its content (text, written as UTF-8).
      - An empty list makes only the folder.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The file's name in O(folder).
        type: str
        required: true
      content:
        description: The file's text.
        type: str
        required: true
  mode:
    description: The files' permissions.
    type: raw
    default: "0640"
  folder_mode:
    description: The permissions of a folder it makes.
    type: raw
    default: "0750"
attributes:
  check_mode:
    support: full
    description:
      - Writes nothing and returns what it would write. The playbooks write their reports also under C(--check)
        (the task's C(check_mode=false)), as a report is the run's output on the controller, not a change to a host.
  diff_mode:
    support: none
    description: The files are new reports; there is nothing of a host's to compare.
  action:
    support: full
    description: Runs as an action on the controller.
author: Genesis platform team (@genesis)
"""

EXAMPLES = r"""
- name: Write the diagnosis, stamped and as the latest
  genesis.model_ops.report_files:
    folder: reports
    files:
      - {name: diagnosis-20261130T044500Z.json, content: "{{ diagnosis | to_nice_json }}\n"}
      - {name: diagnosis-latest.json, content: "{{ diagnosis | to_nice_json }}\n"}
  check_mode: false
  run_once: true
"""

RETURN = r"""
folder:
  description: The folder, as an absolute path.
  returned: always
  type: str
  sample: /srv/site/reports
paths:
  description: The files written (in check mode, that would be written), as absolute paths, in the order given.
  returned: always
  type: list
  elements: str
  sample: [/srv/site/reports/diagnosis-20261130T044500Z.json, /srv/site/reports/diagnosis-latest.json]
"""
