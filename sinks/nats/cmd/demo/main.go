// Command demo shows effectively-once delivery into NATS JetStream: it
// starts a nats-server with JetStream in this process (loopback, a
// temporary store), runs a child process that enqueues events through a
// real processor and the walnats dispatcher, kills it with SIGKILL
// mid-stream (-kills times), starts it again to recover and finish, then
// reads the stream and prints what was acknowledged, what the stream
// holds, duplicates in it and lost events (both must be 0). It exits
// non-zero if anything acknowledged was lost or stored twice.
//
// From the repository root:
//
//	go -C sinks/nats run ./cmd/demo
//	go -C sinks/nats run ./cmd/demo -events 100000 -kills 10
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"

	"github.com/walbatch/walbatch/sinks/nats/internal/crashrun"
)

const childArg = "-walnats-demo-child" // the producing process; not for people

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == childArg {
		cfg, err := crashrun.ParseChildArgs(os.Args[2:])
		if err == nil {
			err = crashrun.RunChild(ctx, cfg, os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run(ctx))
}

func run(ctx context.Context) int {
	cfg := crashrun.Config{Progress: os.Stderr}
	flag.IntVar(&cfg.Events, "events", 20000, "events to get acknowledged in all")
	flag.IntVar(&cfg.Kills, "kills", 3, "SIGKILLs of the producing process")
	flag.IntVar(&cfg.Producers, "producers", 16, "enqueueing goroutines in the producer")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "seed of the kill points (0: random, printed)")
	flag.DurationVar(&cfg.Window, "window", 0, "the stream's duplicate window (0: the server's default, 2m)")
	flag.StringVar(&cfg.Dir, "dir", "", "directory for the WAL and the server's store (default: a temporary directory, removed after)")
	flag.Parse()
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	cfg.ChildCommand = func(args []string) *exec.Cmd {
		return exec.Command(self, append([]string{childArg}, args...)...)
	}
	rep, err := crashrun.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	fmt.Print(rep.String())
	if !rep.OK() {
		fmt.Fprintf(os.Stderr, "demo: FAILED: lost %d, duplicates in the stream %d, stored under two IDs %d\n", rep.Lost, rep.Duplicates, rep.Mismatched)
		return 1
	}
	return 0
}
