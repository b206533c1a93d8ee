package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestLookPathSearchesLikeExecvp(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "plain"), []byte("data"), 0o644)
	os.Mkdir(filepath.Join(dir, "folder"), 0o755)
	path := "/nonexistent:" + dir
	if got, err := lookPath("tool", path); err != nil || got != dir+"/tool" {
		t.Fatalf("tool: %q %v", got, err)
	}
	if _, err := lookPath("folder", path); err != syscall.ENOENT {
		t.Fatalf("folder: %v", err)
	}
	if _, err := lookPath("missing", path); err != syscall.ENOENT {
		t.Fatalf("missing: %v", err)
	}
	if os.Geteuid() != 0 { // root may execute anything with an x bit, and "plain" has none
		if _, err := lookPath("plain", path); err != syscall.EACCES {
			t.Fatalf("plain: %v", err)
		}
	}
	if got, _ := lookPath("./rel/prog", path); got != "./rel/prog" {
		t.Fatalf("a name with a slash is not searched: %q", got)
	}
}

func TestProgramEnvironment(t *testing.T) {
	who := account{home: "/home/u"}
	env, err := programEnv(map[string]string{"B": "2", "PATH": "/opt/bin", "A": "1"}, who, "u")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(env, " ") != "A=1 B=2 HOME=/home/u PATH=/opt/bin USER=u" {
		t.Fatalf("env %v", env)
	}
	for _, bad := range []map[string]string{{"": "x"}, {"A=B": "x"}, {"A": "x\x00y"}} {
		if _, err := programEnv(bad, who, "u"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestExecReportsAFailedExecve(t *testing.T) {
	h := newHost(t, t.TempDir())
	h.request(map[string]any{"op": "exec", "id": 1, "argv": []string{"/nonexistent/program"}, "cwd": "/"})
	// Output may come at any time; the exit event always comes after the reply.
	var messages []map[string]any
	var output string
	for len(messages) < 2 {
		if frame := h.next(); frame.kind == kindOutput {
			output += string(frame.payload)
		} else {
			h.queue = append([]testFrame{frame}, h.queue...)
			messages = append(messages, h.message())
		}
	}
	reply, exit := messages[0], messages[1]
	if reply["ok"] != true || reply["errno"] != float64(syscall.ENOENT) || reply["exec_error"] != "no such file or directory" {
		t.Fatalf("reply %v", reply)
	}
	if exit["ev"] != "exit" || exit["pid"] != reply["pid"] || exit["code"] != 127.0 {
		t.Fatalf("exit %v", exit)
	}
	if !strings.Contains(output, "cannot execute /nonexistent/program") {
		t.Fatalf("output %q", output)
	}
}
