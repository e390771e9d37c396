// SPDX-License-Identifier: GPL-2.0-only
//
// The BPF unit tier's test object: the observer's uprobe handler (bpf/uprobe_handler.bpf.h, the
// same inline code the uprobe programs run, on the same maps) behind a raw_tp program, so that
// BPF_PROG_TEST_RUN can drive it with synthetic registers (uprobe_test.h). Under a test run the
// current task is the test process: pointers in those registers point at memory it prepared.
#include "uprobe_handler.bpf.h"

#include "uprobe_test.h"

char LICENSE[] SEC("license") = "GPL";

// The registers handed to handle_uprobe: a pt_regs as a uprobe would see it (too big for the
// stack next to the handler's own use).
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pt_regs);
} test_regs SEC(".maps");

SEC("raw_tp")
int run_uprobe(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 zero = 0;
	struct pt_regs *regs = bpf_map_lookup_elem(&test_regs, &zero);
	if (!regs)
		return 1;
	__builtin_memset(regs, 0, sizeof(*regs));
	regs->ax = ctx->args[DWCP_REG_RAX];
	regs->bx = ctx->args[DWCP_REG_RBX];
	regs->cx = ctx->args[DWCP_REG_RCX];
	regs->di = ctx->args[DWCP_REG_RDI];
	regs->si = ctx->args[DWCP_REG_RSI];
	regs->r8 = ctx->args[DWCP_REG_R8];
	regs->r9 = ctx->args[DWCP_REG_R9];
	regs->r10 = ctx->args[DWCP_REG_R10];
	regs->r11 = ctx->args[DWCP_REG_R11];
	regs->sp = ctx->args[UT_ARG_SP];
	regs->r14 = ctx->args[UT_ARG_G];
	__u64 spec = ctx->args[UT_ARG_SPEC];
	return handle_uprobe(regs, (__u32)spec, (__u32)(spec >> 32) % SCRATCH_SLOTS);
}
