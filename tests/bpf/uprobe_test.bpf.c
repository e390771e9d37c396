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

// The registers of a hit, from the test run's arguments (uprobe_test.h).
static __always_inline struct pt_regs *regs_of(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 zero = 0;
	struct pt_regs *regs = bpf_map_lookup_elem(&test_regs, &zero);
	if (!regs)
		return 0;
	__builtin_memset(regs, 0, sizeof(*regs));
#if defined(__TARGET_ARCH_arm64)
	struct user_pt_regs *r = (struct user_pt_regs *)regs;
	for (int i = 0; i <= UT_REG8; i++)
		r->regs[i] = ctx->args[i];
	r->sp = ctx->args[UT_ARG_SP];
	r->regs[28] = ctx->args[UT_ARG_G];
#else
	regs->ax = ctx->args[UT_REG0];
	regs->bx = ctx->args[UT_REG1];
	regs->cx = ctx->args[UT_REG2];
	regs->di = ctx->args[UT_REG3];
	regs->si = ctx->args[UT_REG4];
	regs->r8 = ctx->args[UT_REG5];
	regs->r9 = ctx->args[UT_REG6];
	regs->r10 = ctx->args[UT_REG7];
	regs->r11 = ctx->args[UT_REG8];
	regs->sp = ctx->args[UT_ARG_SP];
	regs->r14 = ctx->args[UT_ARG_G];
#endif
	return regs;
}

// The handler on the scratch slot the test names.
SEC("raw_tp")
int run_uprobe(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = regs_of(ctx);
	if (!regs)
		return 1;
	__u64 spec = ctx->args[UT_ARG_SPEC];
	return handle_uprobe(regs, (__u32)spec, (__u32)(spec >> 32) % SCRATCH_SLOTS);
}

// The handler as the uprobe programs run it: on this CPU's next scratch slot (nesting).
SEC("raw_tp")
int run_uprobe_nested(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = regs_of(ctx);
	if (!regs)
		return 1;
	return handle_nested(regs, (__u32)ctx->args[UT_ARG_SPEC]);
}
