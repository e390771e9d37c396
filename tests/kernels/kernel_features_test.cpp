#include "agent/kernel_features.h"

#include <gtest/gtest.h>

#include "agent/listeners.h"
#include "agent/load_base.h"

namespace dwcp::agent {
namespace {

KernelFeatures debian(const std::string& release, bool sock_length, int recvmsg_params, bool cookie, bool multi) {
  KernelFeatures f;
  f.release = release;
  f.btf = true;
  for (const auto& tp : tcp_tracepoints()) f.tracepoints.insert(tp);
  for (const auto& tp : process_tracepoints()) f.tracepoints.insert(tp);
  if (sock_length) f.tracepoints.insert({"sock_send_length", "sock_recv_length"});
  f.fexit_tcp = true;
  f.tcp_recvmsg_params = recvmsg_params;
  f.attach_cookie = cookie;
  f.uprobe_multi = multi;
  return f;
}

std::string mechanisms(const KernelPlan& plan) {
  std::string out;
  for (const auto& [feature, mechanism] : feature_mechanisms(plan)) out += feature + "=" + mechanism + " ";
  return out;
}

TEST(KernelPlan, Debian11Gets_FexitWithNonblockVariant_AddressSpecs_ClassicUprobes) {
  const auto plan = plan_kernel(debian("5.10.0-32-amd64", false, 6, false, false));
  EXPECT_EQ(plan.socket_bytes, SocketBytes::kFexit);
  EXPECT_TRUE(plan.recvmsg_nonblock);
  EXPECT_EQ(
      mechanisms(plan),
      "socket_bytes=fexit_tcp_sendmsg_recvmsg probe_spec=address_map uprobe_link=classic discovery=exec_tracepoint ");
  EXPECT_EQ(describe_plan("5.10.0-32-amd64", plan),
            "kernel 5.10.0-32-amd64: socket bytes from fexit tcp_sendmsg/tcp_recvmsg; probe specs by address "
            "(no attach cookies); classic uprobes; process execs from sched_process_exec");
}

TEST(KernelPlan, Debian12Gets_FexitWithoutNonblock_Cookies_ClassicUprobes) {
  const auto plan = plan_kernel(debian("6.1.0-50-amd64", false, 5, true, false));
  EXPECT_EQ(plan.socket_bytes, SocketBytes::kFexit);
  EXPECT_FALSE(plan.recvmsg_nonblock);
  EXPECT_EQ(
      mechanisms(plan),
      "socket_bytes=fexit_tcp_sendmsg_recvmsg probe_spec=attach_cookie uprobe_link=classic discovery=exec_tracepoint ");
}

TEST(KernelPlan, Debian13AndLaterGetEverything) {
  const auto plan = plan_kernel(debian("6.12.117+deb13-amd64", true, 5, true, true));
  EXPECT_EQ(mechanisms(plan),
            "socket_bytes=sock_length_tracepoints probe_spec=attach_cookie uprobe_link=uprobe_multi "
            "discovery=exec_tracepoint ");
  EXPECT_TRUE(plan.missing_tracepoints.empty());
}

TEST(KernelPlan, UprobeMultiWithoutCookiesUsesClassicUprobesWithTheAddressMap) {
  const auto plan = plan_kernel(debian("6.6.0", true, 5, false, true));
  EXPECT_EQ(plan.probe_spec, ProbeSpecSource::kAddress);
  EXPECT_EQ(plan.uprobe_links, UprobeLinks::kClassic);
}

TEST(KernelPlan, NoTracepointsAndNoTrampolinesMeansNoSocketBytesWithTheReason) {
  auto f = debian("6.1.0", false, 5, true, false);
  f.fexit_tcp = false;
  const auto plan = plan_kernel(f);
  EXPECT_EQ(plan.socket_bytes, SocketBytes::kNone);
  EXPECT_NE(describe_plan(f.release, plan).find("no fexit on tcp_sendmsg"), std::string::npos);
  f.fexit_tcp = true;
  f.tcp_recvmsg_params = 7;  // an unknown signature: never guess the argument order
  EXPECT_EQ(plan_kernel(f).socket_bytes, SocketBytes::kNone);
}

TEST(KernelPlan, MissingTcpTracepointIsNamedAndOnlyThatOneIsOff) {
  auto f = debian("6.1.0", true, 5, true, true);
  f.tracepoints.erase("tcp_probe");
  const auto plan = plan_kernel(f);
  EXPECT_EQ(plan.missing_tracepoints, std::vector<std::string>{"tcp_probe"});
  EXPECT_EQ(plan.socket_bytes, SocketBytes::kTracepoints);
  EXPECT_NE(describe_plan(f.release, plan).find("tracepoints missing (their counters stay 0): tcp_probe"),
            std::string::npos);
}

TEST(KernelRefusal, NamesExactlyWhatIsMissing) {
  auto f = debian("5.10.0-32-amd64", false, 6, false, false);
  EXPECT_TRUE(kernel_refusal(f));
  f.btf = false;
  ASSERT_FALSE(kernel_refusal(f));
  EXPECT_NE(kernel_refusal(f).error().find("no BTF"), std::string::npos);
  EXPECT_EQ(kernel_refusal(f).error().find("older"), std::string::npos);
  f = debian("5.4.0-150-generic", false, 6, false, false);
  ASSERT_FALSE(kernel_refusal(f));
  EXPECT_NE(kernel_refusal(f).error().find("5.4.0-150-generic is older than 5.10"), std::string::npos);
  EXPECT_EQ(kernel_refusal(f).error().find("BTF ("), std::string::npos) << "BTF is there: do not blame it";
  EXPECT_EQ(kernel_version("7.2.12+deb14-amd64"), std::make_pair(7, 2));
  EXPECT_EQ(kernel_version("garbage"), std::make_pair(0, 0));
}

TEST(MapReads, NeedCapBpfBefore519WhenUnprivilegedBpfIsDisabled) {
  EXPECT_TRUE(map_reads_need_cap_bpf("5.10.0-32-amd64", 2));
  EXPECT_TRUE(map_reads_need_cap_bpf("5.18.0", 1));
  EXPECT_TRUE(map_reads_need_cap_bpf("5.15.0", -1)) << "unreadable sysctl: assume the worst";
  EXPECT_FALSE(map_reads_need_cap_bpf("5.10.0-32-amd64", 0));
  EXPECT_FALSE(map_reads_need_cap_bpf("5.19.0", 2));
  EXPECT_FALSE(map_reads_need_cap_bpf("6.1.0-50-amd64", 2));
}

TEST(KernelPlan, PerChunkProbesAreRefusedFrom7AndNamedInTheLogLine) {
  // As probe_kernel_features() fills it: not vouched for from 7.0 (docs/kernels.md).
  EXPECT_TRUE(per_chunk_probes_vouched("5.10.0-32-amd64"));
  EXPECT_TRUE(per_chunk_probes_vouched("6.12.117+deb13-amd64"));
  EXPECT_TRUE(per_chunk_probes_vouched("6.18.44-fc-v1098"));
  EXPECT_FALSE(per_chunk_probes_vouched("7.0.0"));
  EXPECT_FALSE(per_chunk_probes_vouched("7.2.12+deb14-amd64"));
  EXPECT_FALSE(per_chunk_probes_vouched("8.1.0"));

  auto f = debian("7.2.12+deb14-amd64", true, 5, true, true);
  f.per_chunk_probes = per_chunk_probes_vouched(f.release);
  const auto plan = plan_kernel(f);
  EXPECT_TRUE(plan.refuse_per_chunk_probes);
  EXPECT_NE(describe_plan(f.release, plan).find("; per-chunk probes (send_chunk, receive_chunk) refused: "),
            std::string::npos);
  // The other jobs' mechanisms are those of any kernel that has everything.
  EXPECT_EQ(mechanisms(plan),
            "socket_bytes=sock_length_tracepoints probe_spec=attach_cookie uprobe_link=uprobe_multi "
            "discovery=exec_tracepoint ");

  f.allow_unvouched_per_chunk_probes = true;  // DWCP_OBSERVER_PER_CHUNK_PROBES=allow
  const auto allowed = plan_kernel(f);
  EXPECT_FALSE(allowed.refuse_per_chunk_probes);
  EXPECT_NE(describe_plan(f.release, allowed).find("; per-chunk probes allowed by DWCP_OBSERVER_PER_CHUNK_PROBES"),
            std::string::npos);

  const auto older = plan_kernel(debian("6.12.117+deb13-amd64", true, 5, true, true));
  EXPECT_FALSE(older.refuse_per_chunk_probes);
  EXPECT_EQ(describe_plan("6.12.117+deb13-amd64", older).find("per-chunk"), std::string::npos);
}

TEST(KernelPlan, OnlyTheDebugProfilesPerChunkEventsArePerChunk) {
  EXPECT_TRUE(is_per_chunk_event("send_chunk"));
  EXPECT_TRUE(is_per_chunk_event("receive_chunk"));
  for (const char* event : {"send", "receive", "session_start", "stream_open", "session_close", "reconnect", ""})
    EXPECT_FALSE(is_per_chunk_event(event)) << event;
}

TEST(DisableFeatures, ForcesTheFallbacksAndReportsUnknownNames) {
  auto f = debian("6.18.0", true, 5, true, true);
  std::vector<std::string> unknown;
  disable_features(&f, "attach_cookie,uprobe_multi,,sock_length,bogus", &unknown);
  EXPECT_EQ(unknown, std::vector<std::string>{"bogus"});
  EXPECT_EQ(
      mechanisms(plan_kernel(f)),
      "socket_bytes=fexit_tcp_sendmsg_recvmsg probe_spec=address_map uprobe_link=classic discovery=exec_tracepoint ");
  disable_features(&f, "fexit", &unknown);
  EXPECT_EQ(plan_kernel(f).socket_bytes, SocketBytes::kNone);
  // Without the process tracepoints discovery keeps scanning /proc (the programs are switched off).
  EXPECT_TRUE(plan_kernel(f).exec_events);
  disable_features(&f, "exec_events", &unknown);
  EXPECT_FALSE(plan_kernel(f).exec_events);
  EXPECT_NE(mechanisms(plan_kernel(f)).find("discovery=proc_scan"), std::string::npos);
  EXPECT_NE(describe_plan(f.release, plan_kernel(f)).find("; process execs by /proc scans only"), std::string::npos);
  EXPECT_FALSE(plan_kernel(f).refuse_per_chunk_probes);
  disable_features(&f, "per_chunk_probes", &unknown);  // the 7.x refusal, tested on any kernel
  EXPECT_TRUE(plan_kernel(f).refuse_per_chunk_probes);
  EXPECT_EQ(unknown, std::vector<std::string>{"bogus"});
}

const char* kMaps =
    "00400000-00401000 r--p 00000000 fe:01 1234567                            /opt/dwcp/api-server\n"
    "00401000-00a00000 r-xp 00001000 fe:01 1234567                            /opt/dwcp/api-server\n"
    "00a00000-00c00000 r--p 00600000 fe:01 1234567                            /opt/dwcp/api-server\n"
    "c000000000-c000400000 rw-p 00000000 00:00 0 \n"
    "55d0c0000000-55d0c0100000 r--p 00000000 00:2a 777                        /usr/bin/pie (deleted)\n"
    "55d0c0100000-55d0c0800000 r-xp 00100000 00:2a 777                        /usr/bin/pie (deleted)\n"
    "garbage line\n"
    "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n";

TEST(LoadBase, NonPieAddressIsMappingStartMinusOffsetPlusFileOffset) {
  const auto maps = parse_maps(kMaps);
  ASSERT_EQ(maps.size(), 7u);
  EXPECT_EQ(maps[1].path, "/opt/dwcp/api-server");
  EXPECT_TRUE(maps[1].exec);
  EXPECT_EQ(file_offset_to_vaddr(maps, "/opt/dwcp/api-server", 0, 0x12345), 0x412345u);
}

TEST(LoadBase, PieFoundByInodeWhenThePathDiffers) {
  const auto maps = parse_maps(kMaps);
  // Through an overlay (a container, the kernel matrix's guests) maps may show another path.
  EXPECT_EQ(file_offset_to_vaddr(maps, "/somewhere/else", 777, 0x100040), 0x55d0c0100040u);
  EXPECT_EQ(file_offset_to_vaddr(maps, "/somewhere/else", 778, 0x100040), std::nullopt);
  EXPECT_EQ(file_offset_to_vaddr(maps, "/opt/dwcp/api-server", 0, 0x10000000), std::nullopt) << "beyond the file";
}

TEST(LoadBase, BoundedInput) {
  std::string many;
  for (int i = 0; i < 100; ++i) many += kMaps;
  EXPECT_EQ(parse_maps(many, 50).size(), 50u);
}

TEST(Listeners, OnlyListeningRowsWithTheirPortAndInode) {
  const std::string tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 "
      "0\n"
      "   1: 0100007F:1F90 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 4 30 10 "
      "-1\n"
      "   2: broken\n";
  const std::string tcp6 =
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr "
      "tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000000000000000000001000000:A411 00000000000000000000000000000000:0000 0A 00000000:00000000 "
      "00:00000000 00000000  1000        0 99 1 0 100 0 0 10 0\n";
  const auto v4 = parse_listeners(tcp);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].port, 8080);
  EXPECT_EQ(v4[0].inode, 4242u);
  const auto v6 = parse_listeners(tcp6);
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].port, 0xA411);
  EXPECT_EQ(v6[0].inode, 99u);
}

}  // namespace
}  // namespace dwcp::agent
