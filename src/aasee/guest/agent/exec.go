package main

// Running a program for the host, traced from its very first instruction.
//
// The process is created as a copy of the agent itself (/proc/self/exe) in trampoline mode,
// already in its own session, with the user's credentials, the working directory, stdin on
// /dev/null and stdout/stderr on pipes. The trampoline waits on an inherited pipe for one
// byte: meanwhile the agent adds its pid to the tracer's set_event_pid, so everything the
// program does is recorded. Then the trampoline execve()s the program. A second pipe, whose
// write end the trampoline marks close-on-exec, tells the agent how that went: end-of-file
// when execve succeeded, the errno (4 bytes) when it failed, after which the trampoline
// exits 127 and the exit event follows as for any program.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	trampolineMode = "--exec-trampoline" // internal: argv[2:] is the program to run
	selfExe        = "/proc/self/exe"
	defaultPath    = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	outputLimit    = 4 << 20 // per stream; more is read and dropped
	goFD           = 3       // the trampoline's end of the go pipe
	statusFD       = 4       // the trampoline's end of the status pipe
	ptraceDetach   = 17
)

type execRequest struct {
	Argv  []string          `json:"argv"`
	Cwd   string            `json:"cwd"`
	User  string            `json:"user"`
	Env   map[string]string `json:"env"`
	Trace *bool             `json:"trace"`
	// Protect locks the tracer against the program once it is followed (see protect).
	Protect bool `json:"protect"`
}

type account struct {
	uid, gid uint32
	groups   []uint32
	home     string
}

func lookupAccount(name string) (account, error) {
	entry, err := user.Lookup(name)
	if err != nil {
		return account{}, fmt.Errorf("unknown user %q: %v", name, err)
	}
	uid, err1 := strconv.ParseUint(entry.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(entry.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return account{}, fmt.Errorf("user %q has no numeric uid/gid", name)
	}
	found := account{uid: uint32(uid), gid: uint32(gid), home: entry.HomeDir}
	ids, err := entry.GroupIds()
	if err != nil {
		ids = []string{entry.Gid}
	}
	for _, id := range ids {
		if group, err := strconv.ParseUint(id, 10, 32); err == nil {
			found.groups = append(found.groups, uint32(group))
		}
	}
	return found, nil
}

func programEnv(extra map[string]string, who account, name string) ([]string, error) {
	env := map[string]string{"PATH": defaultPath, "HOME": who.home, "USER": name}
	for key, value := range extra {
		if key == "" || strings.ContainsAny(key, "=\x00") || strings.ContainsRune(value, 0) {
			return nil, fmt.Errorf("invalid environment variable %q", key)
		}
		env[key] = value
	}
	list := make([]string, 0, len(env))
	for key, value := range env {
		list = append(list, key+"="+value)
	}
	sort.Strings(list) // the same request gives the same environment, byte for byte
	return list, nil
}

func pipe() (read, write int, err error) {
	var fds [2]int
	err = syscall.Pipe2(fds[:], syscall.O_CLOEXEC)
	return fds[0], fds[1], err
}

func closeAll(fds ...int) {
	for _, fd := range fds {
		if fd >= 0 {
			syscall.Close(fd)
		}
	}
}

func (a *agent) opExec(payload []byte) (map[string]any, error) {
	var req execRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, errors.New("argv must name a program")
	}
	for _, arg := range req.Argv {
		if strings.ContainsRune(arg, 0) {
			return nil, errors.New("argv must be free of NUL bytes")
		}
	}
	cwd, name := req.Cwd, req.User
	if cwd == "" {
		cwd = "/"
	}
	if name == "" {
		name = "root"
	}
	who, err := lookupAccount(name)
	if err != nil {
		return nil, err
	}
	env, err := programEnv(req.Env, who, name)
	if err != nil {
		return nil, err
	}
	if info, err := os.Stat(cwd); err != nil || !info.IsDir() {
		return nil, fmt.Errorf("working directory %q is not a directory", cwd)
	}
	attr := &syscall.ProcAttr{Dir: cwd, Env: env, Sys: &syscall.SysProcAttr{Setsid: true}}
	if who.uid != 0 {
		attr.Sys.Credential = &syscall.Credential{Uid: who.uid, Gid: who.gid, Groups: who.groups}
	}
	follow := req.Trace == nil || *req.Trace
	return a.start(req.Argv, attr, follow, follow && req.Protect)
}

type startResult struct {
	pid int
	err error
}

// process is one program the agent started, as its waiter goroutine sees it.
type process struct {
	replied chan struct{}  // closed once the exec reply is on its way
	pumps   sync.WaitGroup // the output pumps
	quiet   atomic.Bool    // no exit event: the exec request failed after all
}

func (a *agent) start(argv []string, attr *syscall.ProcAttr, follow, protect bool) (map[string]any, error) {
	devnull, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fds := []int{devnull, -1, -1, -1, -1, -1, -1, -1, -1} // devnull, out, err, go, status (r, w)
	for i := 1; i < len(fds); i += 2 {
		if fds[i], fds[i+1], err = pipe(); err != nil {
			closeAll(fds...)
			return nil, err
		}
	}
	outR, outW, errR, errW := fds[1], fds[2], fds[3], fds[4]
	goR, goW, statusR, statusW := fds[5], fds[6], fds[7], fds[8]
	attr.Files = []uintptr{uintptr(devnull), uintptr(outW), uintptr(errW), uintptr(goR), uintptr(statusW)}

	proc := &process{replied: make(chan struct{})}
	started := make(chan startResult, 1)
	go a.supervise(append([]string{"aasee-exec", trampolineMode}, argv...), attr, proc, started)
	result := <-started
	child, err := result.pid, result.err
	closeAll(devnull, outW, errW, goR, statusW) // the child has its copies
	if err != nil {
		closeAll(outR, errR, goW, statusR)
		close(proc.replied)
		return nil, fmt.Errorf("cannot start %s: %v", argv[0], err)
	}
	if follow && a.tracer != nil && a.tracer.armed {
		if err := a.tracer.follow(child); err != nil {
			// Never run a sample untraced: the trampoline dies before its execve.
			proc.quiet.Store(true)
			syscall.Kill(child, syscall.SIGKILL)
			closeAll(outR, errR, goW, statusR)
			close(proc.replied)
			return nil, fmt.Errorf("cannot trace pid %d: %v", child, err)
		}
	}
	protection := ""
	if protect && a.tracer != nil && a.tracer.armed {
		// Before the trampoline may execve: the program never runs with the tracer open.
		protection = a.tracer.protect()
	}
	proc.pumps.Add(2)
	go a.pump(outR, streamStdout, &proc.pumps)
	go a.pump(errR, streamStderr, &proc.pumps)
	writeAll(goW, []byte{1})
	syscall.Close(goW)
	when, monotonic := wallSeconds(), monotonicSeconds()
	var status [4]byte
	got := 0
	for got < len(status) {
		n, _ := readFD(statusR, status[got:])
		if n <= 0 {
			break
		}
		got += n
	}
	syscall.Close(statusR)
	reply := map[string]any{"pid": child, "time": when, "monotonic": monotonic}
	if protection != "" {
		reply["tracer_protection"] = protection
	}
	if got == len(status) {
		errno := syscall.Errno(binary.BigEndian.Uint32(status[:]))
		reply["exec_error"] = errno.Error()
		reply["errno"] = int(errno)
	}
	a.afterReply = func() { close(proc.replied) }
	return reply, nil
}

// supervise creates the process and waits for it to end, all on one locked OS thread: a
// sample calling PTRACE_TRACEME makes the thread that forked it its tracer, and the kernel
// takes ptrace requests only from that thread. The thread ends with this goroutine.
func (a *agent) supervise(argv []string, attr *syscall.ProcAttr, proc *process, started chan<- startResult) {
	runtime.LockOSThread()
	pid, err := syscall.ForkExec(selfExe, argv, attr)
	if err == nil {
		// Before anything can make it exit: as PID 1, the orphan reaper leaves it to us.
		adopt(pid)
		defer disown(pid)
	}
	started <- startResult{pid, err}
	if err != nil {
		return
	}
	var status syscall.WaitStatus
	for {
		_, err = syscall.Wait4(pid, &status, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err == nil && status.Stopped() {
			// The sample made us its tracer: let it go with its signal, so that it runs on
			// exactly as it would untraced.
			syscall.Syscall6(syscall.SYS_PTRACE, ptraceDetach, uintptr(pid), 0, uintptr(status.StopSignal()), 0, 0)
			continue
		}
		break
	}
	when := wallSeconds()
	<-proc.replied
	// Give the pumps a moment so that the program's last output precedes its exit event; a
	// descendant still holding the pipes does not hold the event back.
	drained := make(chan struct{})
	go func() { proc.pumps.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(250 * time.Millisecond):
	}
	if proc.quiet.Load() {
		return
	}
	if err != nil {
		a.link.sendJSON(map[string]any{"ev": "error", "error": fmt.Sprintf("cannot wait for pid %d: %v", pid, err)})
		return
	}
	event := map[string]any{"ev": "exit", "pid": pid, "time": when}
	if status.Signaled() {
		event["signal"] = int(status.Signal())
	} else {
		event["code"] = status.ExitStatus()
	}
	a.link.sendJSON(event)
}

// pump streams one of the program's outputs as OUTPUT frames, up to outputLimit bytes.
func (a *agent) pump(fd int, stream byte, done *sync.WaitGroup) {
	defer done.Done()
	defer syscall.Close(fd)
	buf := make([]byte, 1+readSize)
	buf[0] = stream
	sent := 0
	for {
		n, _ := readFD(fd, buf[1:])
		if n <= 0 {
			return
		}
		if n > outputLimit-sent {
			n = outputLimit - sent
		}
		if n > 0 {
			sent += n
			a.link.send(encodeFrame(kindOutput, buf[:1+n]))
		}
	}
}

// trampoline is the process of a program being started, until its execve. It runs on the
// main OS thread (see init), so that execve replaces the whole process from its leader.
func trampoline(argv []string) int {
	// Once the agent follows this pid every thread it starts is traced: keep the Go runtime
	// from starting any (a collector, a second processor) before the execve.
	debug.SetGCPercent(-1)
	runtime.GOMAXPROCS(1)
	syscall.CloseOnExec(statusFD)
	var signal [1]byte
	n, _ := readFD(goFD, signal[:])
	syscall.Close(goFD)
	if n != 1 || len(argv) == 0 {
		return 127 // the agent gave up on this program
	}
	path, err := lookPath(argv[0], os.Getenv("PATH"))
	if err == nil {
		err = syscall.Exec(path, argv, os.Environ())
	}
	var status [4]byte
	binary.BigEndian.PutUint32(status[:], uint32(errnoOf(err)))
	writeAll(statusFD, status[:])
	fmt.Fprintf(os.Stderr, "aasee-agent: cannot execute %s: %v\n", argv[0], err)
	return 127
}

// lookPath finds a program as execvp does: a name with a slash is used as it is, any other
// is searched in PATH (an empty entry meaning the working directory).
func lookPath(name, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	denied := false
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		candidate := dir + "/" + name
		var st syscall.Stat_t
		if syscall.Stat(candidate, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			continue
		}
		const executable = 1 // X_OK
		if syscall.Access(candidate, executable) != nil {
			denied = true
			continue
		}
		return candidate, nil
	}
	if denied {
		return "", syscall.EACCES
	}
	return "", syscall.ENOENT
}
