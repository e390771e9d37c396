//go:build dwcp_static

package metrics

// go build -tags dwcp_static: the hook library linked into the program (libdwcp_hooks.a of the
// dwcp-observer-dev package); its own dependencies (prometheus-cpp, civetweb, libstdc++) stay
// shared libraries. dwcp_hooks_static.pc lists them.

// #cgo pkg-config: dwcp_hooks_static
import "C"
