package main

// The kernel tracer: ftrace kprobes and tracepoints, armed exactly as the host says. The
// host writes every probe line, event name and filter for the guest's architecture
// (aasee.guest.probes); the agent knows no architecture and only writes them into tracefs,
// then streams the text trace back. Nothing here attaches to the sample: the kernel records
// events for the sample's process tree (set_event_pid with options/event-fork), so the
// sample sees TracerPid 0 and may ptrace itself.

import (
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

const (
	defaultBufferKB = 16384
	maxTraceItems   = 4096 // probe lines, events or filters in one request
	maxTraceErrors  = 200  // what the host accepts in one reply
)

type traceRequest struct {
	Probes   []string   `json:"probes"`
	Events   []string   `json:"events"`
	Filters  [][]string `json:"filters"`
	BufferKB int        `json:"buffer_kb"`
}

func (r *traceRequest) normalise() error {
	if r.BufferKB == 0 {
		r.BufferKB = defaultBufferKB
	}
	if r.BufferKB < 1 || r.BufferKB > 1<<22 {
		return fmt.Errorf("buffer_kb %d is out of range", r.BufferKB)
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

type tracer struct {
	root    string
	sink    func([]byte)
	write   func(relative, value string, appendMode bool) error // replaced in tests
	request traceRequest
	armed   bool
	errors  []string
	dropped int
	reader  *pipeReader
}

func newTracer(root string, sink func([]byte)) *tracer {
	t := &tracer{root: root, sink: sink}
	t.write = t.writeControl
	return t
}

// writeControl writes one value to a tracefs control file. No seek ever: tracefs rejects
// lseek, so the file is opened for appending or truncated, never positioned.
func (t *tracer) writeControl(relative, value string, appendMode bool) error {
	flags := syscall.O_WRONLY | syscall.O_CLOEXEC | syscall.O_TRUNC
	if appendMode {
		flags = syscall.O_WRONLY | syscall.O_CLOEXEC | syscall.O_APPEND
	}
	fd, err := syscall.Open(filepath.Join(t.root, relative), flags, 0)
	if err != nil {
		return &pathError{"open", relative, err}
	}
	defer syscall.Close(fd)
	if err := writeAll(fd, []byte(value+"\n")); err != nil {
		return &pathError{"write", relative, err}
	}
	return nil
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
		if !validEvent(event) || !singleLine(expression) {
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
	// trace_pipe reports end-of-file while tracing is off, so the reader starts only now.
	t.startReader()
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
	done chan struct{}
	got  atomic.Int64
	err  error
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
	if err := t.sendFile("trace"); err != nil {
		t.fail("%v", err)
	}
	t.armed = false
	return t.lost()
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
	cpus, err := os.ReadDir(filepath.Join(t.root, "per_cpu"))
	if err != nil {
		t.fail("cannot count lost events: %v", err)
		return 0
	}
	var lost int64
	for _, cpu := range cpus {
		stats, err := readFile(filepath.Join(t.root, "per_cpu", cpu.Name(), "stats"), 64<<10)
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
