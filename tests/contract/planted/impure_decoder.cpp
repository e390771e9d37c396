// Planted for decoder_is_pure_planted: a decoder that could read the target (must be refused).
#include "agent/decoder.h"
#include "agent/stream_reader.h"
