//go:build !dwcp_static

package metrics

// Linked against libdwcp_hooks.so, found through pkg-config (dwcp_hooks.pc of the
// dwcp-observer-dev package, or the build tree's: see docs/go-fallback.md).

// #cgo pkg-config: dwcp_hooks
import "C"
