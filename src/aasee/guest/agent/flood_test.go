package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func floodLine(comm string, pid int, event string) string {
	return fmt.Sprintf("%16s-%-7d (%7d) [000] .....     1.000000: %s\n", comm, pid, pid, event)
}

func TestFloodGuardFiltersOnlyTheFloodingTask(t *testing.T) {
	root := t.TempDir()
	events := []string{"ae/open", "raw_syscalls/sys_enter", "sched/sched_process_fork", "ae/exit", "ae/argv"}
	for _, event := range events {
		os.MkdirAll(filepath.Join(root, "events", event), 0o755)
		os.WriteFile(filepath.Join(root, "events", event, "filter"), nil, 0o644)
	}
	var emitted []string
	req := traceRequest{Events: events, Filters: [][]string{{"ae/open", "flags != 0"}}, FloodBudget: 3}
	g := newFloodGuard(root, req, func(b []byte) { emitted = append(emitted, string(b)) })
	now := time.Unix(100, 0)
	g.now = func() time.Time { return now }
	g.started = now

	var chunk strings.Builder
	for i := 0; i < 5; i++ {
		chunk.WriteString(floodLine("yes", 42, "sys_enter: NR 1 (1, 2, 3, 0, 0, 0)"))
		chunk.WriteString(floodLine("yes", 42, "sched_process_fork: comm=yes pid=42 child_comm=yes child_pid=43"))
	}
	chunk.WriteString(floodLine("cron", 7, "open: (do_filp_open) dfd=-100 path=\"/etc/cron.d/x\""))
	g.look([]byte(chunk.String()))

	read := func(event string) string {
		data, _ := os.ReadFile(filepath.Join(root, "events", event, "filter"))
		return string(data)
	}
	if got := read("ae/open"); got != "(flags != 0) && common_pid != 42\n" {
		t.Errorf("open filter = %q", got)
	}
	if got := read("raw_syscalls/sys_enter"); got != "common_pid != 42\n" {
		t.Errorf("sys_enter filter = %q", got)
	}
	for _, kept := range []string{"sched/sched_process_fork", "ae/exit", "ae/argv"} {
		if got := read(kept); got != "" {
			t.Errorf("%s was filtered: %q", kept, got)
		}
	}
	if len(emitted) != 1 || !strings.Contains(emitted[0], ": flood: pid=42 events=4 window_ms=1000") ||
		linePid([]byte(emitted[0])) != 0 {
		t.Fatalf("emitted %q", emitted)
	}
	if g.counts[7] != 1 {
		t.Errorf("the quiet task was counted %d times", g.counts[7])
	}

	// A new window starts from zero; a second flooder joins the first in every filter.
	now = now.Add(2 * time.Second)
	chunk.Reset()
	for i := 0; i < 4; i++ {
		chunk.WriteString(floodLine("grep", 50, "open: (do_filp_open) dfd=-100 path=\"/x\""))
	}
	g.look([]byte(chunk.String()))
	if got := read("raw_syscalls/sys_enter"); !strings.HasSuffix(got, "common_pid != 42 && common_pid != 50\n") {
		t.Errorf("sys_enter filter = %q", got)
	}
	if errors := g.close(); len(errors) != 0 {
		t.Errorf("errors: %v", errors)
	}
}

func TestLinePid(t *testing.T) {
	for line, want := range map[string]int{
		floodLine("a-b-c", 1234, "x: y"): 1234,
		"short":                          0,
		"0123456789012345x123":           0,
	} {
		if got := linePid([]byte(line)); got != want {
			t.Errorf("linePid(%q) = %d, want %d", line, got, want)
		}
	}
}
