// libFuzzer target: the DWARF path — goelf's check of the compressed sections' declared sizes,
// then libdw over whatever passes — on arbitrary files. libdw reads a file descriptor, so each
// input is written to a memfd. The cap (kMaxInflatedDebugBytes) is what keeps one input from
// inflating GiBs: -rss_limit_mb catches a way around it.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "goelf/dwarf_types.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("fuzz-dwarf", MFD_CLOEXEC);
  if (fd < 0) abort();
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) abort();
    done += static_cast<size_t>(n);
  }
  auto types = dwcp::goelf::DwarfTypes::open("/proc/self/fd/" + std::to_string(fd));
  if (types) (void)types->field_offset("main.T", "a.b");
  ::close(fd);
  return 0;
}
