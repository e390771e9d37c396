package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

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
	b := make([]byte, 64)
	t := time.Now()
	s := 0
	for i := 0; i < n; i++ {
		s += work(b, 8)
	}
	fmt.Printf("%.1f ns/call %d\n", float64(time.Since(t).Nanoseconds())/float64(n), s)
}
