package main

// The flood guard: a task that makes more than its budget of events in one second has its
// further events filtered out in the kernel (all but fork, exec and exit), so that a busy
// loop (`yes > /dev/null`, a recursive grep) cannot fill the ring buffer and make the kernel
// drop what other tasks do at the same time. Each suppression is reported in the trace
// itself, as a "flood" record with the task and the events counted, where the sample cannot
// forge it: it is written by the agent between the kernel's whole records.
//
// The filter files are opened when the tracer is armed, before the kernel is locked down:
// afterwards tracefs cannot be opened any more, and a write to an open filter file replaces
// its filter.

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	floodWindow   = time.Second
	maxSuppressed = 48 // the filter of every event must stay within a page
	floodComm     = "<flood-guard>"
	schedLine     = ": sched_process_"
)

// unfiltered says which events a flooding task keeps: the process tree (fork, exec, exit
// tracepoints), its exit code and the arguments of what it executes next.
func unfiltered(event string) bool {
	return strings.HasPrefix(event, "sched/") || strings.HasSuffix(event, "/exit") ||
		strings.Contains(event, "/argv")
}

type keptFilter struct {
	event    string
	original string
	fd       int
}

type floodGuard struct {
	mu         sync.Mutex
	budget     int
	filters    []keptFilter
	counts     map[int]int
	suppressed map[int]int
	started    time.Time
	now        func() time.Time
	emit       func([]byte)
	errors     []string
}

// newFloodGuard opens the filter file of every event but the sched tracepoints.
func newFloodGuard(root string, req traceRequest, emit func([]byte)) *floodGuard {
	g := &floodGuard{budget: req.FloodBudget, counts: map[int]int{}, suppressed: map[int]int{},
		now: time.Now, emit: emit}
	g.started = g.now()
	originals := map[string]string{}
	for _, filter := range req.Filters {
		originals[filter[0]] = filter[1]
	}
	for _, event := range req.Events {
		if unfiltered(event) || !validEvent(event) {
			continue
		}
		relative := "events/" + event + "/filter"
		fd, err := syscall.Open(filepath.Join(root, relative), syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			g.errors = append(g.errors, fmt.Sprintf("flood guard: cannot open %s: %v", relative, err))
			continue
		}
		g.filters = append(g.filters, keptFilter{event, originals[event], fd})
	}
	return g
}

// close releases the filter files and returns what went wrong meanwhile.
func (g *floodGuard) close() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.filters {
		syscall.Close(f.fd)
	}
	g.filters = nil
	errors := g.errors
	g.errors = nil
	return errors
}

// look counts the events of each task in a chunk of whole trace lines.
func (g *floodGuard) look(chunk []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if now := g.now(); now.Sub(g.started) >= floodWindow {
		g.started = now
		g.counts = map[int]int{}
	}
	for len(chunk) > 0 {
		line := chunk
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			line, chunk = chunk[:i], chunk[i+1:]
		} else {
			chunk = nil
		}
		pid := linePid(line)
		if pid <= 0 || bytes.Contains(line, []byte(schedLine)) {
			continue
		}
		if _, done := g.suppressed[pid]; done {
			continue
		}
		g.counts[pid]++
		if n := g.counts[pid]; n > g.budget && len(g.suppressed) < maxSuppressed {
			g.suppress(pid, n)
		}
	}
}

// linePid reads the task id of a trace line: the comm takes exactly 16 columns, then "-".
func linePid(line []byte) int {
	if len(line) < 18 || line[16] != '-' {
		return 0
	}
	end := 17
	for end < len(line) && end < 28 && line[end] >= '0' && line[end] <= '9' {
		end++
	}
	pid, err := strconv.Atoi(string(line[17:end]))
	if err != nil {
		return 0
	}
	return pid
}

func (g *floodGuard) suppress(pid, counted int) {
	g.suppressed[pid] = counted
	pids := make([]int, 0, len(g.suppressed))
	for p := range g.suppressed {
		pids = append(pids, p)
	}
	sort.Ints(pids)
	clauses := make([]string, len(pids))
	for i, p := range pids {
		clauses[i] = "common_pid != " + strconv.Itoa(p)
	}
	exclude := strings.Join(clauses, " && ")
	for _, f := range g.filters {
		expression := exclude
		if f.original != "" {
			expression = "(" + f.original + ") && " + exclude
		}
		if err := writeAll(f.fd, []byte(expression+"\n")); err != nil && len(g.errors) < 20 {
			g.errors = append(g.errors, fmt.Sprintf("flood guard: cannot filter %s: %v", f.event, err))
		}
	}
	ts := monotonicSeconds()
	sec := int64(ts)
	usec := int64((ts - float64(sec)) * 1e6)
	g.emit([]byte(fmt.Sprintf("%16s-%-7d (%7s) [000] ..... %5d.%06d: flood: pid=%d events=%d window_ms=%d\n",
		floodComm, 0, "-------", sec, usec, pid, counted, floodWindow.Milliseconds())))
}
