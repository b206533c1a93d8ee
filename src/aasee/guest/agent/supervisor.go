package main

// --init: the agent as PID 1 of the guest. It serves the port itself, in this process, and
// reaps every orphan (daemonized samples end up as its children).
//
// Serving from PID 1 is what keeps the agent alive under a root sample: the kernel delivers
// to PID 1 only the signals it has handlers for, never SIGKILL or SIGSTOP from inside the
// guest, and every signal is caught and dropped here. A separate worker process could be
// killed by the sample (kill -9 -1), ending the trace stream with it.

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

func runInit(serve func()) {
	// A handler for every signal: the Go runtime's defaults would end the process on
	// SIGQUIT, SIGUSR1 and the like, and an init that ends panics the kernel. Handlers, not
	// SIG_IGN: ignored signals stay ignored across execve, and samples must not inherit that.
	drop := make(chan os.Signal, 64)
	signal.Notify(drop)
	go func() {
		for range drop {
		}
	}()
	// PID 1 adopts orphans anyway; elsewhere (a container, the host tests) this makes the
	// agent adopt its programs' orphans too.
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	go serve()
	reapOrphans()
}

// children are the pids the agent started and waits for itself (exec.go); the reaper
// leaves them alone.
var children sync.Map

func adopt(pid int)  { children.Store(pid, struct{}{}) }
func disown(pid int) { children.Delete(pid) }

// reapOrphans waits for any child to end without reaping it (WNOWAIT), then reaps it unless
// it is one the agent waits for itself.
func reapOrphans() {
	for {
		pid, err := waitAnyExited()
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil || pid <= 0:
			// No child at all (ECHILD): nothing to reap until the agent starts one.
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if _, ours := children.Load(pid); ours {
			// Its waiter reaps it in a moment; the next waitid would report it again.
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var status syscall.WaitStatus
		syscall.Wait4(pid, &status, syscall.WNOHANG, nil)
	}
}

const (
	pAll                = 0
	wNowait             = 0x01000000
	prSetChildSubreaper = 36
)

// waitAnyExited blocks until a child has exited and returns its pid, leaving it a zombie.
func waitAnyExited() (int, error) {
	var info [128]byte
	_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pAll, 0, uintptr(unsafe.Pointer(&info[0])),
		syscall.WEXITED|wNowait, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	// siginfo_t: three ints, then the union (aligned to a pointer) whose first field is
	// si_pid, on every Linux architecture.
	offset := 3 * 4
	if align := int(unsafe.Sizeof(uintptr(0))); offset%align != 0 {
		offset += align - offset%align
	}
	return int(*(*int32)(unsafe.Pointer(&info[offset]))), nil
}
