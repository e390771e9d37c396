// The catalogue of the agent's own dwcp_observer_* families, as families.cpp is for the 21 dwcp_*
// ones: each family's name, type, labels and help written once, here. Everything that exports one
// (the agent's collectors and registries, the model's two, the HTTP server's auth counter) takes
// them from this table; docs/metrics.md, scripts/verify.sh and the rules are checked against it
// (tests/agent/observer_families_test.cpp), so a family added here and forgotten there fails a test.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <string>
#include <vector>

namespace dwcp::observer_families {

enum class Type { kCounter, kGauge };

// Index of each family in the table.
enum class Id : std::size_t {
  // The agent (agent/observer_metrics.cpp).
  kBuildInfo,
  kEventsTotal,
  kTargetUp,
  kProbesAttached,
  kProbeOverheadSeconds,
  kProbeDemoted,
  kProbeState,
  kProbeSampleRatio,
  kUprobeTrapSeconds,
  kTargetsAttached,
  kProbeOverheadRatio,
  kTcpBytesSent,
  kTcpBytesReceived,
  kTcpSendCalls,
  kTcpReceiveCalls,
  kTcpRetransmits,
  kTcpConnectionsOpened,
  kTcpConnectionsClosed,
  kTcpResets,
  kTcpSrtt,
  kEventsLost,
  kProbeSamplingEdgeExits,
  kProbeHits,
  kKernelFeature,
  // The follow policy (agent/follow_policy.cpp).
  kDiscoveryRefused,
  // The AMST session readers (agent/stream_reader.cpp).
  kAmstSessions,
  kAmstStreamCountersReadable,
  kAmstStreamTableReads,
  kAmstSessionsUnreadable,
  kAmstSessionsTruncated,
  kAmstStreamCountersRefused,
  kAmstStreamsUntracked,
  kAmstStreamReconnects,
  // The check against the kernel (agent/stream_sockets.cpp).
  kConsistencyBytes,
  kConsistencyStreamsChecked,
  kConsistencyUnverifiedBytes,
  // The HTTP server's basic auth (http/basic_auth.cpp).
  kHttpAuthFailures,
  // The model's (model/families.cpp): the hook library exports these two as well.
  kLabelsOverflow,
  kInvalidEvents,
  kCount
};

// When a family is on /metrics.
enum class Presence {
  kAlways,         // every agent observing a target (scripts/verify.sh checks these)
  kWithLayout,     // only where the agent reads DWCP's per-stream counters (a session layout)
  kWithBasicAuth,  // only when /metrics asks for basic auth
};

struct Family {
  const char* name;
  Type type;
  std::vector<std::string> labels;  // in exposition order
  Presence presence;
  const char* help;
};

// Every family, indexed by Id.
const std::vector<Family>& families();
const Family& family(Id id);
const char* type_name(Type type);  // "counter", "gauge"

// A registry family with the table's name and help (the type must be the row's).
prometheus::Family<prometheus::Counter>& build_counter(Id id, prometheus::Registry& registry);
prometheus::Family<prometheus::Gauge>& build_gauge(Id id, prometheus::Registry& registry);
// A family for a collector's Collect(): name, help and type; samples to be added.
prometheus::MetricFamily metric_family(Id id);
// The "# HELP" and "# TYPE" lines of the text format, for a family written as text.
std::string text_header(Id id);

}  // namespace dwcp::observer_families
