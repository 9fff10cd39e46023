//go:build !unix

package main

import "time"

// processCPU returns 0: BenchmarkIngest reports CPU time only where
// getrusage tells it.
func processCPU() time.Duration { return 0 }
