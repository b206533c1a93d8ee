package main

// The byte channel to the host: the virtio-serial port in the guest, or a unix socket in
// host tests. Requests are read and handled by one goroutine; frames are sent from several
// (replies, the trace reader, output pumps, exit waiters), one whole frame at a time.

import (
	"encoding/json"
	"log"
	"os"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

const readSize = 64 << 10

type link struct {
	mu sync.Mutex
	fd int // -1 while no host is connected (socket mode)
}

func newLink() *link { return &link{fd: -1} }

func (l *link) attach(fd int) {
	l.mu.Lock()
	l.fd = fd
	l.mu.Unlock()
}

func (l *link) detach() {
	l.mu.Lock()
	l.fd = -1
	l.mu.Unlock()
}

// send writes one frame. On the virtio port a write blocks until a host is connected; a
// frame with nowhere to go (socket mode, or a write error) is dropped: the host that gets
// the next connection starts from a clean frame boundary.
func (l *link) send(frame []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fd < 0 {
		return
	}
	_ = writeAll(l.fd, frame)
}

func (l *link) sendJSON(message map[string]any) {
	payload, err := json.Marshal(message)
	if err != nil || len(payload) > maxPayload {
		log.Printf("cannot encode a message: %v (%d bytes)", err, len(payload))
		return
	}
	l.send(encodeFrame(kindJSON, payload))
}

// sendData sends bytes as frames of one kind, cut to the payload limit.
func (l *link) sendData(kind byte, data []byte) {
	for len(data) > 0 {
		n := len(data)
		if n > maxPayload {
			n = maxPayload
		}
		l.send(encodeFrame(kind, data[:n]))
		data = data[n:]
	}
}

// shortText bounds a message for the host, which refuses errors over 4096 characters.
func shortText(text string, limit int) string {
	if len(text) <= limit {
		return text
	}
	text = text[:limit]
	for !utf8.ValidString(text) {
		text = text[:len(text)-1]
	}
	return text + "..."
}

// servePort serves the virtio-serial port forever. A read returning end-of-file means no
// host is connected (not yet, or not any more): poll until one is, which is also what lets
// a restored snapshot reconnect. The port is reopened only if it fails outright.
func servePort(a *agent, path string) {
	buf := make([]byte, readSize)
	for {
		fd := openPort(path)
		a.link.attach(fd)
		a.hello()
		for {
			n, err := readFD(fd, buf)
			if n > 0 {
				a.feed(buf[:n])
				continue
			}
			if err == nil || err == syscall.EAGAIN {
				a.disconnected()
				time.Sleep(50 * time.Millisecond)
				continue
			}
			log.Printf("agent port %s failed: %v; reopening it", path, err)
			break
		}
		a.link.detach()
		syscall.Close(fd)
		a.disconnected()
		time.Sleep(200 * time.Millisecond)
	}
}

func openPort(path string) int {
	for {
		fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0)
		if err == nil {
			return fd
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serveSocket listens on a unix socket and serves one connection after another, keeping
// the agent's state (tracer, running programs) across them as the port does across hosts.
func serveSocket(a *agent, path string) error {
	if info, err := os.Lstat(path); err == nil && info.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	listener, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := syscall.Bind(listener, &syscall.SockaddrUnix{Name: path}); err != nil {
		return &pathError{"bind", path, err}
	}
	if err := syscall.Listen(listener, 4); err != nil {
		return err
	}
	buf := make([]byte, readSize)
	for {
		conn, _, err := syscall.Accept4(listener, syscall.SOCK_CLOEXEC)
		if err == syscall.EINTR || err == syscall.ECONNABORTED {
			continue
		}
		if err != nil {
			return err
		}
		a.link.attach(conn)
		a.hello()
		for {
			n, err := readFD(conn, buf)
			if n <= 0 || err != nil {
				break
			}
			a.feed(buf[:n])
		}
		a.link.detach()
		syscall.Close(conn)
		a.disconnected()
	}
}
