#include "agent/executable.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <tuple>
#include <vector>

namespace dwcp::agent {
namespace {

std::int64_t ns(std::int64_t sec, std::int64_t nsec) { return sec * 1000000000 + nsec; }

FileIdentity from_stat(const struct stat& st) {
  FileIdentity id;
  id.dev = st.st_dev;
  id.ino = st.st_ino;
  id.size = static_cast<std::uint64_t>(st.st_size);
  id.mtime_ns = ns(st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  id.ctime_ns = ns(st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
  id.owner = st.st_uid;
  id.mode = st.st_mode;
  return id;
}

bool read_exact(int fd, void* out, std::size_t size, std::uint64_t offset) {
  auto* bytes = static_cast<char*>(out);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = pread(fd, bytes + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

template <class T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // x86-64 only (little-endian), like the rest of goelf
  return v;
}

// Bounds of the sniff: real Go binaries have ~30 sections and a name table of a few hundred bytes.
constexpr std::size_t kMaxSections = 1024;
constexpr std::size_t kMaxNameTable = 64 * 1024;

}  // namespace

bool FileIdentity::operator<(const FileIdentity& o) const {
  return std::tie(dev, ino, size, mtime_ns, ctime_ns) < std::tie(o.dev, o.ino, o.size, o.mtime_ns, o.ctime_ns);
}

std::optional<FileIdentity> peek_executable(int pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/exe";
  struct statx stx {};
  if (statx(AT_FDCWD, path.c_str(), AT_STATX_DONT_SYNC,
            STATX_TYPE | STATX_MODE | STATX_UID | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME | STATX_MNT_ID,
            &stx) != 0)
    return std::nullopt;
  FileIdentity id;
  id.dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
  id.ino = stx.stx_ino;
  id.size = stx.stx_size;
  id.mtime_ns = ns(stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec);
  id.ctime_ns = ns(stx.stx_ctime.tv_sec, stx.stx_ctime.tv_nsec);
  id.owner = stx.stx_uid;
  id.mode = stx.stx_mode;
  if (stx.stx_mask & STATX_MNT_ID) id.mnt_id = stx.stx_mnt_id;
  return id;
}

std::string mount_type(int pid, std::uint64_t mnt_id) {
  // "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue": the type
  // is the first field after the " - " separator (proc(5)).
  std::ifstream in("/proc/" + std::to_string(pid) + "/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::uint64_t id = 0;
    if (!(fields >> id) || id != mnt_id) continue;
    const auto dash = line.find(" - ");
    if (dash == std::string::npos) return "";
    std::istringstream rest(line.substr(dash + 3));
    std::string type;
    rest >> type;
    return type;
  }
  return "";
}

bool trusted_fs_type(const std::string& type) {
  static const char* const kTrusted[] = {"ext2",  "ext3",  "ext4",   "xfs",     "btrfs",    "f2fs", "zfs",
                                         "tmpfs", "ramfs", "rootfs", "overlay", "squashfs", "erofs"};
  for (const char* t : kTrusted)
    if (type == t) return true;
  return false;
}

bool trusted_fs_magic(std::uint64_t f_type) {
  // Those of trusted_fs_type (ext2/3/4 share one; ZFS has none in linux/magic.h).
  static const std::uint64_t kTrusted[] = {
      EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC, BTRFS_SUPER_MAGIC,     F2FS_SUPER_MAGIC, 0x2fc12fc1 /* zfs */,
      TMPFS_MAGIC,      RAMFS_MAGIC,     OVERLAYFS_SUPER_MAGIC, SQUASHFS_MAGIC,   EROFS_SUPER_MAGIC_V1};
  for (std::uint64_t t : kTrusted)
    if (f_type == t) return true;
  return false;
}

std::shared_ptr<const ExecutableFile> ExecutableFile::adopt(int fd, const FileIdentity& identity) {
  return std::shared_ptr<const ExecutableFile>(new ExecutableFile(fd, identity));
}

Result<std::shared_ptr<const ExecutableFile>> ExecutableFile::open(int pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/exe";
  // O_NOFOLLOW does not apply: /proc/PID/exe is the kernel's own link to the mapped file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Error{"cannot open " + path + ": " + std::strerror(errno)};
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Error{"cannot stat " + path + ": " + std::strerror(err)};
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Error{path + " is not a regular file"};
  }
  return std::shared_ptr<const ExecutableFile>(new ExecutableFile(fd, from_stat(st)));
}

ExecutableFile::~ExecutableFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ExecutableFile::path() const { return "/proc/self/fd/" + std::to_string(fd_); }

bool elf_looks_like_go(int fd, std::uint64_t size) {
  unsigned char header[64];
  if (!read_exact(fd, header, sizeof header, 0)) return false;
  if (std::memcmp(header,
                  "\x7f"
                  "ELF",
                  4) != 0 ||
      header[4] != 2 /* 64-bit */ || header[5] != 1 /* LE */)
    return false;
  const auto shoff = load<std::uint64_t>(header + 0x28);
  const auto shentsize = load<std::uint16_t>(header + 0x3a);
  const auto shnum = load<std::uint16_t>(header + 0x3c);
  const auto shstrndx = load<std::uint16_t>(header + 0x3e);
  if (shentsize != 64 || shnum == 0 || shnum > kMaxSections || shstrndx >= shnum) return false;
  if (shoff > size || shnum * 64ull > size - shoff) return false;
  std::vector<unsigned char> table(shnum * 64ull);
  if (!read_exact(fd, table.data(), table.size(), shoff)) return false;
  const unsigned char* names_header = table.data() + shstrndx * 64ull;
  const auto names_offset = load<std::uint64_t>(names_header + 0x18);
  const auto names_size = load<std::uint64_t>(names_header + 0x20);
  if (names_size == 0 || names_size > kMaxNameTable || names_offset > size || names_size > size - names_offset)
    return false;
  std::vector<char> names(names_size + 1, '\0');  // terminated even when the table is not
  if (!read_exact(fd, names.data(), names_size, names_offset)) return false;
  for (std::size_t i = 0; i < shnum; ++i) {
    const auto name = load<std::uint32_t>(table.data() + i * 64);
    if (name >= names_size) continue;
    const std::string_view section(names.data() + name);
    if (section == ".go.buildinfo" || section == ".gopclntab" || section == ".note.go.buildid") return true;
  }
  return false;
}

}  // namespace dwcp::agent
