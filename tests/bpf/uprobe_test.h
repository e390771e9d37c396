/* SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
 * The context of the BPF unit tier's raw_tp wrapper (uprobe_test.bpf.c), shared with its
 * GoogleTest driver: BPF_PROG_TEST_RUN passes up to 12 u64 arguments to a raw_tp program, which
 * hold a uprobe hit's registers as Go's ABIInternal sees them. */
#ifndef DWCP_TESTS_BPF_UPROBE_TEST_H
#define DWCP_TESTS_BPF_UPROBE_TEST_H

/* Arguments 0..8: the first nine Go integer argument registers in assignment order (dwcp_go_reg
 * indices 0..8: amd64 RAX RBX RCX RDI RSI R8 R9 R10 R11, arm64 R0..R8). arm64's R9..R15 are
 * not driven here (no room in the 12 arguments); the guest's ground truth reads what they hold. */
enum ut_reg { UT_REG0 = 0, UT_REG1, UT_REG2, UT_REG3, UT_REG4, UT_REG5, UT_REG6, UT_REG7, UT_REG8 };
#define UT_ARG_SP 9    /* the stack pointer: DWCP_LOC_STACK locations are read at SP + offset */
#define UT_ARG_G 10    /* the current goroutine's g (amd64 R14, arm64 R28): the pairing key */
#define UT_ARG_SPEC 11 /* low 32 bits: spec index (probe_specs); high 32 bits: scratch slot */
#define UT_ARGS 12

#endif
