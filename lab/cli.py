"""The Genesis lab's command line: up, down, status, fault, clear, wait, restart."""

import argparse
import json
import os
import signal
import sys
import time

from lab import fleet as fleet_mod
from lab.catalog import LAB_AGENTS

SIMULATOR_FAULTS = ("credentials", "rate_limit", "model_unavailable", "retired_baseline", "server_error",
                    "slow", "hang", "complete_failure")
HOST_FAULTS = ("service_down", "start_failure")
FAULTS = SIMULATOR_FAULTS + HOST_FAULTS


def _names(hosts, shown=10):
    """Host names for a message: all of a few, the first ones and the count of many."""
    names = [h.name for h in hosts]
    return ", ".join(names) if len(names) <= shown else f"{', '.join(names[:shown])} ... ({len(names)} hosts)"


def _csv(value):
    return [item for item in value.split(",") if item]


def _ratio(value):
    try:
        ratio = float(value)
    except ValueError:
        ratio = -1.0
    if not 0.0 < ratio <= 1.0:
        raise argparse.ArgumentTypeError(f"ratio {value!r} is out of range: a number in (0, 1]")
    return ratio


def fault_models(name, agents, models):
    """The model ids a simulator fault applies to, from --models or --agents (None: the fault's default)."""
    if models:
        return models
    unknown = [a for a in agents or [] if a not in LAB_AGENTS]
    if unknown:
        raise ValueError(f"unknown agent(s) {', '.join(unknown)}; the lab's agents are {', '.join(LAB_AGENTS)}")
    if name == "model_unavailable":
        return [LAB_AGENTS[a]["finetuned"] for a in (agents or ["qa_agent"])]
    if name == "retired_baseline":
        return sorted({LAB_AGENTS[a]["baseline"] for a in (agents or LAB_AGENTS)})
    if not agents:
        return None
    if name == "rate_limit":
        return [LAB_AGENTS[a]["finetuned"] for a in agents]
    return sorted({m for a in agents for m in (LAB_AGENTS[a]["finetuned"], LAB_AGENTS[a]["baseline"])})


def cmd_up(fleet, args):
    fleet.up(args.hosts, mode=args.mode, ssh=args.ssh, prometheus=not args.no_prometheus, interval_s=args.interval,
             window_s=args.window, timeout_s=args.timeout)


def cmd_down(fleet, _args):
    fleet.down()


def cmd_status(fleet, args):
    if not fleet.meta:
        print("lab: not up (python -m lab up --hosts N)")
        return 1
    status = fleet.status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"{'host':<13} {'address':<15} {'pid':>8}  health")
    for row in status["hosts"]:
        extra = "  (start_failure armed)" if row["start_failure"] else ""
        print(f"{row['host']:<13} {row['address']:<15} {row['pid'] or '-':>8}  {row['health']}{extra}")
    print(f"{fleet.mode} mode; mistral simulator: {status['mistral'] or 'not answering'}; "
          f"prometheus: {status['prometheus'] or 'none'}")
    for fault in status["faults"]:
        print("fault: " + json.dumps({k: v for k, v in fault.items() if v is not None and k != "keys"}))
    return 0


def cmd_fault(fleet, args):
    hosts = fleet.select(args.hosts)
    if args.name in HOST_FAULTS:
        if args.name == "service_down":
            fleet_mod.stop_all(hosts, sig=signal.SIGKILL)
        else:
            for host in hosts:
                # --once: the next start fails, and lifts the fault (the start after it succeeds)
                (host.fault_dir / "start_failure").write_text(
                    "configuration check failed (lab fault start_failure%s)\n" % (", once" if args.once else ""), encoding="utf-8")
        print(f"lab: {args.name} on {_names(hosts)}")
        return 0
    body = {"name": args.name, "hosts": [h.address for h in hosts] if args.hosts else None,
            "models": fault_models(args.name, args.agents, args.models), "ratio": args.ratio,
            "status": args.status, "delay_s": args.delay, "retry_after": args.retry_after, "quota": args.quota}
    code, answer = fleet_mod.http_json(fleet.mistral_url + "/_lab/faults", "POST", body)
    if code != 201:
        print(f"lab: the simulator refused the fault: {answer}", file=sys.stderr)
        return 2
    scope = _names(hosts) if args.hosts else "all hosts"
    print(f"lab: {args.name} on {scope}" + (f" for {', '.join(body['models'])}" if body["models"] else ""))
    return 0


def cmd_clear(fleet, _args):
    fleet_mod.http_json(fleet.mistral_url + "/_lab/reset", "POST", {})
    down = []
    for host in fleet.hosts():
        (host.fault_dir / "start_failure").unlink(missing_ok=True)
        if host.pid() is None:
            down.append(host)
    if down:
        fleet.restart(down)
    print("lab: faults cleared" + (f"; started {_names(down)}" if down else ""))


def cmd_wait(fleet, args):
    """Wait until every selected host's /health says one of the wanted statuses (a fault has shown, or left)."""
    hosts = fleet.select(args.hosts)
    wanted = set(args.status)
    # a fault that takes every request of an agent shows as down once the window holds nothing else
    timeout = args.timeout or max(60.0, 2 * fleet.meta.get("window_s", 20))
    deadline = time.monotonic() + timeout
    while True:
        seen = {row["host"]: row["health"] for row in fleet.status(hosts)["hosts"]}
        pending = {name: health for name, health in seen.items() if health not in wanted}
        if not pending:
            print(f"lab: {_names(hosts)} {'/'.join(sorted(wanted))}")
            return 0
        if time.monotonic() >= deadline:
            print(f"lab: not {'/'.join(sorted(wanted))} after {timeout:g}s: "
                  + ", ".join(f"{name} {health}" for name, health in sorted(pending.items())[:20])
                  + (f" ... ({len(pending)} hosts)" if len(pending) > 20 else ""), file=sys.stderr)
            return 1
        time.sleep(1)


def cmd_restart(fleet, args):
    hosts = fleet.select(args.hosts)
    fleet.restart(hosts)
    print(f"lab: restarted {_names(hosts)}")


def parser():
    top = argparse.ArgumentParser(prog="python -m lab", description="The Genesis lab: simulated Genesis hosts "
                                  "in front of a Mistral API simulator, with faults on demand.")
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the simulator and N hosts, write inventories/lab/hosts.yml (lab N: inventories/lab-N/)",
                        description="Start the Mistral simulator, N hosts and Prometheus; write the inventory.")
    up.add_argument("--hosts", type=int, default=3, help=f"number of hosts (full mode 1..{fleet_mod.MAX_HOSTS['full']}, "
                    f"light mode 1..{fleet_mod.MAX_HOSTS['light']}; default 3)")
    up.add_argument("--mode", choices=fleet_mod.MODES,
                    help=f"full: every host its own process with the real mistralai SDK calling the simulator (50-70 MB a "
                    f"host); light: every host its own tiny service process (a few MB), served by one shared host server "
                    f"whose synthetic traffic asks the simulator for each call's answer, so faults, health, metrics and "
                    f"logs behave as in the full mode. Default: full up to {fleet_mod.FULL_UP_TO} hosts, light past it")
    up.add_argument("--ssh", action="store_true", help="also start sshd on every host address, port 2222 (up to 16 hosts)")
    up.add_argument("--no-prometheus", action="store_true", help="do not start Prometheus even if installed")
    up.add_argument("--interval", type=float, help="seconds between two requests of an agent (default 2; full mode N/10 "
                    "past 20 hosts, light mode N/200 past 400)")
    up.add_argument("--window", type=int, help="health window in seconds (default 20, or 10 intervals when they are longer than 2 s)")
    up.add_argument("--timeout", type=float, default=3.0, help="the hosts' API call timeout in seconds (default 3)")
    sub.add_parser("down", help="stop everything and remove the lab's state")
    status = sub.add_parser("status", help="hosts, their pids and health, active faults")
    status.add_argument("--json", action="store_true")
    fault = sub.add_parser("fault", help="inject a fault: " + ", ".join(FAULTS))
    fault.add_argument("name", choices=FAULTS)
    fault.add_argument("--hosts", type=_csv, default=[], help="comma-separated host names (default: all)")
    fault.add_argument("--agents", type=_csv, default=[], help="comma-separated agents whose models are hit")
    fault.add_argument("--models", type=_csv, default=[], help="comma-separated model ids (instead of --agents)")
    fault.add_argument("--ratio", type=_ratio, default=1.0, help="share of matching requests hit, (0, 1]")
    fault.add_argument("--status", type=int, help="HTTP status: credentials 401|403, server_error 500|502|503|504")
    fault.add_argument("--delay", type=float, help="slow: seconds added to each answer")
    fault.add_argument("--retry-after", type=int, help="rate_limit: Retry-After seconds")
    fault.add_argument("--once", action="store_true", help="start_failure: only the next start fails")
    fault.add_argument("--quota", choices=("models", "key"), help="rate_limit: the models' quota (default: their chat calls "
                       "answer 429) or the whole key's (every API call of the key answers 429, the key check included)")
    sub.add_parser("clear", help="clear every fault; start hosts that are down")
    wait = sub.add_parser("wait", help="wait until hosts' /health shows a status (after a fault, or a clear)")
    wait.add_argument("--hosts", type=_csv, default=[], help="comma-separated host names (default: all)")
    wait.add_argument("--status", type=_csv, default=["ok"], help="comma-separated statuses: ok, degraded, down, "
                      "unreachable (default ok)")
    wait.add_argument("--timeout", type=float, help="seconds (default 60, or twice the health window when that is longer)")
    restart = sub.add_parser("restart", help="restart hosts through their pid files")
    restart.add_argument("--hosts", type=_csv, default=[], help="comma-separated host names (default: all)")
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    fleet = fleet_mod.Fleet()
    if args.command not in ("up", "down", "status") and not fleet.meta:
        print("lab: not up (python -m lab up --hosts N)", file=sys.stderr)
        return 1
    handler = globals()[f"cmd_{args.command}"]
    try:
        return handler(fleet, args) or 0
    except (ValueError, TimeoutError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `lab status | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
