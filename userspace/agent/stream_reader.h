// Per-stream AMST bytes without a probe per chunk: DWCP counts every stream's bytes itself
// (StreamConn.bytesSent / bytesRecv, atomic, header bytes included), so the agent reads those
// counters from the target's memory with process_vm_readv (CAP_SYS_PTRACE) instead of trapping
// on sendChunk/receiveChunk. Sessions (*MultiStreamTCP) are learnt from the probes that carry
// them as receiver; their stream tables are read on first sight (adopting streams already open)
// and on a short interval; as Close and AdjustStreams return, the BPF program sends the final
// figures of the streams they drop (events.h, DWCP_EV_STREAM_FINAL). Deltas are charged per
// stream_id, summed across sessions. Each read also takes the session's own activeStreams and
// started flag (where the profile declares them): dwcp_amst_streams_active is DWCP's figure.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/decoder.h"  // StreamFigures
#include "dwcp_observer/events.h"
#include "dwcp_observer/model.h"
#include "dwcp_observer/result.h"
#include "log/log.h"
#include "profile/profile.h"

namespace dwcp::agent {

class StreamConsistency;

// Another process's memory. An interface so that tests can hand the tracker a fake.
class MemoryReader {
 public:
  virtual ~MemoryReader() = default;
  struct Range {
    std::uint64_t addr;
    void* out;
    std::size_t len;
  };
  // Reads every range completely, or fails (with the errno of the read, where there was one).
  virtual Result<void> read(const std::vector<Range>& ranges) = 0;
};

// process_vm_readv on one pid.
class ProcessMemory : public MemoryReader {
 public:
  explicit ProcessMemory(int pid) : pid_(pid) {}
  Result<void> read(const std::vector<Range>& ranges) override;

 private:
  int pid_;
};

struct StreamTable {
  std::int64_t num_streams = 0;        // MultiStreamTCP.numStreams
  std::uint64_t data = 0;              // the slice's array pointer
  std::uint64_t length = 0;            // len(streams) as read
  std::vector<StreamFigures> streams;  // the first min(length, max_streams)
  std::optional<std::int32_t> active;  // MultiStreamTCP.activeStreams
  std::optional<bool> started;         // MultiStreamTCP.started
};

// Streams of one session read from userspace at most. (The BPF side reads the first
// DWCP_MAX_SESSION_STREAMS as Close returns; the agent reads the rest when it sees Close.)
constexpr std::size_t kMaxReadStreams = 1024;

// Reads one session's stream table; every length and pointer is checked before it is followed
// (the target is untrusted and may free the session meanwhile). The error says what was wrong.
Result<StreamTable> read_stream_table(MemoryReader& memory, const profile::SessionLayout& layout, std::uint64_t session,
                                      std::size_t max_streams = kMaxReadStreams);
// Reads streams [from, to) of a table's array (a slice saved before DWCP dropped it); the same
// checks as read_stream_table.
Result<std::vector<StreamFigures>> read_streams(MemoryReader& memory, const profile::SessionLayout& layout,
                                                std::uint64_t data, std::size_t from, std::size_t to);

// dwcp_observer_amst_* families: what the reading costs and where it fell short, per target pid.
class SessionMetrics {
 public:
  SessionMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  struct ForTarget {
    prometheus::Gauge* sessions;    // sessions tracked (live)
    prometheus::Gauge* readable;    // 1: per-stream counters are read; 0: layout missing/contradicted
    prometheus::Counter* reads_ok;  // stream table reads
    prometheus::Counter* reads_failed;
    prometheus::Counter* unreadable;  // sessions whose counters could not be read
    prometheus::Counter* truncated;   // sessions with more streams than are read (kMaxReadStreams)
    prometheus::Counter* reconnects;  // DWCP's own successful reconnects (StreamConn.reconnects)
    // Figures refused as no DWCP stream counts them (the session is read no more): a counter that
    // went down, or grew more between two reads than any link carries.
    prometheus::Counter* refused_decrease;
    prometheus::Counter* refused_jump;
    prometheus::Counter* untracked;  // streams not tracked: kMaxTrackedStreams reached
  };
  ForTarget target(std::uint32_t pid);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Gauge>* sessions_;
  prometheus::Family<prometheus::Gauge>* readable_;
  prometheus::Family<prometheus::Counter>* reads_;
  prometheus::Family<prometheus::Counter>* unreadable_;
  prometheus::Family<prometheus::Counter>* truncated_;
  prometheus::Family<prometheus::Counter>* reconnects_;
  prometheus::Family<prometheus::Counter>* refused_;
  prometheus::Family<prometheus::Counter>* untracked_;
};

// What a read may say of one stream before it is refused: a byte counter beyond kMaxStreamBytes
// (2^60, 36 years at 10 Gbit/s), or growth beyond kMaxGrowthPerRead (1 TiB) between two reads
// (200 ms apart) of a known stream, or a stream first seen in a session read before.
constexpr std::uint64_t kMaxStreamBytes = std::uint64_t{1} << 60;
constexpr std::uint64_t kMaxGrowthPerRead = std::uint64_t{1} << 40;
// Streams tracked per target across its sessions: a target that churns its stream pointers
// cannot grow the agent past this.
constexpr std::size_t kMaxTrackedStreams = 16384;

// The sessions of one target process. Used from the agent's consumer thread only.
class SessionTracker {
 public:
  // layout: null when the profile declares none or the binary's DWARF contradicts it; then the
  // tracker still keys streams by session but reads nothing (per-chunk probes, if any, count).
  SessionTracker(std::unique_ptr<MemoryReader> memory, std::optional<profile::SessionLayout> layout,
                 SessionMetrics::ForTarget metrics, log::Logger log);
  ~SessionTracker() { metrics_.sessions->Set(0); }  // the process is gone: it holds no session
  SessionTracker(const SessionTracker&) = delete;
  SessionTracker& operator=(const SessionTracker&) = delete;

  bool reads_counters() const { return layout_.has_value(); }

  // A probe carried `session` (its receiver). The first time: read its stream table, adopt the
  // streams it already holds (StreamsAdopted) and charge their bytes so far. `reopen`: a closed
  // session seen again is a new session at a reused address (false for Close's own events).
  // `by_start`: seen through Start's own event, which alone does not make it a started session.
  // `born_watched`: the event shows the session's first stream being created (or Start itself), so
  // every stream it holds was created while watched (the consistency check's baselines).
  void seen(std::uint64_t session, std::vector<Event>* out, bool reopen = true, bool by_start = false,
            bool born_watched = false);
  // DWCP_EV_STREAM_FINAL: one stream's figures as Close or AdjustStreams returns, read in BPF
  // through the table saved at the call's entry (array pointer `table`, length `table_length`;
  // streams past the first DWCP_MAX_SESSION_STREAMS are read by dropped()).
  void final_figures(std::uint64_t session, const StreamFigures& figures, std::uint64_t table,
                     std::uint64_t table_length, bool read_failed, std::vector<Event>* out);
  // Close returned: no more reads of this session (its memory may be freed from now on).
  void closed(std::uint64_t session, std::vector<Event>* out);
  // AdjustStreams or reconnectStream returned: the streams AdjustStreams closed got their finals;
  // read what the session holds now (new streams, a stream's new connection, activeStreams).
  void reread(std::uint64_t session, std::vector<Event>* out);
  // Start returned without error: the session counts from now on (where the layout has no
  // started flag to read).
  void started(std::uint64_t session);
  // Reads every live session's table and charges what its streams counted since the last read.
  void refresh(std::vector<Event>* out);

  // Sessions that are started and not closed.
  std::size_t live_sessions() const;
  // Streams remembered across the sessions (at most kMaxTrackedStreams).
  std::size_t tracked_streams() const { return tracked_streams_; }
  // Optional: told every stream's figures as read and every Close, to check them against the
  // kernel's socket counts (agent/stream_sockets.h). Not owned.
  void set_consistency(StreamConsistency* consistency) { consistency_ = consistency; }

 private:
  struct Stream {
    std::int64_t id = 0;
    std::uint64_t sent = 0, received = 0;
    std::int32_t reconnects = 0;
    std::uint64_t last_read = 0;  // the session read that last found it in the table
  };
  struct Session {
    bool closed = false;
    bool unreadable = false;
    bool started = false;
    bool born_watched = false;       // first seen by Start's own event: its streams were created while watched
    bool read_once = false;          // a table was read: streams new to a later read were created since
    std::uint64_t table_length = 0;  // at the last read
    std::uint64_t reads = 0;
    std::optional<std::int64_t> active;               // last ActiveStreams sent
    std::uint64_t saved_table = 0, saved_length = 0;  // from Close/AdjustStreams finals
    std::map<std::uint64_t, Stream> streams;          // by *StreamConn
  };
  // Charges figures against what was already charged for that stream (growth only); a stream
  // whose id changed is a new object at a reused address: charged from zero. Returns the stream,
  // or null when the figures were refused (the session is then marked unreadable) or the
  // stream could not be tracked.
  // `adopting`: the session's first read (streams open before the agent saw it, any figure).
  Stream* charge(std::uint64_t address, Session& session, const StreamFigures& figures, std::vector<Event>* out,
                 bool adopting);
  // The session's figures cannot be DWCP's: it is read no more, and that is counted.
  void refuse(std::uint64_t address, Session& session, prometheus::Counter* reason, const std::string& why);
  void erase_streams(Session& session);
  // The session's table; nullopt when it cannot be read (counted, and said once).
  std::optional<StreamTable> read(std::uint64_t address, Session& session);
  // A table just read: charge its streams, take the session's own figures, forget streams long gone.
  void take(std::uint64_t address, Session& session, const StreamTable& table, std::vector<Event>* out);
  // Streams past what BPF sent as finals, read through the saved table.
  void read_rest_of_saved(std::uint64_t address, Session& session, std::vector<Event>* out);
  void publish_sessions();
  void forget_old_closed();

  std::unique_ptr<MemoryReader> memory_;
  std::optional<profile::SessionLayout> layout_;
  SessionMetrics::ForTarget metrics_;
  log::Logger log_;
  bool logged_failure_ = false;
  bool logged_full_ = false;
  std::map<std::uint64_t, Session> sessions_;
  StreamConsistency* consistency_ = nullptr;
  std::deque<std::uint64_t> closed_order_;
  std::size_t tracked_streams_ = 0;  // sum of sessions_[*].streams.size()
  bool logged_refusal_ = false;
  bool logged_untracked_ = false;  // closed sessions kept a while: a second Close repeats finals
};

}  // namespace dwcp::agent
