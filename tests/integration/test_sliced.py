# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A diagnosis sliced as AWX slices a job, run as AWX's execution nodes run it.

AWX's job slicing gives slice k of n the hosts of the inventory ordered by name, [k-1::n]; every slice is its own job
(with its own awx_job_id), run on an execution node by `ansible-runner worker`, which the control node feeds with
`ansible-runner transmit` and reads back with `ansible-runner process`; a workflow node after the sliced job gets the
slices' set_stats artifacts merged, in the order the slices finished (a dict update), as its extra variables.

Here each job goes through those three ansible-runner commands for real, with the built and installed collection,
the project's root diagnose.yml and the job's inventory (a slice's part of the lab's 8 hosts, or all of them).
k = 1, 2 and 4 slices (model_ops_stage=gather) then the merge (model_ops_stage=merge) must give what one unsliced
run gives: the verdict, the scenarios with their hosts and agents, each host's status and agents, the evidence, and
the same Mistral API calls (the slices make none). A merge that lacks a slice is refused, naming the hosts.
"""

from __future__ import annotations

import concurrent.futures
import glob
import json
import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import ROOT, wait_until
from tests.integration.test_diagnose import SHOW_S, controller_calls, fleet_key, shows
from tests.integration.test_installed import installed  # noqa: F401 (fixture)  pylint: disable=unused-import

BIN = os.path.join(ROOT, ".venv", "bin")


def slice_inventory(path, number, count):
    """The inventory AWX gives slice ``number`` (1-based) of ``count``: every group and its variables, and of the
    hosts those at [number-1::count] of the inventory's hosts ordered by name."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    names = sorted(data["all"]["children"]["genesis"]["hosts"])
    keep = set(names[number - 1::count])
    hosts = data["all"]["children"]["genesis"]["hosts"]
    data["all"]["children"]["genesis"]["hosts"] = dict((name, hosts[name]) for name in sorted(keep))
    return data, sorted(keep)


def awx_job(workdir, job_id, inventory, extravars, collections):
    """One job as AWX runs it on an execution node: transmit | worker | process. Returns (rc, events, artifact
    files' text, the set_stats artifacts, the job's output)."""
    private = workdir / ("job-%d" % job_id)
    for folder in ("project", "inventory", "env"):
        (private / folder).mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, "diagnose.yml"), private / "project" / "diagnose.yml")
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    extravars = dict(extravars, awx_job_id=job_id, model_ops_report_dir=str(workdir / ("reports-%d" % job_id)))
    (private / "env" / "extravars").write_text(json.dumps(extravars), encoding="utf-8")
    # what an AWX job's environment has (AWX sets ANSIBLE_HOST_KEY_CHECKING off), and the collection as an
    # execution environment has it: installed, from the built tarball
    (private / "env" / "envvars").write_text(json.dumps({
        "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_FORKS": "25",
        "ANSIBLE_PIPELINING": "True", "ANSIBLE_NOCOLOR": "1"}), encoding="utf-8")
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    with subprocess.Popen([os.path.join(BIN, "ansible-runner"), "transmit", str(private), "-p", "diagnose.yml",
                           "--ident", str(job_id)], stdout=subprocess.PIPE, env=env) as transmit, \
            subprocess.Popen([os.path.join(BIN, "ansible-runner"), "worker", "--private-data-dir", str(workdir / ("node-%d" % job_id))],
                             stdin=transmit.stdout, stdout=subprocess.PIPE, env=env) as worker:
        transmit.stdout.close()
        process = subprocess.run([os.path.join(BIN, "ansible-runner"), "process", str(private), "--ident", str(job_id)],
                                 stdin=worker.stdout, capture_output=True, text=True, env=env, timeout=600, check=False)
        worker.stdout.close()
    artifacts = private / "artifacts" / str(job_id)
    events = []
    for path in sorted(glob.glob(str(artifacts / "job_events" / "*.json")), key=lambda p: int(os.path.basename(p).split("-")[0])):
        with open(path, encoding="utf-8") as handle:
            events.append(json.load(handle))
    texts = []
    for folder, _dirs, files in os.walk(artifacts):
        for name in files:
            with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                texts.append(handle.read())
    stats = [e for e in events if e.get("event") == "playbook_on_stats"]
    data = (stats[-1]["event_data"].get("artifact_data") or {}) if stats else {}
    rc = int((artifacts / "rc").read_text(encoding="utf-8")) if (artifacts / "rc").exists() else None
    stdout = (artifacts / "stdout").read_text(encoding="utf-8") if (artifacts / "stdout").exists() else process.stdout
    return rc, events, "\n".join(texts), data, stdout


def report_of(workdir, job_id):
    with open(workdir / ("reports-%d" % job_id) / "diagnosis-latest.json", encoding="utf-8") as handle:
        return json.load(handle)


def what_counts(report):
    """What a sliced diagnosis must share with the unsliced one: all but the times (the lab's traffic goes on
    between the runs, so the counts of a window may move; the sources, hosts and agents of the evidence may not)."""
    return {
        "verdict": report["verdict"],
        # the command names the job's inventory, which is in each job's own folder on the execution node
        # a host's "log sample" line is the newest line of its log sample that names the agent, if its few sampled
        # lines have one at that moment: whether it is there moves with the traffic, not with the slicing
        "scenarios": [(s["scenario"], s["hosts"], s["agents"], re.sub(r" -i \S+/node-\d+/", " -i <node>/", s["command"]),
                       sorted({(line["host"], line["agent"] or "", line["source"]) for line in s["evidence"]
                               if not line["detail"].startswith("log sample: ")})) for s in report["scenarios"]],
        "hosts": dict((name, (host["status"], host["scenarios"], host["reachable"],
                              dict((agent, (a["status"], a["model"])) for agent, a in (host.get("agents") or {}).items())))
                      for name, host in report["hosts"].items()),
        "supporting": [(s["code"], s["hosts"], s["agents"]) for s in report["supporting"]],
        "models": dict((model, entry.get("exists")) for model, entry in report["mistral"]["models"].items()),
        "api_calls": report["api_calls"],
    }


@pytest.fixture
def faulty(clean_lab):
    """The 8-host lab with a fine-tuned model deleted (every host degraded) and one host's service down."""
    lab = clean_lab
    down = lab.hosts[5].name
    lab.cli("fault", "model_unavailable", "--agents", "legal_agent")
    lab.cli("fault", "service_down", "--hosts", down)
    expected = dict((h.name, "degraded") for h in lab.hosts)
    expected[down] = ("unreachable", "down")
    wait_until(shows(lab, expected), SHOW_S, what="legal_agent falling back everywhere and %s down" % down)
    return lab


def test_k_slices_then_the_merge_diagnose_as_one_run(faulty, installed, tmp_path):  # noqa: F811
    lab = faulty
    key = fleet_key(lab)
    with open(lab.inventory, encoding="utf-8") as handle:
        whole = yaml.safe_load(handle)
    every = sorted(h.name for h in lab.hosts)

    def keyless(*texts):
        for text in texts:
            assert key not in text and key[:10] not in text, "the key shows in a job's events or artifacts"

    calls = controller_calls(lab)
    rc, events, texts, data, stdout = awx_job(tmp_path, 100, whole, {}, installed)
    assert rc == 0, stdout[-3000:]
    unsliced_calls = controller_calls(lab) - calls
    keyless(json.dumps(events), texts)
    unsliced = report_of(tmp_path, 100)
    assert unsliced["verdict"] == "complete_failure" and unsliced_calls == unsliced["api_calls"] > 0, (unsliced["verdict"], unsliced_calls)
    assert [s["scenario"] for s in unsliced["scenarios"]] == ["complete_failure", "model_unavailable"], unsliced["scenarios"]
    expected = what_counts(unsliced)
    print("unsliced: %d API calls, %d hosts" % (unsliced_calls, len(unsliced["hosts"])))

    # one AWX workflow: slices -> merge, three times over (k = 1, 2, 4), each node getting every earlier node's
    # artifacts (AWX's ancestor artifacts), so a merge also sees the slices an earlier merge read
    ancestors = {}
    for count in (1, 2, 4):
        base = 1000 * count
        parts = [slice_inventory(lab.inventory, number, count) for number in range(1, count + 1)]
        assert sorted(h for _inv, hosts in parts for h in hosts) == every  # a partition of the fleet
        calls = controller_calls(lab)
        # the slices run side by side, as on several execution nodes; AWX merges their artifacts as they finish
        with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(awx_job, tmp_path, base + number, inventory, dict(ancestors, model_ops_stage="gather"), installed)
                       for number, (inventory, _hosts) in enumerate(parts, 1)]
            handed = {}
            for future in concurrent.futures.as_completed(futures):
                rc, events, texts, data, stdout = future.result()
                assert rc == 0, stdout[-3000:]
                keyless(json.dumps(events), texts)
                handed.update(data)
        assert controller_calls(lab) == calls, "a slice called the Mistral API"
        # each slice hands on its own hosts' evidence, under its own name (its awx_job_id), and writes no report
        names = sorted(handed)
        assert names == ["model_ops_evidence_%d" % (base + n) for n in range(1, count + 1)], names
        for number, (_inventory, hosts) in enumerate(parts, 1):
            assert sorted(handed["model_ops_evidence_%d" % (base + number)]["hosts"]) == hosts
            assert not os.path.exists(tmp_path / ("reports-%d" % (base + number)) / "diagnosis-latest.json")
        ancestors.update(handed)
        # the merge: the whole inventory, no task on the hosts, the slices' evidence among its extra variables
        rc, events, texts, data, stdout = awx_job(tmp_path, base + 99, whole, dict(ancestors, model_ops_stage="merge"), installed)
        assert rc == 0, stdout[-3000:]
        keyless(json.dumps(events), texts)
        merge_calls = controller_calls(lab) - calls
        merged = report_of(tmp_path, base + 99)
        assert [e["event_data"]["host"] for e in events if e.get("event") == "runner_on_ok"
                and e["event_data"].get("task_action") == "genesis.model_ops.host_evidence"] == []
        got = what_counts(merged)
        assert got == expected, "\n".join("%s:\n  sliced   %s\n  unsliced %s" % (part, got[part], expected[part])
                                           for part in expected if got[part] != expected[part])
        assert merge_calls == unsliced_calls, (count, merge_calls, unsliced_calls)
        assert data["model_ops_verdict"] == "complete_failure" and "verdict: complete_failure" in stdout
        # every slice it read handed on as read (None), for the merges after it
        assert all(data[name] is None for name in ancestors if name.startswith("model_ops_evidence_")), data
        ancestors.update(data)
        print("k=%d: %d slices, merge %d API calls, the same verdict, scenarios, hosts and evidence" % (count, count, merge_calls))
        last_parts, last_handed = parts, handed

    # a merge that lacks a slice is refused, naming the hosts that no slice has, and writes no report
    partial = dict((name, value) for name, value in last_handed.items() if not name.endswith("01"))
    rc, _events, _texts, _data, stdout = awx_job(tmp_path, 9999, whole, dict(partial, model_ops_stage="merge"), installed)
    missing = last_parts[0][1]
    assert rc != 0 and "no slice has evidence of %s" % ", ".join(missing[:3]) in stdout, stdout[-3000:]
    assert not os.path.exists(tmp_path / "reports-9999" / "diagnosis-latest.json")
