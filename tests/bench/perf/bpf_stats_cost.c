// bpf_stats_cost: what the kernel's BPF run-time statistics cost every BPF program run on the
// host (docs/performance.md, "The agent's own cost"): ns per run of an empty socket filter
// (BPF_PROG_TEST_RUN, 1,000,000 runs) with statistics off, then on (a BPF_ENABLE_STATS fd held
// by this program), 5 alternating rounds. Statistics are global: "off" is only off while no other
// process holds such an fd (a running dwcp-observer does) and kernel.bpf_stats_enabled is 0;
// the program says so when it cannot be off. Root.
//
// build, from the source tree: gcc -O2 -o bpf_stats_cost tests/bench/perf/bpf_stats_cost.c -lbpf
#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double ns_per_run(int prog, int repeat) {
  char data[64] = {0};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data, .data_size_in = sizeof data, .repeat = repeat);
  if (bpf_prog_test_run_opts(prog, &opts)) {
    perror("test_run");
    return -1;
  }
  return opts.duration;  // mean ns per run
}

int main(int argc, char** argv) {
  struct bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT},
  };
  int prog = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "empty", "GPL", insns, 2, NULL);
  if (prog < 0) {
    perror("load");
    return 1;
  }
  const int repeat = 1000000;
  FILE* sysctl = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
  if (sysctl && fgetc(sysctl) == '1') fprintf(stderr, "kernel.bpf_stats_enabled=1: \"off\" is on too\n");
  if (sysctl) fclose(sysctl);
  if (system("pgrep -x dwcp-observer >/dev/null") == 0)
    fprintf(stderr, "a dwcp-observer runs (it holds BPF_ENABLE_STATS): \"off\" is on too\n");
  for (int round = 0; round < 5; ++round) {
    double off = ns_per_run(prog, repeat);
    int fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (fd < 0) {
      perror("enable_stats");
      return 1;
    }
    double on = ns_per_run(prog, repeat);
    close(fd);
    printf("round %d: stats off %.1f ns/run, on %.1f ns/run, difference %.1f ns\n", round, off, on, on - off);
  }
  return 0;
}
