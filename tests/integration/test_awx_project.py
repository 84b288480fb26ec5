# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What AWX offers as playbooks when this repository is a project: AWX's own detection rule, applied to the
files a clone of the repository holds. A job template's playbook is picked from that list; only the entry
points belong in it."""

from __future__ import annotations

import codecs
import os
import re

from tests.conftest import ROOT, checkout_files

# AWX's rule, ported line for line from ansible/awx at commit e21dd0a0933fd544d1fe2513c54fe41203775eb5:
# awx/main/utils/ansible.py (valid_playbook_re, skip_directory, could_be_playbook) and
# awx/main/models/projects.py (Project.playbooks: os.walk over the project's folder under PROJECTS_ROOT,
# followlinks=AWX_SHOW_PLAYBOOK_LINKS, False by default, skip_directory on each absolute dirpath).
valid_playbook_re = re.compile(r'^\s*?-?\s*?(?:hosts|(ansible\.builtin\.)?include|(ansible\.builtin\.)?import_playbook):\s*?.*?$')


def skip_directory(relative_directory_path):
    path_elements = relative_directory_path.split(os.sep)
    if 'roles' in path_elements:
        return True
    if 'tasks' in path_elements:
        return True
    for element in path_elements:
        if element.startswith('.'):
            return True
    if 'group_vars' in path_elements or 'host_vars' in path_elements:
        return True
    return False


def could_be_playbook(project_path, dir_path, filename):
    if os.path.splitext(filename)[-1] not in ['.yml', '.yaml']:
        return None
    playbook_path = os.path.join(dir_path, filename)
    matched = False
    try:
        for n, line in enumerate(codecs.open(playbook_path, 'r', encoding='utf-8', errors='ignore')):
            if valid_playbook_re.match(line):
                matched = True
                break
            elif n == 0 and line.startswith('$ANSIBLE_VAULT;'):
                matched = True
                break
    except IOError:
        return None
    if not matched:
        return None
    return os.path.relpath(playbook_path, project_path)


def project_playbooks(project_path):
    results = []
    for dirpath, _dirnames, filenames in os.walk(project_path, followlinks=False):
        # (the one change: the folder as AWX has it, PROJECTS_ROOT/_<id>__<name>, for this checkout's path
        # might hold a dot that AWX's would not)
        if skip_directory(AWX_PROJECT + dirpath[len(project_path):]):
            continue
        for filename in filenames:
            playbook = could_be_playbook(project_path, dirpath, filename)
            if playbook is not None:
                results.append(playbook)
    return sorted(results, key=lambda x: x.lower())
# (end of the port)


AWX_PROJECT = "/var/lib/awx/projects/_8__genesis_model_ops"


# What a person picks in AWX: the root playbooks (one-line imports of genesis.model_ops.<name>, run from
# the collection in the execution environment), and the AWX set-up itself, which a job template with a
# controller credential can re-run to keep the templates in sync with the repository.
ENTRY_POINTS = sorted(["diagnose.yml", "preflight.yml", "remediate.yml", "remediate_complete_failure.yml",
                       "remediate_credentials.yml", "remediate_model_unavailable.yml", "remediate_rate_limit.yml",
                       "rollback.yml", os.path.join("extensions", "awx", "job_templates.yml")])


def offered():
    # the walk is that of this checkout, minus what git would not put in a clone (the lab's generated
    # inventory, reports ...)
    shipped = checkout_files()
    return [path for path in project_playbooks(ROOT) if path in shipped]


def test_the_port_finds_what_awx_finds_in_its_own_test_data():
    # AWX's test data (awx/main/tests/data/ansible_utils/playbooks/{valid,invalid}) in short: a play, an
    # include, a vault file are playbooks; a task list, a vars file, a role's meta are not
    assert valid_playbook_re.match("- hosts: all")
    assert valid_playbook_re.match("  hosts: genesis")
    assert valid_playbook_re.match("- ansible.builtin.import_playbook: genesis.model_ops.diagnose")
    assert valid_playbook_re.match("- include: other.yml")
    assert not valid_playbook_re.match("- name: a task")
    assert not valid_playbook_re.match('  "hosts": all')
    assert not valid_playbook_re.match("# hosts: all")
    assert skip_directory("/var/lib/awx/projects/_8__genesis/roles/x/tasks")
    assert skip_directory("/var/lib/awx/projects/_8__genesis/tests/.targets")
    assert not skip_directory("/var/lib/awx/projects/_8__genesis/extensions/awx")


def test_awx_offers_the_entry_points_and_nothing_else_outside_the_collection_content():
    # playbooks/ and plugins/ hold the collection's own content: the next test
    outside = [path for path in offered() if path.split(os.sep)[0] not in ("playbooks", "plugins")]
    assert outside == ENTRY_POINTS


def test_awx_offers_the_collection_playbooks_and_no_plugin_documentation():
    # playbooks/ is where the collection format puts its playbooks; AWX lists them too (they run as they are,
    # the collection being installed in the execution environment). A plugin's documentation is no playbook.
    collection = sorted(os.path.join("playbooks", name) for name in os.listdir(os.path.join(ROOT, "playbooks"))
                        if name.endswith(".yml"))
    assert offered() == sorted(ENTRY_POINTS + collection, key=str.lower)
