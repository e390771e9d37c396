// Writes the synthetic seed inputs of the goelf fuzzers: pclntabs in every header format,
// .go.buildinfo blobs in both layouts, small Go-like ELF files, and machine code.
// Usage: make_seeds OUTDIR   (creates OUTDIR/<fuzzer>/...)
#include <sys/stat.h>
#include <fstream>
#include <iostream>
#include <string>

#include "synthetic_tables.h"

namespace {

void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds OUTDIR\n";
    return 2;
  }
  const std::string out = argv[1];
  for (const char* dir : {"", "/fuzz_pclntab", "/fuzz_buildinfo", "/fuzz_go_binary", "/fuzz_ret_finder"}) {
    ::mkdir((out + dir).c_str(), 0755);
  }
  const auto& functions = goelf_test::synthetic_elf_functions();
  const uint64_t end = goelf_test::kSyntheticText + 3 * goelf_test::kSyntheticFunctionSize;
  const uint64_t text = goelf_test::kSyntheticText;
  write(out + "/fuzz_pclntab/go116", goelf_test::build_pclntab(0xfffffffa, text, 0, functions, end));
  write(out + "/fuzz_pclntab/go118", goelf_test::build_pclntab(0xfffffff0, text, text, functions, end));
  write(out + "/fuzz_pclntab/go120", goelf_test::build_pclntab(0xfffffff1, text, text, functions, end));
  write(out + "/fuzz_pclntab/go126", goelf_test::build_pclntab(0xfffffff1, text, 0, functions, end));

  write(out + "/fuzz_buildinfo/inline", goelf_test::build_inline_buildinfo("go1.22.5", goelf_test::sample_modinfo()));
  {
    // Pointer layout, with the memory image being the blob itself (mapped at 0).
    const std::string version = "go1.16.15";
    const std::string mod = goelf_test::frame_modinfo(goelf_test::sample_modinfo());
    std::vector<uint8_t> blob(64, 0);
    std::memcpy(blob.data(), "\xff Go buildinf:", 14);
    blob[14] = 8;
    goelf_test::put_u64(blob, 16, 32);
    goelf_test::put_u64(blob, 24, 48);
    goelf_test::put_u64(blob, 32, 64);
    goelf_test::put_u64(blob, 40, version.size());
    goelf_test::put_u64(blob, 48, 64 + version.size());
    goelf_test::put_u64(blob, 56, mod.size());
    blob.insert(blob.end(), version.begin(), version.end());
    blob.insert(blob.end(), mod.begin(), mod.end());
    write(out + "/fuzz_buildinfo/pointers", blob);
  }

  const struct {
    uint32_t magic;
    const char* name;
  } formats[] = {{0xfffffffa, "go116"}, {0xfffffff0, "go118"}, {0xfffffff1, "go120"}, {0, "go126"}};
  for (const auto& format : formats) {
    write(out + "/fuzz_go_binary/" + format.name + "_symtab", goelf_test::build_elf(format.magic, true));
    write(out + "/fuzz_go_binary/" + format.name + "_stripped", goelf_test::build_elf(format.magic, false));
  }

  write(out + "/fuzz_ret_finder/two_rets", {0x48, 0x85, 0xc0, 0x74, 0x06, 0xb8, 0xc3, 0x00, 0x00, 0x00, 0xc3, 0x48,
                                            0xc7, 0xc1, 0xc3, 0xc3, 0xc3, 0x00, 0xc2, 0x08, 0x00, 0xcc, 0xcc});
  write(out + "/fuzz_ret_finder/prefixed", {0x90, 0xf3, 0xc3, 0x90, 0xf2, 0xc3, 0xcb, 0x48, 0xcf});
  return 0;
}
