#include "agent/bpf_stats.h"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dwcp::agent {

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

Result<std::unique_ptr<BpfStatsSession>> BpfStatsSession::enable() {
  int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) {
    Error error = Error::system("cannot enable BPF run-time stats (BPF_ENABLE_STATS, kernel 5.8+)");
    if (error.code == EPERM) error.message += " — needs CAP_SYS_ADMIN; or set `sysctl kernel.bpf_stats_enabled=1`";
    return error;
  }
  return std::unique_ptr<BpfStatsSession>(new BpfStatsSession(Fd(fd)));
}

Result<ProgramRunStats> read_program_run_stats(int prog_fd) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return Error::system("cannot read BPF program info");
  return ProgramRunStats{info.run_time_ns, info.run_cnt};
}

double ns_per_run(const ProgramRunStats& before, const ProgramRunStats& after) {
  if (after.run_count <= before.run_count || after.run_time_ns < before.run_time_ns) return 0;
  return static_cast<double>(after.run_time_ns - before.run_time_ns) /
         static_cast<double>(after.run_count - before.run_count);
}

}  // namespace dwcp::agent
