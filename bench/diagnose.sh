#!/usr/bin/env bash
# Times diagnose.yml (per-host and controller probing) against a naive transcription of the
# runbook (bench/.playbooks/naive_diagnose.yml: a dot-folder, which AWX's project scan skips) on lab
# fleets of N hosts, in the same run, and prints wall time, the naive/ours ratio, and the Mistral API
# calls and tokens each made.
#   bench/diagnose.sh            # N = 1 10 100 1000
#   NS="1 10" bench/diagnose.sh
#   NAIVE=0 NS=100 bench/diagnose.sh  # ours only
#   NS="1000" bench/diagnose.sh  # the lab's light mode past 100 hosts; the naive playbook only up to 100 (it takes
#                                # 433 s at 100 and grows with N)
# First a line on the machine (bench/machine.py: its cores, how busy it was, a module run's CPU seconds), by which
# tables from different days compare. Each of our runs is timed task by task too (ansible.posix.profile_tasks): where
# the time goes, printed after the table for every N. The figures go to bench/.results/diagnose.tsv, from which
# bench/plot_scaling.py draws docs/images/diagnose-scaling.svg (the scaling curve).
# Uses the lab (it replaces a running one) under the lab lock the tests use.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=.venv/bin/python
export ANSIBLE_CONFIG="$root/ansible.cfg" PATH="$root/.venv/bin:$PATH"
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
results=bench/.results
mkdir -p "$results"
: > "$results/diagnose.tsv"
: > "$results/diagnose-profile.md"
# the default lab (.lab/, inventories/lab/), under the lock its test sessions take
export GENESIS_LAB_NET=0
exec 9>/tmp/genesis-lab-0.lock
flock 9

calc() { $py -c "print($1)"; }

api_calls() {  # API calls the controller (127.0.0.1) made, from the simulator's request log
  grep -c '^[^ ]* 127\.0\.0\.1 [A-Z]* /v1/' .lab/mistral.log 2>/dev/null || true
}

run() {  # run <label> <playbook> [args...]: prints "<seconds> <api calls> <tokens>"
  local label=$1; shift
  local before after start end tokens
  before=$(api_calls)
  start=$(date +%s.%N)
  if ! ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks ansible-playbook "$@" >"$reports/$label.out" 2>&1; then
    echo "bench: $label failed; its output:" >&2; tail -30 "$reports/$label.out" >&2; exit 1
  fi
  end=$(date +%s.%N)
  after=$(api_calls)
  tokens=$($py -c 'import json,sys; print(json.load(open(sys.argv[1])).get("tokens_spent", 0))' \
           "$reports/diagnosis-latest.json" 2>/dev/null || echo 0)
  [ "$label" = naive ] && tokens=0   # the naive playbook only retrieves models: no chat, no tokens
  rm -f "$reports/diagnosis-latest.json"
  profile "$label" "$(calc "$end - $start")"
  echo "$(calc "$end - $start") $((after - before)) $tokens"
}

profile() {  # profile <label> <wall seconds>: the run's slowest tasks (profile_tasks' recap), kept for the end
  [ "$1" = naive ] && return 0
  {
    printf '\n%s at N = %s: %.1f s, of which the slowest tasks:\n\n| task | s |\n| --- | ---: |\n' "$1" "$n" "$2"
    sed -n '/^TASKS RECAP/,$p' "$reports/$1.out" | grep -E -- '-+ [0-9.]+s$' | head -8 |
      sed -E 's/^(.*[^ -]) -+ ([0-9.]+)s$/| \1 | \2 |/'
  } >> "$results/diagnose-profile.md"
}

# how fast the machine is today (a module run's CPU): the same commit has measured twice as slow on another day
$py bench/machine.py
echo
printf '| N | diagnose.yml, per host | diagnose.yml, controller | naive | naive / controller | naive / per host | API calls: per host, controller, naive | tokens |\n'
printf '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n'
for n in ${NS:-1 10 100 1000}; do
  $py -m lab up --hosts "$n" >/dev/null
  $py -m lab fault rate_limit --hosts genesis-001 >/dev/null
  # every host up and answering (a full host imports the SDK as it starts: the first half minute of a 100-host lab
  # is its own start-up, which a run would otherwise share the cores with), the fault showing
  $py -m lab wait --status ok,degraded --timeout 300 >/dev/null
  $py -m lab wait --hosts genesis-001 --status degraded --timeout 120 >/dev/null
  read -r t_host c_host k_host < <(run host diagnose.yml -e model_ops_probe=host -e model_ops_report_dir="$reports")
  read -r t_ctl c_ctl k_ctl < <(run controller diagnose.yml -e model_ops_probe=controller -e model_ops_report_dir="$reports")
  if [ "$n" -le 100 ] && [ "${NAIVE:-1}" = 1 ]; then
    read -r t_naive c_naive _ < <(run naive bench/.playbooks/naive_diagnose.yml)
    printf '| %s | %.1f s | %.1f s | %.1f s | %.1fx | %.1fx | %s, %s, %s | %s, %s, 0 |\n' "$n" "$t_host" "$t_ctl" "$t_naive" \
      "$(calc "$t_naive / $t_ctl")" "$(calc "$t_naive / $t_host")" "$c_host" "$c_ctl" "$c_naive" "$k_host" "$k_ctl"
  else
    printf '| %s | %.1f s | %.1f s | - | - | - | %s, %s, - | %s, %s, - |\n' "$n" "$t_host" "$t_ctl" "$c_host" "$c_ctl" "$k_host" "$k_ctl"
    t_naive=""
  fi
  printf '%s\t%s\t%s\t%s\n' "$n" "$t_host" "$t_ctl" "$t_naive" >> "$results/diagnose.tsv"
done
cat "$results/diagnose-profile.md"
$py bench/plot_scaling.py "$results/diagnose.tsv" docs/images/diagnose-scaling.svg
$py -m lab down >/dev/null
