package main

// Small system-call helpers. The agent does its I/O on plain blocking file descriptors:
// the Go poller would make the virtio port and tracefs's trace_pipe non-blocking, and both
// behave differently then (trace_pipe never reports the end of the trace, for one).

import (
	"errors"
	"io"
	"syscall"
	"time"
	"unsafe"
)

const clockMonotonic = 1 // CLOCK_MONOTONIC, the clock of ftrace's "mono" trace_clock

// readFD reads once, retrying when a signal interrupted the call (the Go runtime preempts
// goroutines with signals, and trace_pipe returns EINTR rather than restarting).
func readFD(fd int, buf []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if n < 0 {
			n = 0
		}
		return n, err
	}
}

// writeAll writes every byte or returns the error that stopped it.
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			time.Sleep(10 * time.Millisecond)
			continue
		case err != nil:
			return err
		case n <= 0:
			return io.ErrShortWrite
		}
		data = data[n:]
	}
	return nil
}

// readFile reads a whole (small, or bounded by limit) file with blocking reads.
func readFile(path string, limit int) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &pathError{"open", path, err}
	}
	defer syscall.Close(fd)
	var out []byte
	buf := make([]byte, 64<<10)
	for len(out) < limit {
		n, err := readFD(fd, buf)
		if err != nil {
			return out, &pathError{"read", path, err}
		}
		if n == 0 {
			break
		}
		out = append(out, buf[:n]...)
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// pathError is os.PathError's message without importing os into every file.
type pathError struct {
	op, path string
	err      error
}

func (e *pathError) Error() string { return e.op + " " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return syscall.EINVAL
}

func wallSeconds() float64 {
	return float64(time.Now().UnixNano()) / 1e9
}

func monotonicSeconds() float64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	return float64(ts.Sec) + float64(ts.Nsec)/1e9
}

// setWallClock sets CLOCK_REALTIME; a 32-bit guest cannot go past 2038.
func setWallClock(epoch float64) error {
	nanos := int64(epoch * 1e9)
	ts := syscall.NsecToTimespec(nanos)
	if int64(ts.Sec) != nanos/1e9 {
		return errors.New("epoch out of range for this guest's clock")
	}
	const clockRealtime = 0
	_, _, errno := syscall.Syscall(syscall.SYS_CLOCK_SETTIME, clockRealtime, uintptr(unsafe.Pointer(&ts)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// uname returns the kernel release and machine, as `uname -r` and `uname -m` print them.
func uname() (release, machine string) {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "", ""
	}
	return cString(u.Release[:]), cString(u.Machine[:])
}

// cString converts a NUL-terminated utsname field (int8 on most architectures, uint8 on arm).
func cString[T int8 | uint8](chars []T) string {
	out := make([]byte, 0, len(chars))
	for _, c := range chars {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}
