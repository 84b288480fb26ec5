# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters genesis.model_ops.verdict, genesis.model_ops.report_markdown, genesis.model_ops.report_html and
genesis.model_ops.diagnosis_summary.

Their docs are in verdict.yml, report_markdown.yml, report_html.yml and diagnosis_summary.yml beside this file: ansible-doc
reads a Python file's DOCUMENTATION for every filter the file holds, so several filters in one file need a
YAML file each.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.genesis.model_ops.plugins.plugin_utils._report_html import report_html
from ansible_collections.genesis.model_ops.plugins.plugin_utils._report_markdown import report_markdown
from ansible_collections.genesis.model_ops.plugins.plugin_utils._report_summary import summary_lines
from ansible_collections.genesis.model_ops.plugins.plugin_utils._verdict_report import diagnose


def verdict(evidence):
    try:
        return diagnose(evidence)
    except ValueError as exc:
        raise AnsibleFilterError('genesis.model_ops.verdict: %s' % exc) from exc


def markdown(report):
    try:
        return report_markdown(report)
    except ValueError as exc:
        raise AnsibleFilterError('genesis.model_ops.report_markdown: %s' % exc) from exc


def page(report, markdown_name=None):
    try:
        return report_html(report, markdown_name)
    except ValueError as exc:
        raise AnsibleFilterError('genesis.model_ops.report_html: %s' % exc) from exc


def summary(report, report_path=None):
    try:
        return summary_lines(report, report_path)
    except ValueError as exc:
        raise AnsibleFilterError('genesis.model_ops.diagnosis_summary: %s' % exc) from exc


class FilterModule:

    def filters(self):
        return {'verdict': verdict, 'report_markdown': markdown, 'report_html': page, 'diagnosis_summary': summary}
