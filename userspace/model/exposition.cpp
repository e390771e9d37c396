// Collection: a model's series as Prometheus families, the derived gauges computed at scrape
// time, the registry's merge of all models, and the text rendering.
#include <prometheus/text_serializer.h>

#include <limits>

#include "model/model_impl.h"

namespace dwcp {
using namespace model_detail;

// ---- collection -------------------------------------------------------------------------------

std::vector<prometheus::ClientMetric::Label> ModelImpl::labels_of(FamilyId family,
                                                                  const std::vector<std::string>& values) const {
  const Spec& spec = specs()[family];
  std::vector<prometheus::ClientMetric::Label> labels;
  for (const std::string& name : spec.fixed_labels)
    labels.push_back({name, name == "cluster" ? options_.cluster : options_.node});
  for (std::size_t i = 0; i < spec.event_labels.size() && i < values.size(); ++i)
    labels.push_back({spec.event_labels[i], values[i]});
  for (const auto& [name, value] : options_.target_labels) labels.push_back({name, value});
  return labels;
}

std::vector<prometheus::MetricFamily> ModelImpl::collect() const {
  // The derived gauges, computed here and nowhere else.
  std::optional<double> streams_active, utilization, hit_rate, dictionary;
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    // A session whose own activeStreams is known counts that; the others, their open streams.
    std::size_t counted = open_count_;
    double active = 0;
    for (const auto& [session, count] : active_by_session_) {
      active += static_cast<double>(count);
      if (auto open = open_streams_.find(session); open != open_streams_.end()) counted -= open->second.size();
    }
    streams_active = static_cast<double>(counted) + active;
    if (has_bandwidth_) utilization = bandwidth_available_ > 0 ? bandwidth_used_ / bandwidth_available_ * 100 : 0;
    if (has_dictionary_efficiency_) dictionary = dictionary_efficiency_;
  }
  const std::uint64_t hits = delta_hits_.load(std::memory_order_relaxed);
  const std::uint64_t misses = delta_misses_.load(std::memory_order_relaxed);
  if (hits + misses > 0) hit_rate = static_cast<double>(hits) / static_cast<double>(hits + misses) * 100;

  std::vector<prometheus::MetricFamily> out;
  out.reserve(kFamilyCount);
  for (std::size_t f = 0; f < kFamilyCount; ++f) {
    const Spec& spec = specs()[f];
    prometheus::MetricFamily family{spec.name, spec.help, to_prometheus(spec.kind), {}};
    const std::optional<double>* derived = nullptr;
    if (f == kStreamsActive) derived = &streams_active;
    if (f == kBandwidthUtilization) derived = &utilization;
    if (f == kDeltaHitRate) derived = &hit_rate;
    if (f == kDictionaryEfficiency) derived = &dictionary;
    if (derived != nullptr) {
      if (derived->has_value()) {
        prometheus::ClientMetric metric;
        metric.label = labels_of(static_cast<FamilyId>(f), {});
        metric.gauge.value = **derived;
        family.metric.push_back(std::move(metric));
      }
      out.push_back(std::move(family));
      continue;
    }
    const FamilyStore& store = families_[f];
    std::lock_guard<std::mutex> lock(store.mutex);
    for (const auto& [values, series] : store.series) {
      prometheus::ClientMetric metric;
      metric.label = labels_of(static_cast<FamilyId>(f), values);
      switch (spec.kind) {
        case Kind::counter:
          metric.counter.value = static_cast<double>(series->count.load(std::memory_order_relaxed));
          break;
        case Kind::gauge:
          metric.gauge.value = series->value.load(std::memory_order_relaxed);
          break;
        case Kind::histogram: {
          std::uint64_t cumulative = 0;
          for (std::size_t b = 0; b < series->buckets.size(); ++b) {
            cumulative += series->buckets[b].load(std::memory_order_relaxed);
            const double bound = b < spec.buckets.size() ? spec.buckets[b] : std::numeric_limits<double>::infinity();
            metric.histogram.bucket.push_back({cumulative, bound});
          }
          metric.histogram.sample_count = cumulative;
          metric.histogram.sample_sum = series->sum.load(std::memory_order_relaxed);
          break;
        }
      }
      family.metric.push_back(std::move(metric));
    }
    out.push_back(std::move(family));
  }
  return out;
}

std::vector<prometheus::MetricFamily> ModelRegistry::Collect() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (models_.empty()) {
    std::vector<prometheus::MetricFamily> empty;
    for (const Spec& spec : specs()) empty.push_back({spec.name, spec.help, to_prometheus(spec.kind), {}});
    return empty;
  }
  // Every model yields the same families in the same order: merge them index by index.
  std::vector<prometheus::MetricFamily> merged = models_.front()->collect();
  for (std::size_t m = 1; m < models_.size(); ++m) {
    std::vector<prometheus::MetricFamily> more = models_[m]->collect();
    for (std::size_t f = 0; f < merged.size() && f < more.size(); ++f) {
      auto& into = merged[f].metric;
      into.insert(into.end(), std::make_move_iterator(more[f].metric.begin()),
                  std::make_move_iterator(more[f].metric.end()));
    }
  }
  return merged;
}

std::string render_text(const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  std::vector<prometheus::MetricFamily> families;
  for (const auto& weak : collectables) {
    if (auto collectable = weak.lock()) {
      auto more = collectable->Collect();
      families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace dwcp
