// The metrics model: the 21 dwcp_* families of the catalogue, written once, fed by typed events
// from both sources (BPF decoder, hook library).
//
// Why not prometheus::Registry families: a model must be removable as a whole (target gone), two
// models of one agent must share family names without clashing, the hot paths must not take a
// lock (Family::Add locks, Histogram::Observe locks), and derived gauges (delta hit rate,
// bandwidth utilization, active streams) are best computed when scraped. So a model keeps its
// own series (plain atomics), and a ModelRegistry - a prometheus::Collectable - merges the
// series of all its models family by family at Collect().
//
// This file: construction, label domains and series lookup, the registry, the public wrappers.
// The catalogue is families.cpp, the storage series.h, the handlers handlers.cpp, the
// exposition exposition.cpp.
#include "dwcp_observer/model.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "model/model_impl.h"

namespace dwcp {
using namespace model_detail;

namespace {

bool valid_label_name(const std::string& name) {
  if (name.empty() || name.rfind("__", 0) == 0) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

}  // namespace

ModelImpl::ModelImpl(std::shared_ptr<ModelRegistry> registry, ModelOptions options)
    : registry_(std::move(registry)), options_(std::move(options)) {
  if (!registry_) throw std::invalid_argument("MetricsModel needs a ModelRegistry (got null)");
  std::set<std::string> family_labels;
  for (const Spec& spec : specs()) {
    family_labels.insert(spec.fixed_labels.begin(), spec.fixed_labels.end());
    family_labels.insert(spec.event_labels.begin(), spec.event_labels.end());
  }
  for (const auto& [name, value] : options_.target_labels) {
    if (!valid_label_name(name))
      throw std::invalid_argument("target label name \"" + name +
                                  "\" is not a valid Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, "
                                  "no leading __)");
    if (family_labels.count(name) != 0)
      throw std::invalid_argument("target label name \"" + name +
                                  "\" collides with a dwcp_* family label: pick another name");
  }
  if (options_.max_label_values == 0) options_.max_label_values = 1;

  for (const char* label : kCappedLabels) domains_[label];
  for (const char* label : kCappedLabels) overflow_[label] = series(kLabelsOverflow, {label});
  for (std::size_t i = 0; i < std::size(kInvalidReasons); ++i) {
    seed("reason", kInvalidReasons[i]);
    invalid_[i] = series(kInvalidEvents, {kInvalidReasons[i]});
  }

  // Known label sets at zero, so that rate() and alerts work from the first scrape.
  for (const char* result : {"success", "failure"}) series(kStreamsTotal, {result});
  for (const char* operation : {"compress", "decompress", "encode", "decode"}) {
    seed("operation", operation);
    for (const char* result : {"success", "failure"}) series(kHdeOperations, {operation, result});
  }
  encode_success_ = series(kHdeOperations, {"encode", "success"});
  seed("operation", "stream_duration");
  stream_duration_ = series(kLatency, {"stream_duration"});

  registry_->attach(this);
  attached_ = true;
}

Series* ModelImpl::series(FamilyId family, std::vector<std::string> values) {
  FamilyStore& store = families_[family];
  std::lock_guard<std::mutex> lock(store.mutex);
  auto& slot = store.series[std::move(values)];
  if (!slot) slot = std::make_unique<Series>(specs()[family].buckets.size());
  return slot.get();
}

ModelImpl::Resolved ModelImpl::resolve(const std::string& label, std::string_view value) {
  LabelDomain& domain = domains_.at(label);
  std::lock_guard<std::mutex> lock(domain.mutex);
  std::string key(value);
  if (domain.values.count(key) != 0) return {std::move(key), nullptr};
  if (domain.values.size() - domain.seeded < options_.max_label_values) {
    domain.values.insert(key);
    return {std::move(key), nullptr};
  }
  return {kOther, overflow_.at(label)};
}

void ModelImpl::seed(const std::string& label, const std::string& value) {
  LabelDomain& domain = domains_.at(label);
  std::lock_guard<std::mutex> lock(domain.mutex);
  if (domain.values.insert(value).second) ++domain.seeded;
}

std::string ModelImpl::id_or_unknown(std::string_view id) {
  if (!id.empty()) return std::string(id);
  invalid(kEmptyId);
  return kUnknown;
}

double ModelImpl::clamp_seconds(double seconds) {
  if (std::isnan(seconds)) {
    invalid(kNotANumber);
    return 0;
  }
  if (seconds < 0) {
    invalid(kNegativeValue);
    return 0;
  }
  return seconds;
}

void ModelImpl::observe_in(FamilyId family, std::vector<std::string> values, double value) {
  observe(*series(family, std::move(values)), specs()[family].buckets, value);
}

void ModelImpl::note_invalid(std::string_view reason) {
  Resolved r = resolve("reason", reason.empty() ? std::string_view(kUnknown) : reason);
  count(r.overflow);
  count(series(kInvalidEvents, {r.value}));
}

// ---- registry ---------------------------------------------------------------------------------

void ModelRegistry::attach(const ModelImpl* model) {
  std::lock_guard<std::mutex> lock(mutex_);
  models_.push_back(model);
}

void ModelRegistry::detach(const ModelImpl* model) {
  std::lock_guard<std::mutex> lock(mutex_);
  models_.erase(std::remove(models_.begin(), models_.end(), model), models_.end());
}

std::size_t ModelRegistry::model_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return models_.size();
}

// ---- public wrappers --------------------------------------------------------------------------

MetricsModel::MetricsModel(std::shared_ptr<ModelRegistry> registry, ModelOptions options)
    : impl_(std::make_unique<ModelImpl>(std::move(registry), std::move(options))) {}
MetricsModel::~MetricsModel() = default;
void MetricsModel::apply(const Event& event) { impl_->apply(event); }
void MetricsModel::stream_bytes(std::string_view stream_id, std::uint64_t sent, std::uint64_t received) {
  impl_->stream_bytes(stream_id, sent, received);
}
void MetricsModel::compression_done(std::string_view data_type, std::uint64_t original, std::uint64_t compressed,
                                    bool delta_hit) {
  impl_->compression_done(data_type, original, compressed, delta_hit);
}
void MetricsModel::note_invalid(std::string_view reason) { impl_->note_invalid(reason); }
void MetricsModel::remove() { impl_->detach(); }
std::vector<prometheus::MetricFamily> MetricsModel::collect() const { return impl_->collect(); }

}  // namespace dwcp
