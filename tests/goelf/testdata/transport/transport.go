// Package transport mimics the shape of DWCP's transport package: a method on a pointer
// receiver with two return paths, which is what the observer probes (entry and each RET).
package transport

import (
	"errors"
	"unsafe"
)

type MultiStreamTCP struct {
	name   string
	sent   int64
	chunks int
}

var errEmpty = errors.New("empty chunk")

// sendChunk has two RETs (the early error return and the normal one); noinline keeps it a
// real function in every build mode.
//
//go:noinline
func (m *MultiStreamTCP) sendChunk(stream int, chunk []byte) (int, error) {
	if len(chunk) == 0 {
		return 0, errEmpty
	}
	m.sent += int64(len(chunk))
	m.chunks++
	return stream + len(chunk), nil
}

// Send is exported so the linker keeps sendChunk reachable.
func (m *MultiStreamTCP) Send(chunks [][]byte) (int64, error) {
	for i, c := range chunks {
		if _, err := m.sendChunk(i, c); err != nil {
			return m.sent, err
		}
	}
	return m.sent, nil
}

// FieldOffsets reports the compiler's own field offsets, which the DWARF test compares with
// what it reads from the binary.
func FieldOffsets() (sent, chunks uintptr) {
	var m MultiStreamTCP
	return unsafe.Offsetof(m.sent), unsafe.Offsetof(m.chunks)
}
