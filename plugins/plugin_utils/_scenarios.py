# -*- coding: utf-8 -*-
# Copyright: Genesis platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The runbook's scenarios that have a fix, defined once.

remediate.yml reads them through the remediation filters; the verdict imports them. What cannot import Python (the order of
remediate.yml's scenario playbooks, the AWX surveys and variables, the EDA rulebook, the Prometheus
rules' labels) is checked against them by tests/unit/plugins/plugin_utils.
"""

from __future__ import annotations

# By their number in the runbook (Scenario 1 to 4): how people name and pick them (-e approve=, surveys).
RUNBOOK = ('credentials', 'rate_limit', 'model_unavailable', 'complete_failure')

# The order to handle them in when several hold: a refused key explains every other symptom of its hosts;
# a host that does not answer comes before its agents; a missing model before the rate limit on the rest.
ORDER = ('credentials', 'complete_failure', 'model_unavailable', 'rate_limit')

# The playbook that fixes each one.
PLAYBOOKS = dict((scenario, 'remediate_%s.yml' % scenario) for scenario in RUNBOOK)

# What may run without a person: both only send fewer requests to the fine-tuned models.
AUTO_APPROVE = ('rate_limit', 'model_unavailable')
