// Package handlebench measures Go's runtime/cgo.Handle, the API that
// libhandle ports to C, with the same loops as tests/bench/bench_vs_go.c:
// Value on 64 live handles, NewHandle+Delete, and NewHandle+Value+Delete
// on 1 goroutine and on 2 goroutines (b.RunParallel with -test.cpu 2).
//
// Standard library only, no network: scripts/bench.sh --anchors builds it
// with `go test -c` (CGO_ENABLED=1, GOPROXY=off, GOCACHE in the build
// tree) and runs the test binary alternately with the C benchmark.
package handlebench

import (
	"runtime/cgo"
	"testing"
)

var sink any

type object struct{ n int }

// BenchmarkValue: h.Value() on 64 live handles in turn (the C simple loop).
func BenchmarkValue(b *testing.B) {
	var hs [64]cgo.Handle
	objs := make([]object, 64)
	for i := range hs {
		hs[i] = cgo.NewHandle(&objs[i])
	}
	b.ResetTimer()
	var v any
	for i := 0; i < b.N; i++ {
		v = hs[i&63].Value()
	}
	b.StopTimer()
	sink = v
	for i := range hs {
		hs[i].Delete()
	}
}

// BenchmarkNewDelete: a handle made and deleted at once. The value is a
// pointer, so that boxing it into the interface allocates nothing.
func BenchmarkNewDelete(b *testing.B) {
	o := &object{}
	for i := 0; i < b.N; i++ {
		cgo.NewHandle(o).Delete()
	}
}

// BenchmarkNewValueDelete: Go's own BenchmarkHandle/non-concurrent.
func BenchmarkNewValueDelete(b *testing.B) {
	o := &object{}
	var v any
	for i := 0; i < b.N; i++ {
		h := cgo.NewHandle(o)
		v = h.Value()
		h.Delete()
	}
	sink = v
}

// BenchmarkNewValueDeleteParallel: Go's own BenchmarkHandle/concurrent;
// with -test.cpu 2 it runs on 2 goroutines and ns/op is the wall time
// divided by the operations of both (aggregate), as in the C benchmark.
func BenchmarkNewValueDeleteParallel(b *testing.B) {
	b.RunParallel(func(pb *testing.PB) {
		o := &object{}
		var v any
		for pb.Next() {
			h := cgo.NewHandle(o)
			v = h.Value()
			h.Delete()
		}
		_ = v
	})
}
