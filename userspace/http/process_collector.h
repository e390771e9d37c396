// The standard process_* self-metrics every Prometheus exporter serves (client_golang's process
// collector names and meanings), read from /proc/self at each scrape.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

namespace dwcp::http {

class ProcessCollector : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace dwcp::http
