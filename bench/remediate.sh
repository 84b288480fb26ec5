#!/usr/bin/env bash
# Times the runbook's loop for each scenario on a lab of N hosts (default 10): the fault injected,
# seen on /health, diagnose.yml, the command the diagnosis names, and every host healthy again.
# Prints a Markdown table: seconds from the fault to the diagnosis, to the end of the
# remediation, and to every host healthy.
#   bench/remediate.sh          # N = 10
#   N=5 bench/remediate.sh
# Uses the lab (it replaces a running one) under the lab lock the tests use.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv/bin/python
export ANSIBLE_CONFIG="$root/ansible.cfg" PATH="$root/.venv/bin:$PATH"
n=${N:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# the default lab (.lab/, inventories/lab/), under the lock its test sessions take
export GENESIS_LAB_NET=0
exec 9>/tmp/genesis-lab-0.lock
flock 9

now() { date +%s.%N; }
calc() { $py -c "print(f'{$1:.1f}')"; }

# scenario | lab fault | hosts that show it | status they show | extra arguments of the remediation
scenarios=(
  "credentials|credentials --hosts genesis-002|genesis-002|down|-e @$work/new-key.yml"
  "rate_limit|rate_limit --hosts genesis-002,genesis-003|genesis-002,genesis-003|degraded|"
  "model_unavailable|model_unavailable --agents qa_agent||degraded|"
  "complete_failure|service_down --hosts genesis-004|genesis-004|unreachable|"
)

printf '| scenario | lab fault | fault to verdict | remediation | fault to every host healthy | command |\n'
printf '| --- | --- | ---: | ---: | ---: | --- |\n'
for line in "${scenarios[@]}"; do
  IFS='|' read -r scenario fault shown status extra <<<"$line"
  $py -m lab up --hosts "$n" >/dev/null
  $py -c 'import json,sys; print("mistral_api_key: " + json.load(open(sys.argv[1]))["spare"])' .lab/secrets/keys.json \
    > "$work/new-key.yml"
  chmod 600 "$work/new-key.yml"
  $py -m lab wait --timeout 60 >/dev/null
  start=$(now)
  # shellcheck disable=SC2086  # the fault's words are separate arguments
  $py -m lab fault $fault >/dev/null
  $py -m lab wait ${shown:+--hosts "$shown"} --status "$status" --timeout 60 >/dev/null
  ansible-playbook diagnose.yml -e model_ops_probe=controller -e model_ops_report_dir="$work/reports" >"$work/diagnose.out" 2>&1
  verdict=$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["verdict"])' "$work/reports/diagnosis-latest.json")
  command=$($py -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["scenarios"][0]["command"] if r["scenarios"] else "")' \
    "$work/reports/diagnosis-latest.json")
  diagnosed=$(now)
  if [ "$verdict" != "$scenario" ]; then
    echo "bench: $scenario diagnosed as $verdict; its output:" >&2; tail -30 "$work/diagnose.out" >&2; exit 1
  fi
  # shellcheck disable=SC2086  # the command and its extra arguments are words
  if ! $command $extra >"$work/remediate.out" 2>&1; then
    echo "bench: $command failed; its output:" >&2; tail -30 "$work/remediate.out" >&2; exit 1
  fi
  remediated=$(now)
  $py -m lab wait --status ok --timeout 180 >/dev/null
  healthy=$(now)
  tick='`'
  printf "| %s | ${tick}%s${tick} | %s s | %s s | %s s | ${tick}%s${tick} |\n" "$scenario" "$fault" "$(calc "$diagnosed - $start")" \
    "$(calc "$remediated - $diagnosed")" "$(calc "$healthy - $start")" "$command"
done
$py -m lab down >/dev/null
