#!/usr/bin/env bash
# Unattended remediation for CI pipelines: run genesis.model_ops.remediate with its guardrails, keep the
# report, and turn the outcome into the pipeline's exit status. It runs the installed collection's playbook
# (ANSIBLE_COLLECTIONS_PATH, or a clone's ansible.cfg), from wherever the script is.
#
#   "$COLLECTION/examples/ci/remediate.sh" [ansible-playbook options]      # e.g. -i inventory -e max_hosts=5
#
# Exit status, from the run report's outcome (reports/remediation-latest.json):
#   0  healthy         nothing was wrong (also: dry_run, the plan shown and nothing changed)
#   3  remediated      something was wrong and is fixed: read the report
#   4  needs_approval  a scenario was held back for a person (approval, host cap, no playbook):
#                      rerun with -e approve=<scenario>, or follow the report
#   1  failed          a remediation failed or the fleet is still unhealthy, or the run did not finish
# MODEL_OPS_REPORT_DIR (default: reports) is where the reports go: keep it as the job's artifact.
set -uo pipefail

reports=${MODEL_OPS_REPORT_DIR:-reports}
mkdir -p "$reports"
rm -f "$reports/remediation-latest.json"  # a report from an earlier run must not speak for this one

ansible-playbook genesis.model_ops.remediate -e "model_ops_report_dir=$reports" "$@"
playbook_rc=$?

outcome=$(python3 - "$reports/remediation-latest.json" <<'PY'
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as handle:
        print(json.load(handle).get("outcome") or "failed")
except (OSError, ValueError):
    print("failed")
PY
)
echo "model_ops outcome: $outcome (ansible-playbook exit status $playbook_rc); report: $reports/remediation-latest.md"
case "$outcome" in
  healthy|dry_run) exit 0 ;;
  remediated) exit 3 ;;
  needs_approval) exit 4 ;;
  *) exit 1 ;;
esac
