package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeTracefs makes a directory of plain files standing in for tracefs, with trace_pipe
// a FIFO the test writes the "kernel's" events into.
func fakeTracefs(t *testing.T, events ...string) string {
	t.Helper()
	root := t.TempDir()
	files := []string{"tracing_on", "set_event", "set_event_pid", "kprobe_events", "trace",
		"buffer_size_kb", "trace_clock", "options/record-tgid", "options/event-fork",
		"per_cpu/cpu0/stats", "per_cpu/cpu1/stats"}
	for _, event := range events {
		files = append(files, "events/"+event+"/enable", "events/"+event+"/filter")
	}
	for _, name := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "trace_pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	return root
}

func content(t *testing.T, root, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

type sinkBuffer struct {
	mu   sync.Mutex
	data []byte
}

func (s *sinkBuffer) add(chunk []byte) {
	s.mu.Lock()
	s.data = append(s.data, chunk...)
	s.mu.Unlock()
}

func (s *sinkBuffer) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.data)
}

// release unblocks a reader still waiting to open the FIFO, so the test ends cleanly.
func release(root string) {
	if fd, err := syscall.Open(filepath.Join(root, "trace_pipe"), syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		syscall.Close(fd)
	}
}

func plan() traceRequest {
	req := traceRequest{
		Probes:   []string{"p:ae/open do_filp_open dfd=$arg1:s32", "r:ae/open_r do_filp_open ret=$retval:s64"},
		Events:   []string{"ae/open", "ae/open_r", "sched/sched_process_fork"},
		Filters:  [][]string{{"ae/open_r", "ret < 0"}},
		BufferKB: 1024,
	}
	if err := req.normalise(); err != nil {
		panic(err)
	}
	return req
}

type write struct {
	relative, value string
	appendMode      bool
}

func TestArmWritesTheTracefsSequence(t *testing.T) {
	root := fakeTracefs(t, "ae/open", "ae/open_r", "sched/sched_process_fork")
	defer release(root)
	tr := newTracer(root, func([]byte) {})
	var writes []write
	tr.write = func(relative, value string, appendMode bool) error {
		writes = append(writes, write{relative, value, appendMode})
		return tr.writeControl(relative, value, appendMode)
	}
	if err := tr.arm(plan()); err != nil {
		t.Fatal(err)
	}
	want := []write{
		{"tracing_on", "0", false}, {"set_event", "", false}, {"set_event_pid", "0", false},
		{"kprobe_events", "", false}, {"trace", "", false}, {"buffer_size_kb", "1024", false},
		{"trace_clock", "mono", false}, {"options/record-tgid", "1", false},
		{"options/event-fork", "1", false},
		{"kprobe_events", "p:ae/open do_filp_open dfd=$arg1:s32", true},
		{"kprobe_events", "r:ae/open_r do_filp_open ret=$retval:s64", true},
		{"events/ae/open_r/filter", "ret < 0", false},
		{"events/ae/open/enable", "1", false}, {"events/ae/open_r/enable", "1", false},
		{"events/sched/sched_process_fork/enable", "1", false},
		{"tracing_on", "1", false},
	}
	if len(writes) != len(want) {
		t.Fatalf("writes %v", writes)
	}
	for i := range want {
		if writes[i] != want[i] {
			t.Fatalf("write %d: got %v want %v", i, writes[i], want[i])
		}
	}
	if got := content(t, root, "kprobe_events"); got != "\np:ae/open do_filp_open dfd=$arg1:s32\nr:ae/open_r do_filp_open ret=$retval:s64\n" {
		t.Fatalf("kprobe_events %q", got)
	}
	if !tr.armed || len(tr.errorList()) != 0 {
		t.Fatalf("armed %v errors %v", tr.armed, tr.errorList())
	}
	if err := tr.follow(4242); err != nil {
		t.Fatal(err)
	}
	if got := content(t, root, "set_event_pid"); got != "0\n4242\n" {
		t.Fatalf("set_event_pid %q", got)
	}
}

func TestRejectionsAreReportedNotFatal(t *testing.T) {
	root := fakeTracefs(t, "ae/open")
	defer release(root)
	tr := newTracer(root, func([]byte) {})
	tr.write = func(relative, value string, appendMode bool) error {
		if strings.HasPrefix(value, "p:ae/bad ") {
			return &pathError{"write", relative, syscall.EINVAL} // what the kernel says
		}
		return tr.writeControl(relative, value, appendMode)
	}
	req := traceRequest{
		Probes:  []string{"p:ae/bad nosuchsymbol", "p:ae/open do_filp_open", "p:ae/x a\nb"},
		Events:  []string{"ae/open", "ae/bad", "../../etc", "sched"},
		Filters: [][]string{{"ae/bad", "x == 1"}, {"ae/open", "a\nb"}},
	}
	if err := req.normalise(); err != nil {
		t.Fatal(err)
	}
	if err := tr.arm(req); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(tr.errorList(), "\n")
	for _, want := range []string{
		"probe rejected: p:ae/bad: write kprobe_events: invalid argument",
		`probe rejected: "p:ae/x": not a single line`,
		"filter rejected: ae/bad: open events/ae/bad/filter: no such file or directory",
		`filter rejected: "ae/open"`,
		"event not enabled: ae/bad: open events/ae/bad/enable: no such file or directory",
		`event not enabled: "../../etc": not an event name`,
		`event not enabled: "sched": not an event name`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if !tr.armed || content(t, root, "events/ae/open/enable") != "1\n" || content(t, root, "tracing_on") != "1\n" {
		t.Fatal("the accepted parts were not armed")
	}
}

func TestAFailedSetupStepIsFatal(t *testing.T) {
	root := fakeTracefs(t)
	os.Remove(filepath.Join(root, "trace_clock"))
	tr := newTracer(root, func([]byte) {})
	err := tr.arm(plan())
	if err == nil || !strings.Contains(err.Error(), "cannot arm the tracer: open trace_clock") || tr.armed {
		t.Fatalf("err %v armed %v", err, tr.armed)
	}
}

func TestTraceStreamsAndStopsLosslessly(t *testing.T) {
	root := fakeTracefs(t, "ae/open", "ae/open_r", "sched/sched_process_fork")
	var sink sinkBuffer
	tr := newTracer(root, sink.add)
	if err := tr.arm(plan()); err != nil {
		t.Fatal(err)
	}
	pipe, err := os.OpenFile(filepath.Join(root, "trace_pipe"), os.O_WRONLY, 0) // waits for the reader
	if err != nil {
		t.Fatal(err)
	}
	pipe.WriteString("sample-1 [000] 1.000: open: path=\"/etc/passwd\"\n")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(sink.text(), "/etc/passwd") {
		if time.Now().After(deadline) {
			t.Fatal("the trace_pipe line never reached the sink")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The kernel: what trace_pipe has not handed out is still in the trace file, and the
	// pipe ends once tracing is off.
	os.WriteFile(filepath.Join(root, "trace"), []byte("sample-1 [001] 2.000: exit: code=0\n"), 0o644)
	os.WriteFile(filepath.Join(root, "per_cpu/cpu0/stats"), []byte("entries: 5\noverrun: 2\ndropped events: 3\noldest event ts: 12.5\n"), 0o644)
	os.WriteFile(filepath.Join(root, "per_cpu/cpu1/stats"), []byte("overrun: 1\ndropped events: 0\n"), 0o644)
	go func() {
		time.Sleep(100 * time.Millisecond)
		pipe.Close()
	}()
	start := time.Now()
	lost := tr.stop()
	if lost != 6 || tr.armed || len(tr.errorList()) != 0 {
		t.Fatalf("lost %d armed %v errors %v", lost, tr.armed, tr.errorList())
	}
	if time.Since(start) > 5*time.Second || content(t, root, "tracing_on") != "0\n" {
		t.Fatal("stop did not wait for the pipe's end or did not stop tracing")
	}
	want := "sample-1 [000] 1.000: open: path=\"/etc/passwd\"\nsample-1 [001] 2.000: exit: code=0\n"
	if sink.text() != want {
		t.Fatalf("sink %q", sink.text())
	}
}

func TestStopDoesNotWaitLongForAReaderThatNeverGotAnEvent(t *testing.T) {
	root := fakeTracefs(t, "ae/open", "ae/open_r", "sched/sched_process_fork")
	defer release(root)
	tr := newTracer(root, func([]byte) {})
	if err := tr.arm(plan()); err != nil {
		t.Fatal(err)
	}
	first := tr.reader
	start := time.Now()
	tr.stop()
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("stop took %v", elapsed)
	}
	if len(tr.errorList()) != 0 {
		t.Fatalf("errors %v", tr.errorList())
	}
	// The kernel keeps such a reader waiting; arming again reuses it rather than racing it.
	if err := tr.arm(plan()); err != nil || tr.reader != first {
		t.Fatalf("err %v, new reader %v", err, tr.reader != first)
	}
}

func TestRequestsCompareAfterNormalising(t *testing.T) {
	a := traceRequest{Probes: []string{"p:ae/x f"}, Events: []string{"ae/x"}}
	b := traceRequest{Probes: []string{"p:ae/x f"}, Events: []string{"ae/x"}, Filters: [][]string{}, BufferKB: defaultBufferKB}
	if a.normalise() != nil || b.normalise() != nil || !a.equal(b) {
		t.Fatal("equal requests differ")
	}
	b.BufferKB = 1
	if a.equal(b) {
		t.Fatal("different buffer sizes compare equal")
	}
	bad := []traceRequest{{BufferKB: -1}, {Filters: [][]string{{"ae/x"}}}, {BufferKB: 1 << 30}}
	for _, req := range bad {
		if req.normalise() == nil {
			t.Errorf("%+v accepted", req)
		}
	}
}

func TestEventNames(t *testing.T) {
	for event, ok := range map[string]bool{
		"ae/open": true, "sched/sched_process_fork": true, "raw_syscalls/sys_enter": true,
		"ae/open__2": true, "ae": false, "ae/": false, "/open": false, "../x": false,
		"ae/..": false, "ae/open/enable": false, "ae/op en": false, "": false,
	} {
		if validEvent(event) != ok {
			t.Errorf("validEvent(%q) != %v", event, ok)
		}
	}
}

func TestPipeReaderReportsAMissingPipe(t *testing.T) {
	root := fakeTracefs(t)
	os.Remove(filepath.Join(root, "trace_pipe"))
	tr := newTracer(root, func([]byte) {})
	if err := tr.arm(plan()); err != nil {
		t.Fatal(err)
	}
	<-tr.reader.done
	tr.stop()
	var errno syscall.Errno
	if !errors.As(tr.reader.err, &errno) || errno != syscall.ENOENT {
		t.Fatalf("reader error %v", tr.reader.err)
	}
	if got := strings.Join(tr.errorList(), "\n"); !strings.Contains(got, "open trace_pipe: no such file") {
		t.Fatalf("errors %q", got)
	}
}

// After protect, the kernel refuses every tracefs open; the fake does the same by removing
// the control files (their names): only the descriptors kept open still reach them.
func TestProtectLocksDownAndKeepsWhatStopNeeds(t *testing.T) {
	root := fakeTracefs(t, "ae/open", "ae/open_r", "sched/sched_process_fork")
	lockdown := filepath.Join(t.TempDir(), "lockdown")
	os.WriteFile(lockdown, nil, 0o644)
	var sink sinkBuffer
	tr := newTracer(root, sink.add)
	tr.lockdownPath = lockdown
	tr.ftraceSwitch = filepath.Join(t.TempDir(), "ftrace_enabled")
	os.WriteFile(tr.ftraceSwitch, []byte("1\n"), 0o644)
	if err := tr.arm(plan()); err != nil {
		t.Fatal(err)
	}
	defer release(root)
	if err := tr.follow(101); err != nil {
		t.Fatal(err)
	}
	if got := tr.protect(); got != "lockdown" {
		t.Fatalf("protect: %s", got)
	}
	if content(t, "/", lockdown) != "confidentiality\n" {
		t.Fatalf("lockdown switch holds %q", content(t, "/", lockdown))
	}
	// A root sample switches ftrace off; the guard switches it back on.
	os.WriteFile(tr.ftraceSwitch, []byte("0\n"), 0o644)
	deadline := time.Now().Add(5 * time.Second)
	for content(t, "/", tr.ftraceSwitch)[0] != '1' {
		if time.Now().After(deadline) {
			t.Fatal("the guard did not switch ftrace back on")
		}
		time.Sleep(5 * time.Millisecond)
	}
	stats := "overrun: 4\ndropped events: 1\n"
	os.WriteFile(filepath.Join(root, "per_cpu/cpu0/stats"), []byte(stats), 0o644)
	for _, name := range []string{"tracing_on", "set_event_pid", "per_cpu/cpu0/stats", "per_cpu/cpu1/stats", "trace"} {
		if err := os.Rename(filepath.Join(root, name), filepath.Join(root, name+".locked")); err != nil {
			t.Fatal(err)
		}
	}
	if err := tr.follow(202); err != nil {
		t.Fatalf("following after the lockdown: %v", err)
	}
	if got := tr.protect(); got != "lockdown" {
		t.Fatalf("second protect: %s", got)
	}
	lost := tr.stop()
	if lost != 5 {
		t.Fatalf("lost %d (errors %v)", lost, tr.errorList())
	}
	if got := content(t, root, "set_event_pid.locked"); got != "0\n101\n202\n" {
		t.Fatalf("set_event_pid %q", got)
	}
	if got := content(t, root, "tracing_on.locked"); !strings.HasSuffix(got, "0\n") {
		t.Fatalf("tracing_on %q", got)
	}
	if errs := tr.errorList(); len(errs) != 1 || !strings.Contains(errs[0], "ftrace was switched off in the guest 1 times") {
		t.Fatalf("errors %v", errs)
	}
	for _, e := range tr.errorList() {
		if strings.Contains(e, "trace:") || strings.Contains(e, "open trace") {
			t.Fatalf("stop tried to open the trace file under lockdown: %v", tr.errorList())
		}
	}
}

func TestProtectReportsAKernelWithoutLockdown(t *testing.T) {
	root := fakeTracefs(t, "ae/open", "ae/open_r", "sched/sched_process_fork")
	tr := newTracer(root, func([]byte) {})
	tr.lockdownPath = filepath.Join(t.TempDir(), "missing", "lockdown")
	if err := tr.arm(plan()); err != nil {
		t.Fatal(err)
	}
	defer release(root)
	got := tr.protect()
	if !strings.HasPrefix(got, "unprotected: the kernel has no lockdown switch") || tr.locked {
		t.Fatalf("protect: %s", got)
	}
}

func TestFilterLineBreaksOnlyInsideQuotes(t *testing.T) {
	for text, want := range map[string]bool{
		"!(filename ~ \"*\n*\")": true,
		"a\nb":                   false,
		"x == 1":                 true,
		"s ~ \"unterminated":     false,
		"s ~ \"a\r\"":            false,
		"":                       false,
	} {
		if got := validFilter(text); got != want {
			t.Errorf("validFilter(%q) = %v, want %v", text, got, want)
		}
	}
}
