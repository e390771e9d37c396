#include "agent/stream_reader.h"

#include "agent/stream_sockets.h"
#include "dwcp_observer/text.h"
#include "model/observer_families.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dwcp::agent {
namespace {

// Bounds of what a sane DWCP session holds; anything beyond is taken as a wrong layout or freed
// memory, never followed.
constexpr std::uint64_t kMaxTableLength = 1u << 20;
constexpr std::int64_t kMaxStreamId = std::int64_t{1} << 31;
constexpr std::uint64_t kUserTop = std::uint64_t{1} << 47;  // amd64 user addresses end below
constexpr std::size_t kMaxTrackedSessions = 4096;
constexpr std::size_t kMaxClosedKept = 4096;

bool plausible_pointer(std::uint64_t p) { return p != 0 && p % 8 == 0 && p < kUserTop; }

}  // namespace

Result<void> ProcessMemory::read(const std::vector<Range>& ranges) {
  // One syscall for up to IOV_MAX ranges; the kernel may stop at the first unreadable one.
  std::vector<iovec> local, remote;
  for (const Range& r : ranges) {
    local.push_back({r.out, r.len});
    remote.push_back({reinterpret_cast<void*>(r.addr), r.len});
  }
  for (std::size_t done = 0; done < ranges.size();) {
    const std::size_t n = std::min<std::size_t>(ranges.size() - done, 1024);
    std::size_t want = 0;
    for (std::size_t i = done; i < done + n; ++i) want += ranges[i].len;
    const ssize_t got = process_vm_readv(pid_, &local[done], n, &remote[done], n, 0);
    if (got < 0) return Error::system("process_vm_readv");
    if (static_cast<std::size_t>(got) != want)
      return Error{"process_vm_readv: short read (" + std::to_string(got) + " of " + std::to_string(want) + " bytes)"};
    done += n;
  }
  return {};
}

Result<StreamTable> read_stream_table(MemoryReader& memory, const profile::SessionLayout& layout, std::uint64_t session,
                                      std::size_t max_streams) {
  if (!plausible_pointer(session))
    return Error{"session pointer " + std::to_string(session) + " is not a user address"};
  std::uint64_t slice[3] = {};
  std::int64_t num_streams = 0;
  std::int32_t active = 0;
  std::uint8_t started = 0;
  std::vector<MemoryReader::Range> ranges = {{session + layout.streams_off, slice, sizeof slice},
                                             {session + layout.num_streams_off, &num_streams, sizeof num_streams}};
  if (layout.active_off >= 0) ranges.push_back({session + layout.active_off, &active, sizeof active});
  if (layout.started_off >= 0) ranges.push_back({session + layout.started_off, &started, sizeof started});
  if (Result<void> read = memory.read(ranges); !read) return read.failure();
  const std::uint64_t data = slice[0], length = slice[1], capacity = slice[2];
  if (length > capacity || capacity > kMaxTableLength || num_streams < 0 ||
      num_streams > static_cast<std::int64_t>(kMaxTableLength) || (length > 0 && !plausible_pointer(data)) ||
      active < 0 || active > static_cast<std::int32_t>(kMaxTableLength) || started > 1) {
    return Error{"implausible session (len " + std::to_string(length) + ", cap " + std::to_string(capacity) +
                 ", numStreams " + std::to_string(num_streams) + ", activeStreams " + std::to_string(active) +
                 "): wrong layout, or the session was freed"};
  }
  StreamTable table;
  table.num_streams = num_streams;
  table.data = data;
  table.length = length;
  if (layout.active_off >= 0) table.active = active;
  if (layout.started_off >= 0) table.started = started != 0;
  Result<std::vector<StreamFigures>> streams =
      read_streams(memory, layout, data, 0, std::min<std::uint64_t>(length, max_streams));
  if (!streams) return streams.failure();
  table.streams = std::move(streams).value();
  return table;
}

Result<std::vector<StreamFigures>> read_streams(MemoryReader& memory, const profile::SessionLayout& layout,
                                                std::uint64_t data, std::size_t from, std::size_t to) {
  std::vector<StreamFigures> out;
  if (to <= from) return out;
  if (to - from > kMaxTableLength || !plausible_pointer(data)) return Error{"implausible stream table"};
  const std::size_t n = to - from;
  std::vector<std::uint64_t> pointers(n);
  if (Result<void> read = memory.read({{data + 8 * from, pointers.data(), n * 8}}); !read) return read.failure();

  // One span per stream covering its counters (they sit within a few words of each other).
  const bool reconnects = layout.reconnects_off >= 0;
  std::int32_t lo = std::min({layout.stream_id_off, layout.sent_off, layout.recv_off});
  std::int32_t hi = std::max({layout.stream_id_off, layout.sent_off, layout.recv_off}) + 8;
  if (reconnects) {
    lo = std::min(lo, layout.reconnects_off);
    hi = std::max(hi, layout.reconnects_off + 4);
  }
  if (lo < 0 || hi - lo > 256) return Error{"StreamConn counter offsets too far apart"};
  const std::size_t span = static_cast<std::size_t>(hi - lo);
  std::vector<unsigned char> bytes(n * span);
  std::vector<MemoryReader::Range> ranges;
  for (std::size_t i = 0; i < n; ++i) {
    if (!plausible_pointer(pointers[i]))
      return Error{"stream " + std::to_string(from + i) + " of the table is not a pointer"};
    ranges.push_back({pointers[i] + lo, &bytes[i * span], span});
  }
  if (Result<void> read = memory.read(ranges); !read) return read.failure();
  auto word = [&](std::size_t i, std::int32_t off) {
    std::uint64_t v;
    std::memcpy(&v, &bytes[i * span + (off - lo)], 8);
    return v;
  };
  for (std::size_t i = 0; i < n; ++i) {
    StreamFigures f;
    f.ptr = pointers[i];
    f.id = static_cast<std::int64_t>(word(i, layout.stream_id_off));
    f.sent = word(i, layout.sent_off);
    f.received = word(i, layout.recv_off);
    if (reconnects) {
      std::int32_t r;
      std::memcpy(&r, &bytes[i * span + (layout.reconnects_off - lo)], 4);
      f.reconnects = r;
    }
    if (f.id < 0 || f.id >= kMaxStreamId || f.reconnects.value_or(0) < 0)
      return Error{"stream " + std::to_string(from + i) + " has id " + std::to_string(f.id) +
                   ": wrong layout, or freed"};
    out.push_back(f);
  }
  return out;
}

SessionMetrics::SessionMetrics() : registry_(std::make_shared<prometheus::Registry>()) {
  using observer_families::Id;
  sessions_ = &observer_families::build_gauge(Id::kAmstSessions, *registry_);
  readable_ = &observer_families::build_gauge(Id::kAmstStreamCountersReadable, *registry_);
  reads_ = &observer_families::build_counter(Id::kAmstStreamTableReads, *registry_);
  unreadable_ = &observer_families::build_counter(Id::kAmstSessionsUnreadable, *registry_);
  truncated_ = &observer_families::build_counter(Id::kAmstSessionsTruncated, *registry_);
  refused_ = &observer_families::build_counter(Id::kAmstStreamCountersRefused, *registry_);
  untracked_ = &observer_families::build_counter(Id::kAmstStreamsUntracked, *registry_);
  reconnects_ = &observer_families::build_counter(Id::kAmstStreamReconnects, *registry_);
}

SessionMetrics::ForTarget SessionMetrics::target(std::uint32_t pid) {
  const std::string p = std::to_string(pid);
  return {&sessions_->Add({{"pid", p}}),
          &readable_->Add({{"pid", p}}),
          &reads_->Add({{"pid", p}, {"result", "ok"}}),
          &reads_->Add({{"pid", p}, {"result", "failed"}}),
          &unreadable_->Add({{"pid", p}}),
          &truncated_->Add({{"pid", p}}),
          &reconnects_->Add({{"pid", p}}),
          &refused_->Add({{"pid", p}, {"reason", "decrease"}}),
          &refused_->Add({{"pid", p}, {"reason", "jump"}}),
          &untracked_->Add({{"pid", p}})};
}

SessionTracker::SessionTracker(std::unique_ptr<MemoryReader> memory, std::optional<profile::SessionLayout> layout,
                               SessionMetrics::ForTarget metrics, log::Logger log)
    : memory_(std::move(memory)), layout_(std::move(layout)), metrics_(metrics), log_(std::move(log)) {
  metrics_.readable->Set(layout_ ? 1 : 0);
}

std::size_t SessionTracker::live_sessions() const {
  std::size_t n = 0;
  for (const auto& [address, session] : sessions_) n += !session.closed && session.started;
  return n;
}

void SessionTracker::publish_sessions() { metrics_.sessions->Set(static_cast<double>(live_sessions())); }

std::optional<StreamTable> SessionTracker::read(std::uint64_t address, Session& session) {
  Result<StreamTable> table = read_stream_table(*memory_, *layout_, address);
  if (table) {
    metrics_.reads_ok->Increment();
    if (table->length > kMaxReadStreams && session.table_length <= kMaxReadStreams) metrics_.truncated->Increment();
    session.table_length = table->length;
    return std::move(table).value();
  }
  metrics_.reads_failed->Increment();
  if (!session.unreadable) {
    session.unreadable = true;
    metrics_.unreadable->Increment();
    // Once per target: the metric counts the rest.
    if (!logged_failure_)
      log_.warn("cannot read the stream table of AMST session " + hex(address) + " (" + table.error() +
                "): its per-stream bytes are not counted (dwcp_observer_amst_sessions_unreadable_total)");
    logged_failure_ = true;
  }
  return std::nullopt;
}

void SessionTracker::refuse(std::uint64_t address, Session& session, prometheus::Counter* reason,
                            const std::string& why) {
  reason->Increment();
  if (!session.unreadable) {
    session.unreadable = true;
    metrics_.unreadable->Increment();
  }
  erase_streams(session);
  if (!logged_refusal_)
    log_.warn("AMST session " + hex(address) + " holds stream figures no DWCP stream counts (" + why +
              "): it is read no more (dwcp_observer_amst_stream_counters_refused_total)");
  logged_refusal_ = true;
}

void SessionTracker::erase_streams(Session& session) {
  tracked_streams_ -= session.streams.size();
  session.streams.clear();
}

SessionTracker::Stream* SessionTracker::charge(std::uint64_t address, Session& session, const StreamFigures& figures,
                                               std::vector<Event>* out, bool adopting) {
  if (session.unreadable) return nullptr;
  // The target's memory is the target's to write: figures no DWCP stream can hold are refused,
  // never charged (a counter near 2^64 would wrap the sum, a pointer churned every read would
  // charge its figures again and again).
  if (figures.sent > kMaxStreamBytes || figures.received > kMaxStreamBytes) {
    refuse(address, session, metrics_.refused_jump, "a byte counter above 2^60");
    return nullptr;
  }
  auto it = session.streams.find(figures.ptr);
  const bool same = it != session.streams.end() && it->second.id == figures.id;
  const auto grew_too_much = [](std::uint64_t now, std::uint64_t before) {
    return now > before && now - before > kMaxGrowthPerRead;
  };
  if (same ? grew_too_much(figures.sent, it->second.sent) || grew_too_much(figures.received, it->second.received)
           : !adopting && (figures.sent > kMaxGrowthPerRead || figures.received > kMaxGrowthPerRead)) {
    refuse(address, session, metrics_.refused_jump, "a stream grew by more than 1 TiB between two reads");
    return nullptr;
  }
  const bool fresh = it == session.streams.end();
  if (fresh) {
    if (tracked_streams_ >= kMaxTrackedStreams) {
      metrics_.untracked->Increment();
      if (!logged_untracked_)
        log_.warn("tracking " + std::to_string(kMaxTrackedStreams) +
                  " AMST streams in this target: newer ones are not "
                  "counted (dwcp_observer_amst_streams_untracked_total)");
      logged_untracked_ = true;
      return nullptr;
    }
    it = session.streams.emplace(figures.ptr, Stream{}).first;
    ++tracked_streams_;
  }
  // A stream of a session whose Start the agent saw, or new to a table it had read: created while
  // watched, so its counters began at 0 under the kernel's eyes.
  if (consistency_ != nullptr)
    consistency_->stream_read(address, figures, session.born_watched || (fresh && session.read_once));
  Stream& known = it->second;
  std::uint64_t sent = figures.sent, received = figures.received;
  std::int32_t reconnects = figures.reconnects.value_or(0);
  if (same) {
    // The same stream: charge only growth. A figure below what was charged is an older snapshot
    // (a read that raced the final one): nothing to add.
    sent = figures.sent > known.sent ? figures.sent - known.sent : 0;
    received = figures.received > known.received ? figures.received - known.received : 0;
    reconnects =
        figures.reconnects && *figures.reconnects > known.reconnects ? *figures.reconnects - known.reconnects : 0;
    known.sent = std::max(known.sent, figures.sent);
    known.received = std::max(known.received, figures.received);
    known.reconnects = std::max(known.reconnects, figures.reconnects.value_or(0));
  } else {
    known = {figures.id, figures.sent, figures.received, figures.reconnects.value_or(0), known.last_read};
  }
  if (sent != 0 || received != 0) out->push_back(StreamBytes{std::to_string(figures.id), sent, received});
  if (reconnects > 0) metrics_.reconnects->Increment(reconnects);
  return &known;
}

void SessionTracker::take(std::uint64_t address, Session& session, const StreamTable& table, std::vector<Event>* out) {
  const bool adopting = session.reads == 0;  // the streams a session holds when first read are adopted
  ++session.reads;
  for (const auto& figures : table.streams) {
    Stream* stream = charge(address, session, figures, out, adopting);
    if (session.unreadable) return publish_sessions();
    if (stream != nullptr) stream->last_read = session.reads;
  }
  session.read_once = true;
  if (table.started) session.started = *table.started;
  if (table.active) {
    // DWCP's own count; a session that has not started (or whose Start failed) holds none.
    const std::int64_t active = session.started ? *table.active : 0;
    if (session.active != active) out->push_back(ActiveStreams{address, active});
    session.active = active;
  }
  // Streams gone from the table for a few reads (closed by AdjustStreams, their finals charged)
  // are forgotten, so a table that churns cannot grow the agent. Not at once: a final of a stream
  // this read no longer found may still be on its way through the ring buffer.
  for (auto it = session.streams.begin(); it != session.streams.end();) {
    if (it->second.last_read + 3 < session.reads) {
      it = session.streams.erase(it);
      --tracked_streams_;
    } else {
      ++it;
    }
  }
  publish_sessions();
}

void SessionTracker::seen(std::uint64_t address, std::vector<Event>* out, bool reopen, bool by_start,
                          bool born_watched) {
  if (address == 0) return;
  auto it = sessions_.find(address);
  if (it != sessions_.end()) {
    if (!it->second.closed || !reopen) return;
    // A closed session's address probed again by Start/Send/...: a new session there.
    erase_streams(it->second);
    sessions_.erase(it);
  }
  const auto open = std::count_if(sessions_.begin(), sessions_.end(), [](const auto& s) { return !s.second.closed; });
  if (static_cast<std::size_t>(open) >= kMaxTrackedSessions) {
    if (!logged_full_)
      log_.warn("tracking " + std::to_string(kMaxTrackedSessions) + " AMST sessions: newer ones are not adopted");
    logged_full_ = true;
    return;
  }
  Session& session = sessions_[address];
  session.born_watched = by_start || born_watched;
  // Without a started flag to read, a session counts once a probe other than Start's saw it
  // (Start's own event says whether it succeeded: started()).
  session.started = reopen && !by_start && !(layout_ && layout_->started_off >= 0);
  publish_sessions();
  if (!layout_) return;
  const std::optional<StreamTable> read_now = read(address, session);
  if (!read_now) return;
  const StreamTable& table = *read_now;
  // The streams the session opened itself (createStream 0..numStreams-1) are its active ones;
  // a fixture receiver (numStreams 0) holds accepted streams that no createStream opened.
  StreamsAdopted adopted{address, {}};
  const std::size_t own = std::min<std::size_t>(table.streams.size(), static_cast<std::size_t>(table.num_streams));
  for (std::size_t i = 0; i < own; ++i) adopted.stream_ids.push_back(std::to_string(table.streams[i].id));
  if (!adopted.stream_ids.empty()) out->push_back(std::move(adopted));
  take(address, session, table, out);
}

void SessionTracker::started(std::uint64_t address) {
  auto it = sessions_.find(address);
  if (it == sessions_.end() || it->second.closed) return;
  if (!layout_ || layout_->started_off < 0) it->second.started = true;
  publish_sessions();
}

void SessionTracker::final_figures(std::uint64_t address, const StreamFigures& figures, std::uint64_t table,
                                   std::uint64_t table_length, bool read_failed, std::vector<Event>* out) {
  if (!layout_) return;  // the binary contradicts the layout: BPF read the wrong words
  auto it = sessions_.find(address);
  if (it == sessions_.end() || it->second.closed) return;  // untracked, or a Close of a closed session
  Session& session = it->second;
  session.saved_table = table;
  session.saved_length = table_length;
  if (read_failed) {
    if (!session.unreadable) {
      session.unreadable = true;
      metrics_.unreadable->Increment();
      if (!logged_failure_)
        log_.warn("cannot read an AMST session's final per-stream figures at Close (BPF read failed)");
      logged_failure_ = true;
    }
    return;
  }
  if (Stream* stream = charge(address, session, figures, out, session.reads == 0)) stream->last_read = session.reads;
}

void SessionTracker::read_rest_of_saved(std::uint64_t address, Session& session, std::vector<Event>* out) {
  // BPF sent the first DWCP_MAX_SESSION_STREAMS streams' final figures; the rest are read now,
  // through the array saved at the call's entry, while the call has only just returned.
  const std::uint64_t length = std::min<std::uint64_t>(session.saved_length, kMaxReadStreams);
  if (layout_ && !session.unreadable && length > DWCP_MAX_SESSION_STREAMS) {
    const Result<std::vector<StreamFigures>> rest =
        read_streams(*memory_, *layout_, session.saved_table, DWCP_MAX_SESSION_STREAMS, length);
    if (rest) {
      metrics_.reads_ok->Increment();
      for (const auto& figures : *rest) charge(address, session, figures, out, session.reads == 0);
    } else {
      metrics_.reads_failed->Increment();
    }
  }
  session.saved_table = session.saved_length = 0;
}

void SessionTracker::closed(std::uint64_t address, std::vector<Event>* out) {
  auto it = sessions_.find(address);
  if (it == sessions_.end() || it->second.closed) return;
  Session& session = it->second;
  read_rest_of_saved(address, session, out);
  session.closed = true;
  erase_streams(session);  // a second Close repeats no figure: nothing is charged after closed
  if (consistency_ != nullptr) consistency_->session_closed(address);
  closed_order_.push_back(address);
  forget_old_closed();
  publish_sessions();
}

void SessionTracker::reread(std::uint64_t address, std::vector<Event>* out) {
  auto it = sessions_.find(address);
  if (it == sessions_.end() || it->second.closed) return;
  read_rest_of_saved(address, it->second, out);
  if (!layout_ || it->second.unreadable) return;
  if (const std::optional<StreamTable> table = read(address, it->second)) take(address, it->second, *table, out);
}

void SessionTracker::forget_old_closed() {
  while (closed_order_.size() > kMaxClosedKept) {
    auto it = sessions_.find(closed_order_.front());
    if (it != sessions_.end() && it->second.closed) {
      erase_streams(it->second);
      sessions_.erase(it);
    }
    closed_order_.pop_front();
  }
}

void SessionTracker::refresh(std::vector<Event>* out) {
  if (!layout_) return;
  for (auto& [address, session] : sessions_) {
    if (session.closed || session.unreadable) continue;
    const std::optional<StreamTable> read_now = read(address, session);
    if (!read_now) continue;
    const StreamTable& table = *read_now;
    // A live stream's counters only grow: a known stream whose id changed or whose counters went
    // down means the session was freed without Close and its memory reused (or the target wrote
    // its own counters). Stop reading it; a decrease is never exported, and counted.
    bool reused = false, decreased = false;
    for (const StreamFigures& f : table.streams) {
      auto known = session.streams.find(f.ptr);
      if (known == session.streams.end()) continue;
      reused = reused || known->second.id != f.id;
      decreased = decreased ||
                  (known->second.id == f.id && (f.sent < known->second.sent || f.received < known->second.received));
    }
    if (decreased) {
      refuse(address, session, metrics_.refused_decrease, "a stream's byte counter went down");
      continue;
    }
    if (reused) {
      session.unreadable = true;
      metrics_.unreadable->Increment();
      erase_streams(session);
      continue;
    }
    take(address, session, table, out);
  }
}

}  // namespace dwcp::agent
