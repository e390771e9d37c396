// callloop: calls one function shaped like DWCP's AMST sendChunk in a tight loop and reports
// ns/call, so that a probe's in-target price can be measured per call, without the noise of
// networking. The benchmark attaches nothing, the empty-program floor, or the agent (with
// sendchunk-profile.json) before letting the loop start.
//
// Protocol: prints "READY <pid>"; then for each line "round N" on stdin makes N calls and prints
// "NS <wall ns/call> <thread CPU ns/call>", so that one process can be timed bare, under the floor and under the agent in
// turn (same memory layout, same CPU placement); exits at the end of stdin.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"strconv"
	"strings"
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
	streams := flag.Int("streams", 16, "stream ids the calls cycle through")
	flag.Parse()
	// One OS thread for the whole loop: its CPU time (user + system, which includes every trap)
	// is what the probes cost, and it does not count time lost to other processes on a busy
	// machine, which wall time does.
	runtime.LockOSThread()

	conns := make([]*StreamConn, *streams)
	for i := range conns {
		conns[i] = &StreamConn{streamID: i}
	}
	chunk := make([]byte, 65536)
	s := &Sender{}
	id := 0
	fmt.Printf("READY %d\n", os.Getpid())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		calls, err := strconv.Atoi(strings.TrimPrefix(in.Text(), "round "))
		if err != nil || calls <= 0 {
			fmt.Fprintf(os.Stderr, "callloop: expected `round N`, got %q\n", in.Text())
			os.Exit(2)
		}
		cpuStart := threadCPU()
		start := time.Now()
		for i := 0; i < calls; i++ {
			if err := s.sendChunk(conns[id%len(conns)], chunk, id); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			id++
		}
		wall := time.Since(start)
		cpu := threadCPU() - cpuStart
		fmt.Printf("NS %.1f %.1f\n", float64(wall.Nanoseconds())/float64(calls), float64(cpu.Nanoseconds())/float64(calls))
	}
	fmt.Printf("SENT %d\n", s.sent)
}

// CPU time (user + system) of the calling OS thread.
func threadCPU() time.Duration {
	const rusageThread = 1 // RUSAGE_THREAD
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		fmt.Fprintln(os.Stderr, "getrusage:", err)
		os.Exit(1)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
