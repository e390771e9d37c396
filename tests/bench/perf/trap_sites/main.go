package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// trapsites CALLS [GAP]: CALLS calls of work, back to back, or with a sleep of GAP before each
// (a target that calls between pauses, as DWCP's Sends at a modest rate). The time in the calls
// only, per call.

//go:noinline
func work(b []byte, n int) int {
	var s int
	for i := 0; i < n && i < len(b); i++ {
		s += int(b[i])
	}
	return s + helper(b)
}

//go:noinline
func helper(b []byte) int { return len(b) }

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	var gap time.Duration
	if len(os.Args) > 2 {
		gap, _ = time.ParseDuration(os.Args[2])
	}
	b := make([]byte, 64)
	s := 0
	var in time.Duration
	if gap == 0 {
		t := time.Now()
		for i := 0; i < n; i++ {
			s += work(b, 8)
		}
		in = time.Since(t)
	} else {
		for i := 0; i < n; i++ {
			time.Sleep(gap)
			t := time.Now()
			s += work(b, 8)
			in += time.Since(t)
		}
	}
	fmt.Printf("%.1f ns/call %d\n", float64(in.Nanoseconds())/float64(n), s)
}
