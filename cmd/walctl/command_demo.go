package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/internal/demo"
)

type demoOptions struct {
	dir       string
	events    int
	kills     int
	producers int
	seed      uint64
	failEvery int
}

var errDemoLost = errors.New("demo: acknowledged events were lost")

func newDemoCommand(e *env) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Kill a producing process mid-stream and show that nothing acknowledged is lost",
		Long: `demo starts a collector on loopback, runs a child process that enqueues
events through a real processor and the HTTP dispatcher, kills it with
SIGKILL mid-stream (--kills times), starts it again to recover and finish,
and prints what was enqueued (acknowledged), delivered, lost (must be 0) and
redelivered. It exits non-zero if anything acknowledged was lost.`,
		Example: `  walctl demo
  walctl demo --events 100000 --kills 10 --dir /tmp/demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			rep, err := demo.Run(cmd.Context(), demo.Config{
				Dir: o.dir, Events: o.events, Kills: o.kills, Producers: o.producers,
				Seed: o.seed, FailEvery: o.failEvery, Progress: e.stderr,
				ChildCommand: func(args []string) *exec.Cmd {
					return exec.Command(self, append([]string{"demo-child"}, args...)...)
				},
			})
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), rep.String())
			if !rep.OK() {
				return fmt.Errorf("%w: lost %d, redelivered with a new ID %d", errDemoLost, rep.Lost, rep.Mismatched)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "directory for the WAL (default: a temporary directory, removed after)")
	f.IntVar(&o.events, "events", 20000, "events to get acknowledged in all")
	f.IntVar(&o.kills, "kills", 3, "SIGKILLs of the producing process")
	f.IntVar(&o.producers, "producers", 16, "enqueueing goroutines in the producer")
	f.Uint64Var(&o.seed, "seed", 0, "seed of the kill points (0: random, printed)")
	f.IntVar(&o.failEvery, "fail-every", 7, "the collector answers every n-th request with 503 (0: never)")
	return cmd
}

// newDemoChildCommand is the producing process demo starts; not for people.
func newDemoChildCommand(_ *env) *cobra.Command {
	return &cobra.Command{
		Use:                "demo-child",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := demo.ParseChildArgs(args)
			if err != nil {
				return err
			}
			return demo.RunChild(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
}
