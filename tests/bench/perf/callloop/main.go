// callloop: calls one function shaped like DWCP's AMST sendChunk in a tight loop and reports
// ns/call, so that a probe's in-target price can be measured per call, without the noise of
// networking. The benchmark attaches nothing, the empty-program floor, or the agent (with
// sendchunk-profile.json) before letting the loop start.
//
// Protocol: prints "READY <pid>", waits for a line on stdin, runs --rounds rounds of --calls
// calls, prints "ROUND <ns/call>" for each and "BEST <ns/call>", exits.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

// The same layout as DWCP's transport.StreamConn up to streamID, which the profile reads.
type StreamConn struct {
	conn      uintptr
	streamID  int
	bytesSent uint64
}

type Sender struct {
	sent uint64
}

var errNever = errors.New("never returned")

// sendChunk has DWCP's signature (receiver, *StreamConn, []byte, int) error and more than one
// RET, like the real one (which has four): the agent probes its entry and every RET.
//
//go:noinline
func (s *Sender) sendChunk(stream *StreamConn, chunk []byte, chunkID int) error {
	s.sent += uint64(len(chunk) + 8)
	stream.bytesSent += uint64(len(chunk) + 8)
	if chunkID < 0 {
		return errNever
	}
	return nil
}

func main() {
	calls := flag.Int("calls", 20000, "calls per round")
	rounds := flag.Int("rounds", 3, "rounds; BEST is the fastest")
	streams := flag.Int("streams", 16, "stream ids the calls cycle through")
	flag.Parse()

	fmt.Printf("READY %d\n", os.Getpid())
	bufio.NewReader(os.Stdin).ReadString('\n')

	conns := make([]*StreamConn, *streams)
	for i := range conns {
		conns[i] = &StreamConn{streamID: i}
	}
	chunk := make([]byte, 65536)
	s := &Sender{}
	best := 0.0
	for r := 0; r < *rounds; r++ {
		start := time.Now()
		for i := 0; i < *calls; i++ {
			if err := s.sendChunk(conns[i%len(conns)], chunk, i); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		ns := float64(time.Since(start).Nanoseconds()) / float64(*calls)
		fmt.Printf("ROUND %.1f\n", ns)
		if r == 0 || ns < best {
			best = ns
		}
	}
	fmt.Printf("BEST %.1f\n", best)
	fmt.Printf("SENT %d\n", s.sent)
}
