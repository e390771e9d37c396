// Opening, planning and loading the observer's BPF object, as libpman's lifecycle does it: probe
// what this kernel offers, apply the operator's overrides, switch off every program the plan does
// not use, size the ring buffer, load once. The configuration comes in whole (BpfOptions): nothing
// below this reads the environment.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/bpf_maps.h"
#include "agent/kernel_features.h"
#include "dwcp_observer/result.h"

struct observer;

namespace dwcp::agent {

struct BpfOptions {
  std::uint32_t ringbuf_bytes = 1u << 22;  // power of two, >= page size
  std::uint64_t wakeup_bytes = 256 * 1024;
  bool verbose = false;  // libbpf's info and debug lines (the verifier log) into our log; its warnings always
  // Features to treat as absent (kernel_features.h, disable_features: "uprobe_multi,fexit").
  std::string disable_features;
  // Attach per-chunk probes also where they are not vouched for (KernelFeatures).
  bool allow_unvouched_per_chunk_probes = false;
};

// `options` with the environment's overrides, for the program's edge to call once:
// DWCP_OBSERVER_DISABLE_FEATURES (when `options` names no feature) and
// DWCP_OBSERVER_PER_CHUNK_PROBES=allow.
BpfOptions with_environment(BpfOptions options);

// What this kernel got per job, with the overrides applied; the error says what is missing.
struct PlannedKernel {
  std::string release;
  KernelPlan plan;
};
Result<PlannedKernel> plan_this_kernel(const BpfOptions& options);

struct ObserverDestroy {
  void operator()(observer* object) const;
};
using ObserverObject = std::unique_ptr<observer, ObserverDestroy>;

// The BPF object opened, its programs switched on per `planned`, its ring buffer sized, loaded.
// The error says what to do (privilege, kernel, memlock, --verbose for the verifier log).
Result<ObserverObject> load_observer(const BpfOptions& options, const PlannedKernel& planned);

// The loaded object's maps, by descriptor (still owned by the object).
ObserverMaps maps_of(const observer& object);

}  // namespace dwcp::agent
