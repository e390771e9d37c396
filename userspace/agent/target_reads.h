// Carries out the decoder's read requests (agent/decoder.h) on one target's readers, in order
// with the decoder's own events: the one place where decoding meets the target's memory. The
// decoder stays pure; this step reads (process_vm_readv) through the trackers.
#pragma once

#include <vector>

#include "agent/decoder.h"
#include "agent/encoder_reader.h"
#include "agent/stream_reader.h"
#include "dwcp_observer/model.h"

namespace dwcp::agent {

// Appends to `out`, in order, each decoded model event and what each read request finds. A
// request for a reader the target does not have (null) is dropped.
void carry_out(const std::vector<Decoded>& decoded, SessionTracker* sessions, EncoderTracker* encoders,
               std::vector<Event>* out);

}  // namespace dwcp::agent
