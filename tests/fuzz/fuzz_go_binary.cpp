// libFuzzer target: the whole ELF path — headers, .symtab, notes, .go.buildinfo, pclntab
// location and text-start resolution, function lookup, RET decoding — on arbitrary bytes.
// Invariants that would mean a wrong uprobe offset are turned into crashes.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "goelf/go_binary.h"

using dwcp::goelf::GoBinary;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto binary = GoBinary::from_bytes(std::vector<uint8_t>(data, data + size), "fuzz");
  if (!binary) return 0;
  (void)binary->build_id();
  (void)binary->build_info();
  const auto names = binary->function_names();
  size_t tried = 0;
  for (const auto& name : names) {
    if (tried++ == 16) break;
    auto fn = binary->find_function(name);
    if (!fn) continue;
    // A resolved function is file-backed code inside the input.
    if (fn->size == 0 || fn->file_offset > size || fn->size > size - fn->file_offset) abort();
    auto rets = binary->ret_offsets(*fn);
    if (!rets) continue;
    for (uint64_t ret : *rets) {
      if (ret < fn->file_offset || ret >= fn->file_offset + fn->size) abort();
    }
  }
  (void)binary->find_function("main.main.not.there");  // the not-found path builds suggestions
  return 0;
}
