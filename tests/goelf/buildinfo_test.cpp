// .go.buildinfo parser: both layouts, module-info lines, corrupt blobs.
#include <gtest/gtest.h>

#include <map>

#include "goelf/buildinfo.h"
#include "synthetic_tables.h"

using dwcp::goelf::BuildInfo;
using dwcp::goelf::ByteView;
using dwcp::goelf::MemoryReader;
using dwcp::goelf::parse_buildinfo;

namespace {

const MemoryReader kNoMemory = [](uint64_t, uint64_t) -> std::optional<ByteView> { return std::nullopt; };

void expect_sample(const BuildInfo& info) {
  EXPECT_EQ(info.main_path, "github.com/khryptorgraphics/novacron/backend/cmd/api-server");
  EXPECT_EQ(info.main_version, "v1.4.2");
  EXPECT_EQ(info.vcs_revision, "0123456789abcdef0123456789abcdef01234567");
  EXPECT_EQ(info.vcs_time, "2025-01-02T03:04:05Z");
  EXPECT_TRUE(info.vcs_modified);
  std::map<std::string, std::string> settings(info.settings.begin(), info.settings.end());
  EXPECT_EQ(settings["-ldflags"], "-s -w");
  EXPECT_EQ(settings["CGO_ENABLED"], "0");
}

TEST(BuildInfo, InlineLayoutOfGo118AndLater) {
  auto blob = goelf_test::build_inline_buildinfo("go1.22.5", goelf_test::sample_modinfo());
  auto info = parse_buildinfo(ByteView(blob.data(), blob.size()), kNoMemory);
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->go_version, "go1.22.5");
  expect_sample(*info);
}

TEST(BuildInfo, PointerLayoutBeforeGo118) {
  // Memory image at 0x500000: two Go string headers, then the string bytes.
  constexpr uint64_t kBase = 0x500000;
  const std::string version = "go1.16.15";
  const std::string modinfo = goelf_test::frame_modinfo(goelf_test::sample_modinfo());
  std::vector<uint8_t> memory(64 + version.size() + modinfo.size(), 0);
  goelf_test::put_u64(memory, 0, kBase + 64);
  goelf_test::put_u64(memory, 8, version.size());
  goelf_test::put_u64(memory, 16, kBase + 64 + version.size());
  goelf_test::put_u64(memory, 24, modinfo.size());
  std::memcpy(&memory[64], version.data(), version.size());
  std::memcpy(&memory[64 + version.size()], modinfo.data(), modinfo.size());
  MemoryReader reader = [&](uint64_t vaddr, uint64_t length) -> std::optional<ByteView> {
    if (vaddr < kBase) return std::nullopt;
    return ByteView(memory.data(), memory.size()).sub(vaddr - kBase, length);
  };

  std::vector<uint8_t> blob(32, 0);
  std::memcpy(blob.data(), "\xff Go buildinf:", 14);
  blob[14] = 8;
  blob[15] = 0;  // little-endian, pointer layout
  goelf_test::put_u64(blob, 16, kBase);
  goelf_test::put_u64(blob, 24, kBase + 16);
  auto info = parse_buildinfo(ByteView(blob.data(), blob.size()), reader);
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->go_version, "go1.16.15");
  expect_sample(*info);

  // A pointer that leads nowhere is an error, not a crash.
  goelf_test::put_u64(blob, 24, 0xdead0000);
  EXPECT_FALSE(parse_buildinfo(ByteView(blob.data(), blob.size()), reader));
  // The length of a string header pointing past the memory image.
  goelf_test::put_u64(blob, 24, kBase + 16);
  goelf_test::put_u64(memory, 24, uint64_t{1} << 62);
  EXPECT_FALSE(parse_buildinfo(ByteView(blob.data(), blob.size()), reader));
}

TEST(BuildInfo, ModinfoWithoutSentinelsIsIgnoredNotMisread) {
  std::vector<uint8_t> blob(32, 0);
  std::memcpy(blob.data(), "\xff Go buildinf:", 14);
  blob[14] = 8;
  blob[15] = 2;
  const std::string version = "go1.21.0", mod = "path\tx\n";  // too short to carry sentinels
  goelf_test::append_uvarint(blob, version.size());
  blob.insert(blob.end(), version.begin(), version.end());
  goelf_test::append_uvarint(blob, mod.size());
  blob.insert(blob.end(), mod.begin(), mod.end());
  auto info = parse_buildinfo(ByteView(blob.data(), blob.size()), kNoMemory);
  ASSERT_TRUE(info) << info.error();
  EXPECT_EQ(info->go_version, "go1.21.0");
  EXPECT_TRUE(info->main_path.empty());
}

TEST(BuildInfo, CorruptBlobsAreRefused) {
  const auto good = goelf_test::build_inline_buildinfo("go1.22.5", goelf_test::sample_modinfo());
  for (size_t length = 0; length < good.size(); ++length) {
    EXPECT_FALSE(parse_buildinfo(ByteView(good.data(), length), kNoMemory)) << "truncated to " << length;
  }
  auto bad_magic = good;
  bad_magic[1] = 'X';
  EXPECT_FALSE(parse_buildinfo(ByteView(bad_magic.data(), bad_magic.size()), kNoMemory));

  auto huge_length = good;
  // Replace the version length with a 10-byte uvarint that overflows 64 bits.
  huge_length.erase(huge_length.begin() + 32);
  const uint8_t overflow[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
  huge_length.insert(huge_length.begin() + 32, std::begin(overflow), std::end(overflow));
  EXPECT_FALSE(parse_buildinfo(ByteView(huge_length.data(), huge_length.size()), kNoMemory));
}

TEST(BuildInfo, ModinfoLines) {
  BuildInfo info;
  dwcp::goelf::parse_modinfo(
      "path\tp\nmod\tp\t(devel)\t\nbuild\tvcs.modified=false\ngarbage line\nbuild\tnoequals\nfuture\tthing\n", info);
  EXPECT_EQ(info.main_path, "p");
  EXPECT_EQ(info.main_version, "(devel)");
  EXPECT_FALSE(info.vcs_modified);
  ASSERT_EQ(info.settings.size(), 1u);
}

// DWCP's version is that of the module holding its package, wherever that module sits.
constexpr const char* kDwcp = "github.com/khryptorgraphics/novacron/backend/core/network/dwcp";

TEST(BuildInfo, DepsAndTheirReplacements) {
  BuildInfo info;
  // As `go version -m` shows dwcp-sender (tests/fixtures/dwcp-sender): a local replacement.
  dwcp::goelf::parse_modinfo(
      "path\texample.com/dwcp-sender\nmod\texample.com/dwcp-sender\t(devel)\t\n"
      "dep\tgithub.com/khryptorgraphics/novacron/backend/core\tv1.4.2\n=>\t../dwcp\t(devel)\t\n"
      "dep\tgolang.org/x/sys\tv0.1.0\th1:abc=\n",
      info);
  EXPECT_EQ(info.main_module, "example.com/dwcp-sender");
  ASSERT_EQ(info.deps.size(), 2u);
  EXPECT_EQ(info.deps[0].path, "github.com/khryptorgraphics/novacron/backend/core");
  EXPECT_EQ(info.deps[0].version, "v1.4.2");
  EXPECT_EQ(info.deps[0].replace_path, "../dwcp");
  EXPECT_EQ(info.deps[0].replace_version, "(devel)");
  EXPECT_EQ(info.deps[1].path, "golang.org/x/sys");
  EXPECT_EQ(info.deps[1].version, "v0.1.0");
  EXPECT_EQ(info.deps[1].replace_path, "");
  // The version it requires, not the main module's "(devel)" nor the Go version.
  EXPECT_EQ(dwcp::goelf::module_version_of(info, kDwcp), "v1.4.2");
  EXPECT_EQ(dwcp::goelf::module_version_of(info, "example.com/dwcp-sender"), "(devel)");
  EXPECT_EQ(dwcp::goelf::module_version_of(info, "example.com/other"), "");
}

TEST(BuildInfo, ModuleVersionOfThePackage) {
  auto version_of = [](const std::string& modinfo) {
    BuildInfo info;
    dwcp::goelf::parse_modinfo(modinfo, info);
    return dwcp::goelf::module_version_of(info, kDwcp);
  };
  // novacron's backend/core is the main module (the fixture, or a tagged build of it).
  EXPECT_EQ(version_of("mod\tgithub.com/khryptorgraphics/novacron/backend/core\tv1.5.0\th1:x=\n"), "v1.5.0");
  EXPECT_EQ(version_of("mod\tgithub.com/khryptorgraphics/novacron/backend/core\t(devel)\t\n"), "(devel)");
  // The api-server module depends on backend/core: the dep's version, not the main module's.
  EXPECT_EQ(version_of("mod\tgithub.com/khryptorgraphics/novacron/backend\tv2.0.0\t\n"
                       "dep\tgithub.com/khryptorgraphics/novacron/backend/core\tv1.4.2\th1:y=\n"),
            "v1.4.2");
  // Replaced by another module version: that version is what was built.
  EXPECT_EQ(version_of("mod\tm\t(devel)\t\ndep\tgithub.com/khryptorgraphics/novacron/backend/core\tv1.4.2\th1:y=\n"
                       "=>\tgithub.com/fork/core\tv1.4.3-fix\th1:z=\n"),
            "v1.4.3-fix");
  // A local replacement of the placeholder version names no version.
  EXPECT_EQ(version_of("mod\tm\t(devel)\t\n"
                       "dep\tgithub.com/khryptorgraphics/novacron/backend/core\tv0.0.0-00010101000000-000000000000\n"
                       "=>\t./core\t(devel)\t\n"),
            "");
  // A module whose path merely starts with the same letters does not hold the package.
  EXPECT_EQ(version_of("mod\tm\t(devel)\t\ndep\tgithub.com/khryptorgraphics/novacron/backend/co\tv9.9.9\t\n"), "");
  // No build info at all.
  EXPECT_EQ(version_of(""), "");
}

}  // namespace
