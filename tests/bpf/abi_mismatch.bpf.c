// SPDX-License-Identifier: GPL-2.0-only
//
// An object built against another contract version than the agent's: the agent must refuse it
// (userspace/agent/bpf_abi.h). Only opened by the test, never loaded.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "dwcp_observer/events.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 dwcp_abi_version = DWCP_ABI_VERSION + 1;

SEC("raw_tp")
int nothing(void *ctx)
{
	return 0;
}
