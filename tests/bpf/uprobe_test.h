/* SPDX-License-Identifier: GPL-2.0-only OR Apache-2.0
 * The context of the BPF unit tier's raw_tp wrapper (uprobe_test.bpf.c), shared with its
 * GoogleTest driver: BPF_PROG_TEST_RUN passes up to 12 u64 arguments to a raw_tp program, which
 * hold a uprobe hit's registers as Go's ABIInternal sees them. */
#ifndef DWCP_TESTS_BPF_UPROBE_TEST_H
#define DWCP_TESTS_BPF_UPROBE_TEST_H

/* Arguments 0..8: the Go integer argument registers in enum dwcp_go_reg order (RAX .. R11). */
#define UT_ARG_SP 9    /* the stack pointer: DWCP_LOC_STACK locations are read at SP + offset */
#define UT_ARG_G 10    /* R14, the current goroutine's g: the pairing key */
#define UT_ARG_SPEC 11 /* low 32 bits: spec index (probe_specs); high 32 bits: scratch slot */
#define UT_ARGS 12

#endif
