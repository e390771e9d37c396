#!/usr/bin/env bash
# Checks a running dwcp-observer agent and, optionally, the Prometheus that scrapes it.
#
#   scripts/verify.sh URL_AGENT [URL_PROMETHEUS]
#   scripts/verify.sh http://127.0.0.1:9476 http://127.0.0.1:9090
#
# Agent: /metrics, /-/healthy and /-/ready answer 200; all 21 dwcp_* families are exposed; the
# agent's own families (dwcp_observer_*) are reported (missing ones warn: the hook library
# exposes only the 21); `promtool check metrics` lint, when promtool is installed, warns.
# Prometheus: ready; every target of the job (DWCP_JOB, default dwcp-observer) is up; the DWCP
# rules are loaded (counts of alerting and recording rules, compared with the shipped files when
# this script runs from the repository) and healthy; dwcp_* series are stored.
#
# Prints one PASS / FAIL / WARN line per check and a summary; exits 0 when nothing failed, 1
# otherwise. Needs curl and python3 (for JSON). Environment: DWCP_JOB, VERIFY_TIMEOUT (seconds
# per request, default 5).
set -u

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
AGENT=${1%/}
PROM=${2:-}
PROM=${PROM%/}
JOB=${DWCP_JOB:-dwcp-observer}
TIMEOUT=${VERIFY_TIMEOUT:-5}
REPO=$(cd "$(dirname "$0")/.." && pwd)

for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "FAIL $tool is not installed (apt-get install $tool)"; exit 1; }
done

passed=0 failed=0 warned=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
warn() { echo "WARN $*"; warned=$((warned + 1)); }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# http_get URL FILE -> prints the HTTP status (000 when unreachable)
http_get() { curl -sS -o "$2" -w '%{http_code}' --max-time "$TIMEOUT" "$1" 2>"$TMP/curl.err" || true; }

FAMILIES="dwcp_amst_streams_active dwcp_amst_streams_total dwcp_amst_bytes_sent_total
dwcp_amst_bytes_received_total dwcp_amst_errors_total dwcp_amst_latency_seconds
dwcp_amst_bandwidth_utilization_percent dwcp_hde_compression_ratio dwcp_hde_operations_total
dwcp_hde_delta_hit_rate_percent dwcp_hde_baseline_count dwcp_hde_dictionary_efficiency_percent
dwcp_hde_bytes_original_total dwcp_hde_bytes_compressed_total dwcp_migration_duration_seconds
dwcp_migration_speedup_factor dwcp_federation_sync_duration_seconds
dwcp_federation_bandwidth_saved_bytes_total dwcp_system_component_health dwcp_system_config_enabled
dwcp_system_version_info"
# Every family every agent observing a target exports (Presence::kAlways in
# userspace/model/observer_families.cpp; tests/agent/observer_families_test.cpp keeps them equal).
OBSERVER_FAMILIES="dwcp_observer_build_info dwcp_observer_events_total dwcp_observer_target_up
dwcp_observer_probes_attached dwcp_observer_probe_overhead_seconds_total dwcp_observer_probe_demoted
dwcp_observer_probe_state dwcp_observer_probe_sample_ratio dwcp_observer_uprobe_trap_seconds
dwcp_observer_targets_attached dwcp_observer_probe_overhead_ratio dwcp_observer_tcp_bytes_sent_total
dwcp_observer_tcp_bytes_received_total dwcp_observer_tcp_send_calls_total
dwcp_observer_tcp_receive_calls_total dwcp_observer_tcp_retransmits_total
dwcp_observer_tcp_connections_opened_total dwcp_observer_tcp_connections_closed_total
dwcp_observer_tcp_resets_total dwcp_observer_tcp_srtt_seconds dwcp_observer_events_lost_total
dwcp_observer_probe_sampling_edge_exits_total dwcp_observer_probe_hits_total
dwcp_observer_kernel_feature dwcp_observer_discovery_refused_total dwcp_observer_amst_sessions
dwcp_observer_amst_stream_counters_readable dwcp_observer_amst_stream_table_reads_total
dwcp_observer_amst_sessions_unreadable_total dwcp_observer_amst_sessions_truncated_total
dwcp_observer_amst_stream_counters_refused_total dwcp_observer_amst_streams_untracked_total
dwcp_observer_amst_stream_reconnects_total dwcp_observer_labels_overflow_total
dwcp_observer_invalid_events_total"

# has_family FILE NAME: a TYPE line, or a sample of the family (histograms: _bucket/_sum/_count)
has_family() {
  grep -Eq "^# TYPE $2 |^$2(_bucket|_sum|_count)?(\{| )" "$1"
}

echo "== agent $AGENT"
status=$(http_get "$AGENT/metrics" "$TMP/metrics")
if [ "$status" = 200 ]; then
  pass "agent /metrics answers 200 ($(grep -c '^dwcp_' "$TMP/metrics") dwcp_* samples)"
  missing=""
  for family in $FAMILIES; do has_family "$TMP/metrics" "$family" || missing="$missing $family"; done
  if [ -z "$missing" ]; then
    pass "all 21 dwcp_* families exposed"
  else
    fail "families missing from /metrics:$missing"
  fi
  missing=""
  for family in $OBSERVER_FAMILIES; do has_family "$TMP/metrics" "$family" || missing="$missing $family"; done
  if [ -z "$missing" ]; then
    pass "all 35 dwcp_observer_* families exposed"
  else
    warn "agent families missing (expected with the hook library only):$missing"
  fi
  if command -v promtool >/dev/null; then
    if promtool check metrics <"$TMP/metrics" >"$TMP/lint" 2>&1; then
      pass "promtool check metrics: clean"
    else
      warn "promtool check metrics: $(tr '\n' ';' <"$TMP/lint" | cut -c1-300)"
    fi
  fi
else
  fail "agent /metrics: HTTP $status $(cat "$TMP/curl.err" 2>/dev/null) (is the agent running, and on which --listen address?)"
fi
for path in /-/healthy /-/ready; do
  status=$(http_get "$AGENT$path" "$TMP/body")
  if [ "$status" = 200 ]; then
    pass "agent $path answers 200"
  else
    fail "agent $path: HTTP $status $(head -c 200 "$TMP/body" 2>/dev/null)"
  fi
done

if [ -n "$PROM" ]; then
  echo "== prometheus $PROM"
  status=$(http_get "$PROM/-/ready" "$TMP/body")
  if [ "$status" = 200 ]; then pass "prometheus /-/ready answers 200"; else fail "prometheus /-/ready: HTTP $status"; fi

  status=$(http_get "$PROM/api/v1/targets?state=active" "$TMP/targets")
  if [ "$status" = 200 ]; then
    line=$(JOB="$JOB" python3 - "$TMP/targets" <<'PY'
import json, os, sys
targets = [t for t in json.load(open(sys.argv[1]))["data"]["activeTargets"]
           if t["labels"].get("job", "").startswith(os.environ["JOB"])]
bad = [f'{t["labels"].get("instance")}: {t["health"]} {t.get("lastError", "")}'.strip()
       for t in targets if t["health"] != "up"]
if not targets:
    print(f'FAIL no active target with job {os.environ["JOB"]}* (scrape config loaded?)')
elif bad:
    print(f'FAIL {len(bad)} of {len(targets)} {os.environ["JOB"]} targets not up: ' + "; ".join(bad))
else:
    print(f'PASS {len(targets)} {os.environ["JOB"]} target(s) up')
PY
)
    case $line in PASS*) pass "${line#PASS }" ;; *) fail "${line#FAIL }" ;; esac
  else
    fail "prometheus /api/v1/targets: HTTP $status"
  fi

  status=$(http_get "$PROM/api/v1/rules" "$TMP/rules")
  if [ "$status" = 200 ]; then
    line=$(REPO="$REPO" python3 - "$TMP/rules" <<'PY'
import json, os, sys
groups = json.load(open(sys.argv[1]))["data"]["groups"]
rules = [r for g in groups for r in g["rules"] if r["name"].startswith(("DWCP", "cluster"))]
alerts = [r for r in rules if r["type"] == "alerting"]
records = [r for r in rules if r["type"] == "recording"]
unhealthy = [f'{r["name"]} ({r.get("lastError", r.get("health"))})' for r in rules if r.get("health") not in ("ok", "unknown")]
want_alerts = want_records = 0
try:
    import yaml
    base = os.path.join(os.environ["REPO"], "configs/prometheus")
    for name in ("dwcp-alerts.yml", "dwcp-recording-rules.yml"):
        for g in yaml.safe_load(open(os.path.join(base, name)))["groups"]:
            for r in g["rules"]:
                if "alert" in r: want_alerts += 1
                else: want_records += 1
except Exception:
    pass  # not run from the repository, or no PyYAML: report counts only
msg = f"{len(alerts)} DWCP alerting and {len(records)} recording rules loaded"
if want_alerts and (len(alerts) < want_alerts or len(records) < want_records):
    print(f"FAIL {msg}, the shipped files have {want_alerts} and {want_records}")
elif not alerts or not records:
    print(f"FAIL {msg} (rule_files not loaded?)")
elif unhealthy:
    print(f"FAIL {msg}, unhealthy: " + "; ".join(unhealthy[:5]))
else:
    print(f"PASS {msg}" + (f" (shipped: {want_alerts}/{want_records})" if want_alerts else ""))
PY
)
    case $line in PASS*) pass "${line#PASS }" ;; *) fail "${line#FAIL }" ;; esac
  else
    fail "prometheus /api/v1/rules: HTTP $status"
  fi

  status=$(http_get "$PROM/api/v1/query?query=count(%7B__name__%3D~%22dwcp_.*%22%7D)" "$TMP/count")
  count=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["data"]["result"]; print(r[0]["value"][1] if r else 0)' "$TMP/count" 2>/dev/null || echo 0)
  if [ "$status" = 200 ] && [ "$count" != 0 ]; then
    pass "prometheus stores $count dwcp_* series"
  else
    fail "prometheus has no dwcp_* series (HTTP $status): not scraped yet, or wrong job/target"
  fi
fi

echo "verify: $passed passed, $failed failed, $warned warnings"
[ "$failed" -eq 0 ]
