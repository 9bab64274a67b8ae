// SPDX-License-Identifier: MIT
//
// Restart test: a Go program (see tests/progs/rst_common.h for the
// protocol).
//
//	rst_go RESULT CTL
//
// Goroutines on the Go runtime's threads (its netpoller on epoll, its
// timers, its signal stacks): a producer feeds numbers into a channel,
// four workers hash each and send the result on, a collector checks every
// result; a time.Ticker and a time.AfterFunc chain count; the trigger is
// read from the control FIFO through the netpoller.  After the restart
// all of them must go on, and every result must be right.
package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

var log []string

func say(resPath, line string) {
	log = append(log, line)
	out := ""
	for _, l := range log {
		out += l + "\n"
	}
	if os.WriteFile(resPath+".tmp", []byte(out), 0o644) != nil || os.Rename(resPath+".tmp", resPath) != nil {
		os.Exit(3)
	}
}

func digest(n int) [32]byte {
	h := sha256.Sum256([]byte(fmt.Sprint(n)))
	for i := 0; i < 200; i++ {
		h = sha256.Sum256(h[:])
	}
	return h
}

type result struct {
	n int
	h [32]byte
}

func main() {
	resPath, ctlPath := os.Args[1], os.Args[2]
	var ticks, afters, done, bad atomic.Int64

	jobs := make(chan int, 16)
	results := make(chan result, 16)
	go func() {
		for n := 0; ; n++ {
			jobs <- n
		}
	}()
	for w := 0; w < 4; w++ {
		go func() {
			for n := range jobs {
				results <- result{n, digest(n)}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	go func() {
		for r := range results {
			if r.h != digest(r.n) {
				bad.Add(1)
			}
			done.Add(1)
		}
	}()
	ticker := time.NewTicker(10 * time.Millisecond)
	go func() {
		for range ticker.C {
			ticks.Add(1)
		}
	}()
	var after func()
	after = func() {
		afters.Add(1)
		time.AfterFunc(15*time.Millisecond, after)
	}
	time.AfterFunc(15*time.Millisecond, after)

	ctl, err := os.OpenFile(ctlPath, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for ticks.Load() < 5 || afters.Load() < 3 || done.Load() < 20 {
		time.Sleep(5 * time.Millisecond)
	}
	say(resPath, fmt.Sprintf("READY %d", os.Getpid()))
	buf := make([]byte, 16)
	n, err := ctl.Read(buf)
	if err != nil || string(buf[:n]) != "check\n" {
		say(resPath, fmt.Sprintf("FAIL: trigger %q %v", buf[:n], err))
		os.Exit(1)
	}
	t0, a0, d0 := ticks.Load(), afters.Load(), done.Load()
	time.Sleep(500 * time.Millisecond)
	dt, da, dd := ticks.Load()-t0, afters.Load()-a0, done.Load()-d0
	if dt < 20 || da < 10 || dd < 50 || bad.Load() != 0 {
		say(resPath, fmt.Sprintf("FAIL: after the trigger %d ticks, %d timers, %d results, %d wrong",
			dt, da, dd, bad.Load()))
		os.Exit(1)
	}
	say(resPath, fmt.Sprintf("PASS go: %d ticks, %d timers, %d results after the restart, none wrong",
		dt, da, dd))
}
