#!/usr/bin/env bash
# Checks the Prometheus / Alertmanager examples in examples/prometheus/.
#
# With promtool (Debian package `prometheus`): `promtool check rules`,
# `promtool check config` and the rule unit tests; with amtool (package
# `prometheus-alertmanager`) also `amtool check-config`. Without promtool: parses
# the three YAML files with python3 (PyYAML, installed with pip if missing) and
# checks their structure. In both cases, when PyYAML is available, every alert rule
# must have alert, expr, labels.severity and annotations.summary, every rule's
# expression may only use syncguard-fleet's metric names, `up` and the names the
# file's recording rules make, and the sharded scrape job must keep the monitors'
# own `shard` label (honor_labels) and give each target one.
#
# Run from anywhere: bash scripts/check-prometheus-examples.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=examples/prometheus

have_promtool=0
if command -v promtool >/dev/null 2>&1; then
    have_promtool=1
    promtool check rules "$dir/syncguard-rules.yml"
    # Resolves rule_files relative to prometheus.yml.
    promtool check config "$dir/prometheus.yml"
    promtool test rules "$dir/syncguard-rules.test.yml"
    if command -v amtool >/dev/null 2>&1; then
        amtool check-config "$dir/alertmanager.yml"
    else
        echo "amtool not found; alertmanager.yml gets the python3 check only"
    fi
fi

if ! python3 -c 'import yaml' >/dev/null 2>&1; then
    python3 -m pip install --quiet pyyaml >/dev/null 2>&1 || true
fi
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
    if [ "$have_promtool" -eq 1 ]; then
        echo "PyYAML not available; skipping the metric-name check (promtool checks passed)"
        exit 0
    fi
    echo "FAIL: neither promtool nor PyYAML (python3 -m pip install pyyaml) is available" >&2
    exit 1
fi

python3 - "$dir" <<'PY'
import os
import re
import sys

import yaml

d = sys.argv[1]
problems = []


def load(name):
    with open(os.path.join(d, name), encoding="utf-8") as f:
        return yaml.safe_load(f)


# The metric names syncguard-fleet serves on /metrics, plus Prometheus' own `up`.
# The push families appear only with a [listen] table, the per-node histogram only
# with `[metrics] per_node_histograms = true`.
metrics = {
    "syncguard_node_status",
    "syncguard_node_healthy",
    "syncguard_node_reply_age_seconds",
    "syncguard_node_transitions_total",
    "syncguard_node_latency_seconds",
    # Present only for nodes in a maintenance window / covered by an ack.
    "syncguard_node_maintenance",
    "syncguard_node_acknowledged",
    "syncguard_nodes_in_maintenance",
    "syncguard_nodes_acknowledged",
    "syncguard_group_healthy",
    "syncguard_group_masters",
    "syncguard_nodes",
    "syncguard_verdict",
    "syncguard_hook_runs_dropped_total",
    "syncguard_push_connections",
    "syncguard_unlisted_senders",
    "syncguard_push_accepted_total",
    "syncguard_push_lines_total",
    "syncguard_push_invalid_lines_total",
    "syncguard_push_closed_abuse_total",
    "syncguard_unlisted_dropped_total",
    "syncguard_push_refused_total",
    "syncguard_build_info",
    # Only on a sharded instance (`--shard K/N` or [shard]).
    "syncguard_shard_count",
    # With [[notify]] channels / the history store.
    "syncguard_notify_dropped_total",
    "syncguard_notifications_total",
    "syncguard_notify_queue_depth",
    "syncguard_notify_oldest_pending_seconds",
    "syncguard_history_written_total",
    "syncguard_history_dropped_total",
    "syncguard_history_write_ok",
    "up",
}
for histogram in ("syncguard_reply_latency_seconds", "syncguard_node_reply_latency_seconds"):
    metrics |= {histogram + s for s in ("_bucket", "_sum", "_count")}

keywords = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "bool", "inf", "nan",
}


def metric_names(expr):
    """Metric names in a PromQL expression (a lexical approximation)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)  # range and subquery durations
    # label lists of by / without / on / ignoring / group_left / group_right
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        if word.lower() in keywords:
            continue
        if e[m.end():].lstrip().startswith("("):
            continue  # a function or an aggregation
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == "."):
            continue  # a number such as 1e3 or a duration such as 5m
        names.add(word)
    return names


def check_expr(label, r):
    """A rule's expr exists and names only known metrics."""
    expr = r.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        problems.append(f"{label}: no expr")
        return
    unknown = metric_names(expr) - metrics
    if unknown:
        problems.append(f"{label}: unknown metric name(s) {sorted(unknown)} in {expr!r}")


# --- syncguard-rules.yml
rules_doc = load("syncguard-rules.yml")
alerts = []
# Recording rules first: their names are metrics the other rules may use.
for g in rules_doc.get("groups") or []:
    for r in g.get("rules") or []:
        if r.get("record"):
            metrics.add(r["record"])
for g in rules_doc.get("groups") or []:
    if not g.get("name"):
        problems.append("syncguard-rules.yml: a rule group has no name")
    for r in g.get("rules") or []:
        if r.get("record"):
            check_expr(r["record"], r)
            continue
        name = r.get("alert")
        if not name:
            problems.append(f"syncguard-rules.yml: group {g.get('name')!r}: a rule has no alert name")
            continue
        alerts.append(name)
        check_expr(name, r)
        if not (r.get("labels") or {}).get("severity"):
            problems.append(f"{name}: no labels.severity")
        if not (r.get("annotations") or {}).get("summary"):
            problems.append(f"{name}: no annotations.summary")
for required in (
    "SyncGuardNodeOutOfLock",
    "SyncGuardNodeNoAnswer",
    "SyncGuardGroupMasterProblem",
    "SyncGuardMonitorDown",
    "SyncGuardNodeFlapping",
    "SyncGuardShardMissing",
    "SyncGuardShardDuplicate",
):
    if required not in alerts:
        problems.append(f"syncguard-rules.yml: alert {required} is missing")
if len(alerts) != len(set(alerts)):
    problems.append("syncguard-rules.yml: duplicate alert names")

# --- prometheus.yml
prom = load("prometheus.yml")
for f in prom.get("rule_files") or []:
    if not os.path.isfile(os.path.join(d, f)):
        problems.append(f"prometheus.yml: rule file {f!r} not found next to it")
if "syncguard-rules.yml" not in (prom.get("rule_files") or []):
    problems.append("prometheus.yml: rule_files does not list syncguard-rules.yml")
if not (prom.get("alerting") or {}).get("alertmanagers"):
    problems.append("prometheus.yml: no alerting.alertmanagers")
jobs = {j.get("job_name"): j for j in prom.get("scrape_configs") or []}
job = jobs.get("syncguard-fleet")
if job is None:
    problems.append("prometheus.yml: no scrape job 'syncguard-fleet'")
else:
    statics = job.get("static_configs") or []
    if not statics:
        problems.append("prometheus.yml: job syncguard-fleet has no static_configs")
    shards = []
    for sc in statics:
        if not sc.get("targets"):
            problems.append("prometheus.yml: a static_config has no targets")
        shard = str((sc.get("labels") or {}).get("shard") or "")
        if not re.fullmatch(r"[1-9][0-9]*/[1-9][0-9]*", shard):
            problems.append(f"prometheus.yml: targets {sc.get('targets')} have no shard label K/N (as --shard K/N)")
        shards.append(shard)
    # The monitors label their series shard="K/N" themselves: without
    # honor_labels Prometheus would rename that label to exported_shard.
    if job.get("honor_labels") is not True:
        problems.append("prometheus.yml: job syncguard-fleet needs honor_labels: true (the monitors' own shard label)")
    counts = {s.split("/")[1] for s in shards if "/" in s}
    if len(counts) > 1:
        problems.append(f"prometheus.yml: targets disagree on the shard count: {sorted(shards)}")
    elif counts:
        n = int(counts.pop())
        want = {f"{k}/{n}" for k in range(1, n + 1)}
        if set(shards) != want or len(shards) != n:
            problems.append(f"prometheus.yml: shards {sorted(shards)} are not each of 1/{n}..{n}/{n} once")

# --- alertmanager.yml
am = load("alertmanager.yml")
receivers = {r.get("name") for r in am.get("receivers") or []}
route = am.get("route") or {}


def walk(rt, path):
    rec = rt.get("receiver")
    if rec is not None and rec not in receivers:
        problems.append(f"alertmanager.yml: {path} uses unknown receiver {rec!r}")
    for i, sub in enumerate(rt.get("routes") or []):
        walk(sub, f"{path}.routes[{i}]")


if not route.get("receiver"):
    problems.append("alertmanager.yml: the root route has no receiver")
walk(route, "route")
if not am.get("inhibit_rules"):
    problems.append("alertmanager.yml: no inhibit_rules")

if problems:
    for p in problems:
        print("FAIL:", p, file=sys.stderr)
    sys.exit(1)
print(f"ok: {len(alerts)} alert rules use only syncguard-fleet metrics; prometheus.yml and alertmanager.yml are consistent")
PY
