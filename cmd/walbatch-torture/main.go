// Command walbatch-torture runs walbatch's torture program (package
// internal/torture): a real processor in a child process SIGKILLed at
// random moments, a receiver that fails in every way a sink fails, full
// disks, compactions and damaged records, and at the end a check that
// nothing acknowledged was lost. It exits 1 when anything was lost, a
// damaged record was not quarantined, a redelivery changed its event ID, or
// recovery.Verify finds the final WAL unsound; 2 when it could not run.
//
//	go run ./cmd/walbatch-torture -duration 30m -min-kills 200
//
// The disk-full faults mount a tmpfs and need root; without it they are
// skipped with a printed reason.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/walbatch/walbatch/internal/torture"
)

const childArg = "torture-child"

func main() {
	if len(os.Args) > 1 && os.Args[1] == childArg {
		cfg, err := torture.ParseChildArgs(os.Args[2:])
		if err == nil {
			err = torture.RunChild(context.Background(), cfg, os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run())
}

func run() int {
	var (
		cfg    torture.Config
		faults string
	)
	flag.DurationVar(&cfg.Duration, "duration", 5*time.Minute, "stop starting child runs after this long (0: no limit)")
	flag.IntVar(&cfg.Cycles, "cycles", 0, "stop after this many child runs (0: no limit)")
	minKills := flag.Int("min-kills", 0, "keep going past -duration until this many SIGKILLs (0: no minimum)")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "seed of every random choice (0: random, printed)")
	flag.StringVar(&faults, "faults", "all", "fault kinds, comma-separated: kill,compact,5xx,429,hang,reset,400,diskfull,corrupt or all")
	flag.StringVar(&cfg.Dir, "dir", "", "work directory (default: a temporary one, removed after a passing run)")
	flag.BoolVar(&cfg.Keep, "keep", false, "keep the work directory even when the run passes")
	flag.IntVar(&cfg.TmpfsMiB, "tmpfs-mib", 16, "size of the tmpfs the WAL lives on for the disk-full faults")
	quiet := flag.Bool("q", false, "print only the report, not a line per child run")
	flag.Parse()
	var err error
	if cfg.Faults, err = torture.ParseFaults(faults); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if *minKills > 0 {
		cfg.MinKills = *minKills
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg.ChildCommand = func(args []string) *exec.Cmd {
		return exec.Command(self, append([]string{childArg}, args...)...)
	}
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := torture.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "walbatch-torture:", err)
		return 2
	}
	fmt.Print(rep.String())
	if !rep.OK() {
		return 1
	}
	return 0
}
