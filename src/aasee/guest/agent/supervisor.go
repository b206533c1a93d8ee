package main

// --init: the agent as PID 1 of the minimal guest. It keeps the worker (the agent serving
// the port) alive, restarting it if the sample kills it, and reaps every orphan: daemonized
// samples end up as its children.

import (
	"log"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func superviseGuest(workerArgs []string) {
	// Catch and drop the signals that would end an init that has handlers (the kernel never
	// delivers default-action signals to PID 1 anyway). A handler, not SIG_IGN: ignored
	// signals stay ignored across execve, and the worker and samples must not inherit that.
	drop := make(chan os.Signal, 16)
	signal.Notify(drop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		for range drop {
		}
	}()
	worker := 0
	for {
		if worker <= 0 {
			worker = spawnWorker(workerArgs)
			if worker <= 0 {
				time.Sleep(500 * time.Millisecond)
				continue
			}
		}
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, 0, nil)
		switch {
		case err == syscall.EINTR:
		case err != nil:
			time.Sleep(500 * time.Millisecond)
		case pid == worker:
			log.Printf("worker %d ended (%v); restarting it", pid, describe(status))
			worker = 0
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func spawnWorker(args []string) int {
	pid, err := syscall.ForkExec(selfExe, append([]string{"aasee-agent"}, args...), &syscall.ProcAttr{
		Dir:   "/",
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2},
	})
	if err != nil {
		log.Printf("cannot start the worker: %v", err)
		return 0
	}
	return pid
}

func describe(status syscall.WaitStatus) string {
	if status.Signaled() {
		return "signal " + status.Signal().String()
	}
	return "exit code " + strconv.Itoa(status.ExitStatus())
}
