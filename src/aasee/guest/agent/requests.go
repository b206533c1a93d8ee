package main

// Requests from the host, handled one at a time in arrival order. Every failure becomes an
// error reply (or an error event when the request cannot be identified); nothing the host
// sends can stop the agent.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

const maxErrorText = 2000

type agent struct {
	link    *link
	reader  frameReader
	tracer  *tracer
	upload  *upload
	tracefs string
	// afterReply runs once the current request's reply is sent (exec uses it so that a
	// program's exit event never overtakes the reply announcing its pid).
	afterReply func()
}

func newAgent(tracefs string) *agent {
	return &agent{link: newLink(), tracefs: tracefs}
}

func (a *agent) hello() {
	a.link.sendJSON(map[string]any{"ev": "hello", "agent_version": agentVersion})
}

// disconnected forgets what belonged to the host that went away: a partial frame and an
// unfinished upload. Programs and the tracer go on.
func (a *agent) disconnected() {
	a.reader.reset()
	if a.upload != nil {
		a.upload.abort()
		a.upload = nil
	}
}

func (a *agent) feed(data []byte) {
	a.reader.feed(data, a.frame, func(problem string) {
		a.link.sendJSON(map[string]any{"ev": "error", "error": problem})
	})
}

func (a *agent) frame(kind byte, payload []byte) {
	switch kind {
	case kindJSON:
		a.request(payload)
	case kindData:
		a.data(payload)
	}
	// Other kinds only ever travel from the agent to the host.
}

func (a *agent) request(payload []byte) {
	var head struct {
		Op string          `json:"op"`
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(payload, &head); err != nil {
		a.link.sendJSON(map[string]any{"ev": "error", "error": "invalid request: " + shortText(err.Error(), maxErrorText)})
		return
	}
	id := head.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	a.afterReply = nil
	result, err := a.dispatch(head.Op, payload)
	switch {
	case err != nil:
		a.link.sendJSON(map[string]any{"re": id, "ok": false, "error": shortText(err.Error(), maxErrorText)})
	case result != nil:
		reply := map[string]any{"re": id, "ok": true}
		for key, value := range result {
			reply[key] = value
		}
		a.link.sendJSON(reply)
	}
	// A nil result without error: the reply comes later (put, once its data arrived).
	if a.afterReply != nil {
		a.afterReply()
		a.afterReply = nil
	}
}

func (a *agent) dispatch(op string, payload []byte) (result map[string]any, err error) {
	defer func() {
		if failure := recover(); failure != nil {
			result, err = nil, fmt.Errorf("internal error: %v\n%s", failure, debug.Stack())
		}
	}()
	switch op {
	case "ping":
		return a.opPing()
	case "settime":
		return a.opSettime(payload)
	case "put":
		return a.opPut(payload)
	case "exec":
		return a.opExec(payload)
	case "trace_start":
		return a.opTraceStart(payload)
	case "trace_stop":
		return a.opTraceStop()
	case "get":
		return a.opGet(payload)
	case "sync":
		syscall.Sync()
		return map[string]any{}, nil
	}
	return nil, fmt.Errorf("unknown op %q", op)
}

func decode(payload []byte, into any) error {
	if err := json.Unmarshal(payload, into); err != nil {
		return fmt.Errorf("invalid request: %v", err)
	}
	return nil
}

func (a *agent) opPing() (map[string]any, error) {
	raw, err := readFile("/proc/uptime", 256)
	if err != nil {
		return nil, err
	}
	uptime, err := strconv.ParseFloat(strings.Fields(string(raw) + " 0")[0], 64)
	if err != nil {
		return nil, fmt.Errorf("unreadable /proc/uptime: %v", err)
	}
	kernel, machine := uname()
	return map[string]any{
		"agent_version": agentVersion,
		"protocol":      protocolVersion,
		"kernel":        kernel,
		"machine":       machine,
		"uptime":        uptime,
		"time":          wallSeconds(),
		"monotonic":     monotonicSeconds(),
	}, nil
}

func (a *agent) opSettime(payload []byte) (map[string]any, error) {
	var req struct {
		Epoch *float64 `json:"epoch"`
	}
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if req.Epoch == nil || math.IsNaN(*req.Epoch) || *req.Epoch <= 0 || *req.Epoch > 1e11 {
		return nil, errors.New("epoch must be a positive number of seconds")
	}
	previous := wallSeconds()
	if err := setWallClock(*req.Epoch); err != nil {
		return nil, fmt.Errorf("cannot set the clock: %v", err)
	}
	return map[string]any{"previous": previous}, nil
}

// --- put: a file upload, its bytes following in DATA frames ---------------------------

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

type upload struct {
	id       json.RawMessage
	path     string
	partial  string
	size     int64
	sha256   string
	mode     uint32
	received int64
	hash     hash.Hash
	file     *os.File
}

func (u *upload) abort() {
	u.file.Close()
	os.Remove(u.partial)
}

func (a *agent) opPut(payload []byte) (map[string]any, error) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Path   string          `json:"path"`
		Size   *int64          `json:"size"`
		SHA256 string          `json:"sha256"`
		Mode   *uint32         `json:"mode"`
	}
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(req.Path, "/") || strings.ContainsRune(req.Path, 0) {
		return nil, errors.New("path must be absolute and free of NUL bytes")
	}
	if req.Size == nil || *req.Size < 0 {
		return nil, errors.New("size must be a number of bytes")
	}
	if !sha256Hex.MatchString(req.SHA256) {
		return nil, errors.New("sha256 must be 64 lowercase hex digits")
	}
	mode := uint32(0o755)
	if req.Mode != nil {
		mode = *req.Mode
	}
	if mode > 0o7777 {
		return nil, errors.New("mode must be permission bits")
	}
	if a.upload != nil {
		// The host gave up on the previous upload; its bytes never came.
		a.upload.abort()
		a.upload = nil
	}
	if err := os.MkdirAll(filepath.Dir(req.Path), 0o777); err != nil {
		return nil, err
	}
	partial := req.Path + ".part"
	file, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	id := req.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	a.upload = &upload{
		id: id, path: req.Path, partial: partial, size: *req.Size, sha256: req.SHA256,
		mode: mode, hash: sha256.New(), file: file,
	}
	if *req.Size == 0 {
		a.finishUpload(nil)
	}
	return nil, nil
}

func (a *agent) data(chunk []byte) {
	u := a.upload
	if u == nil {
		a.link.sendJSON(map[string]any{"ev": "error", "error": "data frame without put"})
		return
	}
	if _, err := u.file.Write(chunk); err != nil {
		a.finishUpload(err)
		return
	}
	u.hash.Write(chunk)
	u.received += int64(len(chunk))
	if u.received >= u.size {
		a.finishUpload(nil)
	}
}

func (a *agent) finishUpload(failure error) {
	u := a.upload
	a.upload = nil
	digest := hex.EncodeToString(u.hash.Sum(nil))
	if err := u.file.Close(); failure == nil {
		failure = err
	}
	if failure == nil && (u.received != u.size || digest != u.sha256) {
		failure = fmt.Errorf("upload corrupted: %s", digest)
	}
	if failure == nil {
		if failure = syscall.Chmod(u.partial, u.mode); failure == nil {
			failure = os.Rename(u.partial, u.path)
		}
	}
	if failure != nil {
		os.Remove(u.partial)
		a.link.sendJSON(map[string]any{"re": u.id, "ok": false, "error": shortText(failure.Error(), maxErrorText)})
		return
	}
	a.link.sendJSON(map[string]any{"re": u.id, "ok": true, "sha256": digest})
}

// --- the tracer -----------------------------------------------------------------------

func (a *agent) opTraceStart(payload []byte) (map[string]any, error) {
	var req traceRequest
	if err := decode(payload, &req); err != nil {
		return nil, err
	}
	if err := req.normalise(); err != nil {
		return nil, err
	}
	if a.tracer != nil && a.tracer.armed && a.tracer.request.equal(req) {
		// Armed before the snapshot was saved: nothing to redo.
		return map[string]any{"errors": a.tracer.errorList(), "reused": true}, nil
	}
	if a.tracer != nil && a.tracer.armed {
		a.tracer.stop()
	}
	if a.tracer == nil {
		a.tracer = newTracer(a.tracefs, func(chunk []byte) { a.link.sendData(kindTrace, chunk) })
	}
	if err := a.tracer.arm(req); err != nil {
		return nil, err
	}
	return map[string]any{"errors": a.tracer.errorList(), "reused": false}, nil
}

func (a *agent) opTraceStop() (map[string]any, error) {
	if a.tracer == nil || !a.tracer.armed {
		return map[string]any{"lost": 0, "errors": []string{}}, nil
	}
	lost := a.tracer.stop()
	return map[string]any{"lost": lost, "errors": a.tracer.errorList()}, nil
}
