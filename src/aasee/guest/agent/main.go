// The in-guest agent of AASEE: executes the host's requests and streams the kernel trace,
// program output and exit events back over the virtio-serial port org.aasee.agent.
//
// One static binary per guest architecture, standard library only, installed in the guest
// at /opt/aasee. Modes:
//
//	--init           PID 1 of the guest: serve the port (or --socket), reap orphans
//	--port PATH      serve the port without being PID 1 (the default mode; PATH below)
//	--socket PATH    serve a unix socket, one connection after another (host tests; with
//	                 --init, a container whose host reaches it through a bind mount)
//	--tracefs DIR    where tracefs is mounted (tests point it at a fake)
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"runtime"
)

const (
	agentVersion   = "0.3.0"
	defaultPort    = "/dev/virtio-ports/org.aasee.agent"
	defaultTracefs = "/sys/kernel/tracing"
)

func init() {
	// Keep the main goroutine on the main OS thread: in trampoline mode execve must come
	// from the thread group leader, whose pid is the one the tracer follows. Other modes
	// unlock it at once.
	runtime.LockOSThread()
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == trampolineMode {
		os.Exit(trampoline(os.Args[2:]))
	}
	runtime.UnlockOSThread()
	log.SetFlags(0)
	log.SetPrefix("aasee-agent: ")

	flags := flag.NewFlagSet("aasee-agent", flag.ExitOnError)
	asInit := flags.Bool("init", false, "run as PID 1: serve the port and reap orphans")
	port := flags.String("port", defaultPort, "virtio-serial port to serve")
	socket := flags.String("socket", "", "serve a unix socket instead of the port (host tests)")
	tracefs := flags.String("tracefs", defaultTracefs, "tracefs mount point")
	version := flags.Bool("version", false, "print the agent version")
	flags.Parse(os.Args[1:])

	switch {
	case *version:
		fmt.Println(agentVersion)
	case *asInit:
		a := newAgent(*tracefs)
		if *socket != "" {
			path := *socket
			runInit(func() {
				if err := serveSocket(a, path); err != nil {
					log.Fatalf("cannot serve %s: %v", path, err)
				}
			})
		} else {
			runInit(func() { servePort(a, *port) })
		}
	case *socket != "":
		if err := serveSocket(newAgent(*tracefs), *socket); err != nil {
			log.Fatalf("cannot serve %s: %v", *socket, err)
		}
	default:
		servePort(newAgent(*tracefs), *port)
	}
}
