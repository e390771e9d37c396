// A tiny Go program for the goelf tests: built plain, stripped, PIE and stripped PIE by CMake.
package main

import (
	"fmt"
	"os"

	"example.com/goelftest/transport"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "offsets" {
		sent, chunks := transport.FieldOffsets()
		fmt.Printf("sent=%d chunks=%d\n", sent, chunks)
		return
	}
	var t transport.MultiStreamTCP
	n, err := t.Send([][]byte{[]byte(os.Args[0]), nil})
	fmt.Println(n, err)
}
