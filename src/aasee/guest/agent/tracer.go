package main

// The kernel tracer: ftrace kprobes and tracepoints, armed exactly as the host says. The
// host writes every probe line, event name and filter for the guest's architecture
// (aasee.guest.probes); the agent knows no architecture and only writes them into tracefs,
// then streams the text trace back. Nothing here attaches to the sample: the kernel records
// events for the sample's process tree (set_event_pid with options/event-fork), so the
// sample sees TracerPid 0 and may ptrace itself.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

var ftraceMarker = []byte("ftrace_enabled")

const (
	defaultFtraceSwitch = "/proc/sys/kernel/ftrace_enabled"
	ftraceGuardSlow     = time.Second
	ftraceGuardFast     = 2 * time.Millisecond
	ftraceGuardAlert    = 500 * time.Millisecond
	defaultLockdown     = "/sys/kernel/security/lockdown"
	defaultBufferKB     = 16384
	maxTraceItems       = 4096 // probe lines, events or filters in one request
	maxTraceErrors      = 200  // what the host accepts in one reply
)

type traceRequest struct {
	Probes   []string   `json:"probes"`
	Events   []string   `json:"events"`
	Filters  [][]string `json:"filters"`
	BufferKB int        `json:"buffer_kb"`
	// FloodBudget is how many events a task may make in one second before the rest of its
	// events are filtered out (flood.go); 0 turns the guard off.
	FloodBudget int `json:"flood_budget"`
}

func (r *traceRequest) normalise() error {
	if r.BufferKB == 0 {
		r.BufferKB = defaultBufferKB
	}
	if r.BufferKB < 1 || r.BufferKB > 1<<22 {
		return fmt.Errorf("buffer_kb %d is out of range", r.BufferKB)
	}
	if r.FloodBudget < 0 || r.FloodBudget > 1<<30 {
		return fmt.Errorf("flood_budget %d is out of range", r.FloodBudget)
	}
	if len(r.Probes) > maxTraceItems || len(r.Events) > maxTraceItems || len(r.Filters) > maxTraceItems {
		return errors.New("too many probes, events or filters")
	}
	for _, filter := range r.Filters {
		if len(filter) != 2 {
			return errors.New("each filter must be [event, expression]")
		}
	}
	// nil and empty mean the same; they must compare equal when a request is repeated.
	if r.Probes == nil {
		r.Probes = []string{}
	}
	if r.Events == nil {
		r.Events = []string{}
	}
	if r.Filters == nil {
		r.Filters = [][]string{}
	}
	return nil
}

func (r traceRequest) equal(other traceRequest) bool { return reflect.DeepEqual(r, other) }

// validEvent accepts "group/name" event directories and nothing that leaves events/.
func validEvent(event string) bool {
	parts := strings.Split(event, "/")
	if len(parts) != 2 {
		return false
	}
	for _, part := range parts {
		if part == "" || part == "." || part == ".." {
			return false
		}
		for _, c := range part {
			ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
			if !ok {
				return false
			}
		}
	}
	return true
}

func singleLine(text string) bool {
	return text != "" && len(text) <= 4096 && !strings.ContainsAny(text, "\n\r\x00")
}

// validFilter accepts one filter expression: a line break only inside a quoted string, where
// the kernel takes it as a character to match (the glob that keeps exec'd file names holding
// one out of the raw sched_process_exec tracepoint).
func validFilter(text string) bool {
	if text == "" || len(text) > 4096 || strings.ContainsAny(text, "\r\x00") {
		return false
	}
	quoted := false
	for _, c := range text {
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\n' && !quoted:
			return false
		}
	}
	return !quoted
}

type tracer struct {
	root    string
	sink    func([]byte)
	write   func(relative, value string, appendMode bool) error // replaced in tests
	request traceRequest
	armed   bool
	errors  []string
	dropped int
	reader  *pipeReader
	flood   *floodGuard
	// lockdownPath is the kernel's lockdown switch (securityfs); kept holds the tracefs
	// files opened before the lockdown, the only way to reach them afterwards.
	lockdownPath string
	kept         map[string]int
	locked       bool
	// ftraceSwitch is the sysctl that turns ftrace (and the kprobes built on it) off; the
	// lockdown does not cover sysctls, so a guard switches it back on.
	ftraceSwitch  string
	guardStop     chan struct{}
	guardDone     chan struct{}
	ftraceRestore atomic.Int64
}

func newTracer(root string, sink func([]byte)) *tracer {
	t := &tracer{root: root, sink: sink, lockdownPath: defaultLockdown, kept: map[string]int{},
		ftraceSwitch: defaultFtraceSwitch}
	t.write = t.writeControl
	return t
}

// openFlags are the flags of a control file write. No seek ever: tracefs rejects lseek, so
// the file is opened for appending or truncated, never positioned.
func openFlags(appendMode bool) int {
	if appendMode {
		return syscall.O_WRONLY | syscall.O_CLOEXEC | syscall.O_APPEND
	}
	return syscall.O_WRONLY | syscall.O_CLOEXEC | syscall.O_TRUNC
}

// writeControl writes one value to a tracefs control file, through the descriptor kept for
// it if there is one.
func (t *tracer) writeControl(relative, value string, appendMode bool) error {
	fd, kept := t.kept[keptKey(relative, appendMode)]
	if !kept {
		var err error
		fd, err = syscall.Open(filepath.Join(t.root, relative), openFlags(appendMode), 0)
		if err != nil {
			return &pathError{"open", relative, err}
		}
		defer syscall.Close(fd)
	}
	if err := writeAll(fd, []byte(value+"\n")); err != nil {
		return &pathError{"write", relative, err}
	}
	return nil
}

func keptKey(relative string, appendMode bool) string {
	if appendMode {
		return relative + " append"
	}
	return relative
}

// protect makes the tracer untouchable from inside the guest, root included: it keeps open
// what following more pids, stopping and counting losses need, then raises the kernel's
// lockdown to "confidentiality". From then on the kernel refuses every open of a tracefs
// file (so nobody can switch tracing off, clear the pid filter or read which probes are
// set), loading unsigned modules, /dev/mem and kernel memory reads; descriptors opened
// before go on working. The agent, PID 1, cannot be killed from inside either. A lockdown
// cannot be lifted before the next boot, which the disposable guest never needs.
// Returns what the report says: "lockdown" or why the tracer stays unprotected.
func (t *tracer) protect() string {
	if t.locked {
		return "lockdown"
	}
	for _, control := range []struct {
		relative   string
		appendMode bool
	}{{"tracing_on", false}, {"set_event_pid", true}} {
		key := keptKey(control.relative, control.appendMode)
		if _, done := t.kept[key]; done {
			continue
		}
		fd, err := syscall.Open(filepath.Join(t.root, control.relative), openFlags(control.appendMode), 0)
		if err != nil {
			return fmt.Sprintf("unprotected: cannot keep %s open: %v", control.relative, err)
		}
		t.kept[key] = fd
	}
	if cpus, err := os.ReadDir(filepath.Join(t.root, "per_cpu")); err == nil {
		for _, cpu := range cpus {
			relative := filepath.Join("per_cpu", cpu.Name(), "stats")
			if fd, err := syscall.Open(filepath.Join(t.root, relative), syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err == nil {
				t.kept[relative] = fd
			}
		}
	}
	if _, err := os.Stat(t.lockdownPath); err != nil {
		// securityfs is not mounted by every start-up script.
		_ = syscall.Mount("securityfs", filepath.Dir(t.lockdownPath), "securityfs", 0, "")
	}
	fd, err := syscall.Open(t.lockdownPath, syscall.O_WRONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Sprintf("unprotected: the kernel has no lockdown switch: %v", err)
	}
	defer syscall.Close(fd)
	if err := writeAll(fd, []byte("confidentiality\n")); err != nil {
		return fmt.Sprintf("unprotected: lockdown refused: %v", err)
	}
	t.locked = true
	t.startGuard()
	return "lockdown"
}

// startGuard watches the ftrace sysctl and switches it back on whenever it reads 0: with
// ftrace_enabled off, every kprobe placed on a function's ftrace entry stops firing, and
// root may write it despite the lockdown. A slow poll would cost the time warp its idle
// stretches (each wake-up ends one), so the guard polls once a second and, as soon as the
// trace shows somebody opening the sysctl, every 2 ms for a while: what slips through is
// the few milliseconds between that write and the next poll, and the open is in the trace.
func (t *tracer) startGuard() {
	fd, err := syscall.Open(t.ftraceSwitch, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return // no function tracer in this kernel: nothing to switch off
	}
	t.guardStop, t.guardDone = make(chan struct{}), make(chan struct{})
	kick := make(chan struct{}, 1)
	if r := t.reader; r != nil {
		var tail []byte
		r.observe.Store(func(chunk []byte) {
			// The marker may straddle two chunks: join the end of the last one to the start
			// of this one.
			head := chunk
			if len(head) > len(ftraceMarker) {
				head = head[:len(ftraceMarker)]
			}
			seen := bytes.Contains(append(tail, head...), ftraceMarker) || bytes.Contains(chunk, ftraceMarker)
			if len(chunk) > len(ftraceMarker) {
				chunk = chunk[len(chunk)-len(ftraceMarker):]
			}
			tail = append(tail[:0], chunk...)
			if seen {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		})
	}
	go func(stop <-chan struct{}, done chan<- struct{}) {
		defer close(done)
		defer syscall.Close(fd)
		slow := time.NewTicker(ftraceGuardSlow)
		defer slow.Stop()
		buf := make([]byte, 16)
		check := func() {
			n, err := syscall.Pread(fd, buf, 0)
			if err != nil || n == 0 || buf[0] != '0' {
				return
			}
			if _, err := syscall.Pwrite(fd, []byte("1\n"), 0); err == nil {
				t.ftraceRestore.Add(1)
			}
		}
		for {
			select {
			case <-stop:
				return
			case <-slow.C:
				check()
			case <-kick:
				for end := time.Now().Add(ftraceGuardAlert); time.Now().Before(end); {
					check()
					time.Sleep(ftraceGuardFast)
				}
			}
		}
	}(t.guardStop, t.guardDone)
}

func (t *tracer) stopGuard() {
	if t.guardStop == nil {
		return
	}
	close(t.guardStop)
	<-t.guardDone
	t.guardStop = nil
	if n := t.ftraceRestore.Load(); n > 0 {
		t.fail("ftrace was switched off in the guest %d times; the agent switched it back on each time", n)
	}
}

func (t *tracer) fail(format string, args ...any) {
	if len(t.errors) < maxTraceErrors-1 {
		t.errors = append(t.errors, shortText(fmt.Sprintf(format, args...), 500))
	} else {
		t.dropped++
	}
}

func (t *tracer) errorList() []string {
	list := append([]string{}, t.errors...)
	if t.dropped > 0 {
		list = append(list, fmt.Sprintf("%d further errors not listed", t.dropped))
	}
	return list
}

// arm defines the probes and enables every event, filtered to nobody yet. A probe line,
// filter or event the kernel refuses is reported, not fatal: the rest still traces. Arming
// does all the slow tracefs writes up front, so a ready snapshot saved after it restores
// with the tracer armed, and following a sample costs one write.
func (t *tracer) arm(req traceRequest) error {
	t.armed = false
	t.request = req
	t.errors, t.dropped = nil, 0
	setup := [][2]string{
		{"tracing_on", "0"},
		{"set_event", ""},
		// Only pid 0, the idle task, which makes no syscalls: an empty set_event_pid would
		// mean "trace everyone", the agent included.
		{"set_event_pid", "0"},
		{"kprobe_events", ""},
		{"trace", ""},
		{"buffer_size_kb", strconv.Itoa(req.BufferKB)},
		{"trace_clock", "mono"},
		{"options/record-tgid", "1"},
		{"options/event-fork", "1"},
	}
	for _, step := range setup {
		if err := t.write(step[0], step[1], false); err != nil {
			return fmt.Errorf("cannot arm the tracer: %v", err)
		}
	}
	for _, line := range req.Probes {
		name := strings.Fields(line + " ?")[0]
		if !singleLine(line) {
			t.fail("probe rejected: %q: not a single line", shortText(name, 100))
		} else if err := t.write("kprobe_events", line, true); err != nil {
			t.fail("probe rejected: %s: %v", name, err)
		}
	}
	for _, filter := range req.Filters {
		event, expression := filter[0], filter[1]
		if !validEvent(event) || !validFilter(expression) {
			t.fail("filter rejected: %q: not an event name and one-line expression", shortText(event, 100))
		} else if err := t.write("events/"+event+"/filter", expression, false); err != nil {
			t.fail("filter rejected: %s: %v", event, err)
		}
	}
	for _, event := range req.Events {
		if !validEvent(event) {
			t.fail("event not enabled: %q: not an event name", shortText(event, 100))
		} else if err := t.write("events/"+event+"/enable", "1", false); err != nil {
			t.fail("event not enabled: %s: %v", event, err)
		}
	}
	if err := t.write("tracing_on", "1", false); err != nil {
		return fmt.Errorf("cannot start tracing: %v", err)
	}
	if req.FloodBudget > 0 {
		t.flood = newFloodGuard(t.root, req, t.sink)
	}
	// trace_pipe reports end-of-file while tracing is off, so the reader starts only now.
	t.startReader()
	if t.flood != nil {
		t.reader.count.Store(t.flood.look)
	}
	t.armed = true
	return nil
}

// follow records this pid and, through event-fork, every descendant it creates.
func (t *tracer) follow(pid int) error {
	return t.write("set_event_pid", strconv.Itoa(pid), true)
}

// pipeReader streams trace_pipe, which blocks until events arrive and returns end-of-file
// once tracing is off and everything was handed out: what makes stop lossless.
type pipeReader struct {
	done    chan struct{}
	got     atomic.Int64
	err     error
	observe atomic.Value // func([]byte): looks at each chunk after the sink (the guard)
	count   atomic.Value // func([]byte): the flood guard's look at each chunk
}

func (t *tracer) startReader() {
	if t.reader != nil {
		select {
		case <-t.reader.done:
		default:
			// Still blocked from the last session (the kernel keeps a reader that never got
			// an event waiting even with tracing off): it serves this one.
			return
		}
	}
	r := &pipeReader{done: make(chan struct{})}
	t.reader = r
	go r.run(filepath.Join(t.root, "trace_pipe"), t.sink)
}

func (r *pipeReader) run(path string, sink func([]byte)) {
	defer close(r.done)
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		r.err = &pathError{"open", "trace_pipe", err}
		return
	}
	defer syscall.Close(fd)
	buf := make([]byte, readSize)
	for {
		n, err := readFD(fd, buf)
		if n > 0 {
			r.got.Add(int64(n))
			sink(buf[:n])
			if look, ok := r.observe.Load().(func([]byte)); ok {
				look(buf[:n])
			}
			if count, ok := r.count.Load().(func([]byte)); ok {
				count(buf[:n])
			}
			continue
		}
		if err != nil {
			r.err = &pathError{"read", "trace_pipe", err}
		}
		return
	}
}

// stop stops recording, sends what the kernel still buffered and returns the number of
// events lost (ring buffer overruns and drops, summed over the CPUs).
func (t *tracer) stop() int64 {
	if t.locked {
		// The trace file cannot be opened any more to pick up what trace_pipe had not handed
		// out when tracing goes off: let the reader drain first.
		t.drain(200*time.Millisecond, 5*time.Second)
	}
	t.stopGuard()
	if err := t.write("tracing_on", "0", false); err != nil {
		t.fail("cannot stop tracing: %v", err)
	}
	if r := t.reader; r != nil {
		wait := 500 * time.Millisecond
		if r.got.Load() > 0 {
			wait = 10 * time.Second
		}
		select {
		case <-r.done:
			if r.err != nil {
				t.fail("%v", r.err)
			}
		case <-time.After(wait):
			if r.got.Load() > 0 {
				t.fail("the trace_pipe reader did not finish within %v", wait)
			}
		}
	}
	// trace_pipe stops at end-of-file as soon as tracing is off; what it had not handed out
	// yet is still in the ring buffer, and the (non-consuming) trace file shows exactly that.
	if !t.locked {
		if err := t.sendFile("trace"); err != nil {
			t.fail("%v", err)
		}
	}
	t.armed = false
	if t.flood != nil {
		if r := t.reader; r != nil {
			r.count.Store(func([]byte) {})
		}
		for _, problem := range t.flood.close() {
			t.fail("%s", problem)
		}
		t.flood = nil
	}
	return t.lost()
}

// drain waits until the reader got nothing new for quiet, at most limit.
func (t *tracer) drain(quiet, limit time.Duration) {
	r := t.reader
	if r == nil {
		return
	}
	deadline := time.Now().Add(limit)
	last := r.got.Load()
	for time.Now().Before(deadline) {
		time.Sleep(quiet)
		now := r.got.Load()
		if now == last {
			return
		}
		last = now
	}
}

func (t *tracer) sendFile(relative string) error {
	fd, err := syscall.Open(filepath.Join(t.root, relative), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return &pathError{"open", relative, err}
	}
	defer syscall.Close(fd)
	buf := make([]byte, readSize)
	for {
		n, err := readFD(fd, buf)
		if n > 0 {
			t.sink(buf[:n])
			continue
		}
		if err != nil {
			return &pathError{"read", relative, err}
		}
		return nil
	}
}

func (t *tracer) lost() int64 {
	var files []string
	if t.locked {
		for relative := range t.kept {
			if strings.HasPrefix(relative, "per_cpu/") {
				files = append(files, relative)
			}
		}
	} else {
		cpus, err := os.ReadDir(filepath.Join(t.root, "per_cpu"))
		if err != nil {
			t.fail("cannot count lost events: %v", err)
			return 0
		}
		for _, cpu := range cpus {
			files = append(files, filepath.Join("per_cpu", cpu.Name(), "stats"))
		}
	}
	var lost int64
	for _, relative := range files {
		stats, err := t.readStats(relative)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(stats), "\n") {
			key, value, _ := strings.Cut(line, ":")
			if key = strings.TrimSpace(key); key == "overrun" || key == "dropped events" {
				if count, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64); err == nil {
					lost += count
				}
			}
		}
	}
	return lost
}

// readStats reads a per-CPU stats file, through the descriptor kept for it under lockdown
// (the kernel formats the figures at each read from offset 0).
func (t *tracer) readStats(relative string) ([]byte, error) {
	fd, kept := t.kept[relative]
	if !kept {
		return readFile(filepath.Join(t.root, relative), 64<<10)
	}
	buf := make([]byte, 64<<10)
	n, err := syscall.Pread(fd, buf, 0)
	if err != nil {
		return nil, &pathError{"read", relative, err}
	}
	return buf[:n], nil
}
