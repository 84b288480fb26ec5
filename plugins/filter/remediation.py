# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters genesis.model_ops.remediation_guardrails, remediation_plan, remediation_outcome and escalation: the
remediations' decisions (plugin_utils/_plan.py). The docs are in the YAML file of each filter's name."""

from __future__ import annotations

from ansible_collections.genesis.model_ops.plugins.plugin_utils import _plan
from ansible_collections.genesis.model_ops.plugins.plugin_utils._filters import filter_map


class FilterModule:

    def filters(self):
        return filter_map({'remediation_guardrails': _plan.guardrails, 'remediation_plan': _plan.plan,
                           'remediation_outcome': _plan.outcome, 'escalation': _plan.escalation})
