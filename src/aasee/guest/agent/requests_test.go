package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets this test binary stand in for the agent binary, which starts copies of
// itself (/proc/self/exe) in trampoline mode to run programs.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == trampolineMode {
		os.Exit(trampoline(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// host is the test's end of a socket pair whose other end the agent sends on.
type host struct {
	t      *testing.T
	agent  *agent
	fd     int
	reader frameReader
	queue  []testFrame
}

type testFrame struct {
	kind    byte
	payload []byte
}

func newHost(t *testing.T, tracefs string) *host {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	timeout := syscall.NsecToTimeval(int64(5 * time.Second))
	syscall.SetsockoptTimeval(fds[1], syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &timeout)
	a := newAgent(tracefs)
	a.link.attach(fds[0])
	t.Cleanup(func() {
		a.link.detach()
		syscall.Close(fds[0])
		syscall.Close(fds[1])
	})
	return &host{t: t, agent: a, fd: fds[1]}
}

// send hands a request to the agent as the port would.
func (h *host) send(data []byte) { h.agent.feed(data) }

func (h *host) request(message map[string]any) {
	payload, _ := json.Marshal(message)
	h.send(encodeFrame(kindJSON, payload))
}

func (h *host) next() testFrame {
	h.t.Helper()
	buf := make([]byte, readSize)
	for len(h.queue) == 0 {
		n, err := syscall.Read(h.fd, buf)
		if n <= 0 {
			h.t.Fatalf("nothing from the agent: %v", err)
		}
		h.reader.feed(buf[:n], func(kind byte, payload []byte) {
			h.queue = append(h.queue, testFrame{kind, payload})
		}, func(problem string) { h.t.Fatalf("the agent sent a bad frame: %s", problem) })
	}
	frame := h.queue[0]
	h.queue = h.queue[1:]
	return frame
}

func (h *host) message() map[string]any {
	h.t.Helper()
	frame := h.next()
	if frame.kind != kindJSON {
		h.t.Fatalf("expected a JSON frame, got kind %d", frame.kind)
	}
	var message map[string]any
	if err := json.Unmarshal(frame.payload, &message); err != nil {
		h.t.Fatal(err)
	}
	return message
}

func TestPingSaysWhatAndWhere(t *testing.T) {
	h := newHost(t, t.TempDir())
	h.request(map[string]any{"op": "ping", "id": 7})
	reply := h.message()
	if reply["re"] != 7.0 || reply["ok"] != true || reply["protocol"] != 3.0 || reply["agent_version"] != agentVersion {
		t.Fatalf("reply %v", reply)
	}
	_, machine := uname()
	if reply["machine"] != machine || machine == "" || reply["kernel"] == "" {
		t.Fatalf("reply %v", reply)
	}
}

func TestBadRequestsGetAnswersNotACrash(t *testing.T) {
	h := newHost(t, t.TempDir())
	h.request(map[string]any{"op": "format_disk", "id": 1})
	if reply := h.message(); reply["ok"] != false || !strings.Contains(reply["error"].(string), `unknown op "format_disk"`) {
		t.Fatalf("reply %v", reply)
	}
	h.send(encodeFrame(kindJSON, []byte("[1,2]")))
	if event := h.message(); event["ev"] != "error" || !strings.Contains(event["error"].(string), "invalid request") {
		t.Fatalf("event %v", event)
	}
	h.request(map[string]any{"op": "exec", "id": 2, "argv": "not a list"})
	if reply := h.message(); reply["ok"] != false || !strings.Contains(reply["error"].(string), "invalid request") {
		t.Fatalf("reply %v", reply)
	}
	h.request(map[string]any{"op": "get", "id": -1, "path": "/", "cap": 1})
	if reply := h.message(); reply["ok"] != false || !strings.Contains(reply["error"].(string), "id must be") {
		t.Fatalf("reply %v", reply)
	}
	// Garbage, then a good frame in the same write: one error event, then the answer.
	h.send(append([]byte("garbage!garbage!"), encodeFrame(kindJSON, []byte(`{"op":"sync","id":3}`))...))
	if event := h.message(); event["ev"] != "error" || !strings.Contains(event["error"].(string), "magic") {
		t.Fatalf("event %v", event)
	}
	if reply := h.message(); reply["re"] != 3.0 || reply["ok"] != true {
		t.Fatalf("reply %v", reply)
	}
	h.send(encodeFrame(kindData, []byte("stray")))
	if event := h.message(); event["error"] != "data frame without put" {
		t.Fatalf("event %v", event)
	}
}

func TestPutWritesTheFileOnlyWhenWhole(t *testing.T) {
	h := newHost(t, t.TempDir())
	target := filepath.Join(t.TempDir(), "deep", "sample.bin")
	content := []byte(strings.Repeat("MZ-payload-", 50000))
	digest := sha256.Sum256(content)
	h.request(map[string]any{"op": "put", "id": 1, "path": target, "size": len(content),
		"sha256": hex.EncodeToString(digest[:]), "mode": 0o4750})
	for start := 0; start < len(content); start += dataChunk {
		end := start + dataChunk
		if end > len(content) {
			end = len(content)
		}
		h.send(encodeFrame(kindData, content[start:end]))
	}
	if reply := h.message(); reply["ok"] != true || reply["sha256"] != hex.EncodeToString(digest[:]) {
		t.Fatalf("reply %v", reply)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(target, &st); err != nil || st.Mode&0o7777 != 0o4750 || st.Size != int64(len(content)) {
		t.Fatalf("stat %v mode %o", err, st.Mode)
	}
	// A corrupted upload leaves nothing behind.
	other := filepath.Join(filepath.Dir(target), "other.bin")
	h.request(map[string]any{"op": "put", "id": 2, "path": other, "size": 4, "sha256": strings.Repeat("0", 64)})
	h.send(encodeFrame(kindData, []byte("ABCD")))
	if reply := h.message(); reply["ok"] != false || !strings.Contains(reply["error"].(string), "upload corrupted") {
		t.Fatalf("reply %v", reply)
	}
	if _, err := os.Stat(other); err == nil {
		t.Fatal("corrupted upload was installed")
	}
	if _, err := os.Stat(other + ".part"); err == nil {
		t.Fatal("corrupted upload left its partial file")
	}
	// An empty file needs no DATA frame.
	empty := sha256.Sum256(nil)
	h.request(map[string]any{"op": "put", "id": 3, "path": other, "size": 0, "sha256": hex.EncodeToString(empty[:])})
	if reply := h.message(); reply["ok"] != true {
		t.Fatalf("reply %v", reply)
	}
}

func TestAnUploadDiesWithItsHost(t *testing.T) {
	h := newHost(t, t.TempDir())
	target := filepath.Join(t.TempDir(), "half.bin")
	h.request(map[string]any{"op": "put", "id": 1, "path": target, "size": 10, "sha256": strings.Repeat("0", 64)})
	h.send(encodeFrame(kindData, []byte("12345")))
	h.agent.disconnected()
	if _, err := os.Stat(target + ".part"); err == nil {
		t.Fatal("the partial upload survived its host")
	}
	h.send(encodeFrame(kindData, []byte("67890")))
	if event := h.message(); event["error"] != "data frame without put" {
		t.Fatalf("event %v", event)
	}
}

func TestGetReadsRegularFilesOnly(t *testing.T) {
	h := newHost(t, t.TempDir())
	dir := t.TempDir()
	file := filepath.Join(dir, "dropped")
	os.WriteFile(file, []byte("0123456789"), 0o640)
	os.Symlink(file, filepath.Join(dir, "link"))
	h.request(map[string]any{"op": "get", "id": 9, "path": file, "cap": 4})
	data := h.next()
	if data.kind != kindFile || string(data.payload) != "\x00\x00\x00\x09"+"0123" {
		t.Fatalf("file frame %q", data.payload)
	}
	reply := h.message()
	if reply["sent"] != 4.0 || reply["truncated"] != true || reply["size"] != 10.0 || reply["mode"] != 0o640*1.0 {
		t.Fatalf("reply %v", reply)
	}
	h.request(map[string]any{"op": "get", "id": 10, "path": filepath.Join(dir, "link"), "cap": 100})
	if reply := h.message(); reply["kind"] != "symlink" || reply["sent"] != 0.0 {
		t.Fatalf("reply %v", reply)
	}
	h.request(map[string]any{"op": "get", "id": 11, "path": filepath.Join(dir, "nothing", "here"), "cap": 100})
	if reply := h.message(); reply["kind"] != "missing" || reply["exists"] != false {
		t.Fatalf("reply %v", reply)
	}
}

func TestTraceStartTwiceReusesTheArmedTracer(t *testing.T) {
	root := fakeTracefs(t, "ae/open")
	defer release(root)
	h := newHost(t, root)
	request := map[string]any{"op": "trace_start", "id": 1, "probes": []string{"p:ae/open do_filp_open"},
		"events": []string{"ae/open", "ae/gone"}, "filters": [][]string{}, "buffer_kb": 64}
	h.request(request)
	reply := h.message()
	if reply["ok"] != true || reply["reused"] != false || len(reply["errors"].([]any)) != 1 {
		t.Fatalf("reply %v", reply)
	}
	// Snapshots are saved armed: the same request must not touch tracefs again.
	os.WriteFile(filepath.Join(root, "tracing_on"), []byte("untouched"), 0o644)
	request["id"] = 2
	h.request(request)
	reply = h.message()
	if reply["reused"] != true || len(reply["errors"].([]any)) != 1 || content(t, root, "tracing_on") != "untouched" {
		t.Fatalf("reply %v, tracing_on %q", reply, content(t, root, "tracing_on"))
	}
	// Another request re-arms, after stopping the first (whose rest arrives as TRACE frames).
	request["id"], request["buffer_kb"] = 3, 128
	h.request(request)
	for {
		if frame := h.next(); frame.kind != kindJSON {
			continue
		} else {
			h.queue = append([]testFrame{frame}, h.queue...)
		}
		if message := h.message(); message["re"] == 3.0 {
			if message["reused"] != false || content(t, root, "buffer_size_kb") != "128\n" {
				t.Fatalf("reply %v", message)
			}
			break
		}
	}
}
