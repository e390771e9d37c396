#include "agent/target_reads.h"

namespace dwcp::agent {
namespace {

struct Carry {
  SessionTracker* sessions;
  EncoderTracker* encoders;
  std::vector<Event>* out;

  void operator()(const Event& e) const { out->push_back(e); }
  void operator()(const read::SessionSeen& r) const {
    if (sessions) sessions->seen(r.session, out, r.reopen, r.by_start, r.born_watched);
  }
  void operator()(const read::SessionStarted& r) const {
    if (sessions) sessions->started(r.session);
  }
  void operator()(const read::SessionChanged& r) const {
    if (sessions) sessions->reread(r.session, out);
  }
  void operator()(const read::SessionEnded& r) const {
    if (sessions) sessions->closed(r.session, out);
  }
  void operator()(const read::StreamFinal& r) const {
    if (sessions) sessions->final_figures(r.session, r.figures, r.table, r.table_length, r.read_failed, out);
  }
  void operator()(const read::EncoderSeen& r) const {
    if (encoders) encoders->seen(r.encoder, out);
  }
};

}  // namespace

void carry_out(const std::vector<Decoded>& decoded, SessionTracker* sessions, EncoderTracker* encoders,
               std::vector<Event>* out) {
  const Carry carry{sessions, encoders, out};
  for (const Decoded& d : decoded) std::visit(carry, d);
}

}  // namespace dwcp::agent
