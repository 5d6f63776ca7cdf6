// Command walctl inspects and maintains walbatch WAL files: counters,
// events, batches and dead letters; requeue and purge of dead letters;
// compaction, verification and repair; snapshots of a running process.
//
// Every command is in its own file (command_<name>.go). Read-only commands
// open the file read-only and leave it byte-for-byte unchanged; commands
// that change a file (requeue, purge, compact, repair) say so in their help.
// See https://github.com/walbatch/walbatch/blob/main/docs/walctl.md for every command with example output, and
// exitcodes.go for the exit status table.
package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch"
)

// commands lists the subcommands, in the order help shows them. A new
// command lives in its own command_<name>.go and adds its constructor here.
var commands = []func(*env) *cobra.Command{
	newStatsCommand,
	newLsCommand,
	newDumpCommand,
	newBatchesCommand,
	newDeadCommand,
	newRequeueCommand,
	newPurgeCommand,
	newCompactCommand,
	newMigrateCommand,
	newVerifyCommand,
	newRepairCommand,
	newSnapshotCommand,
	newDemoCommand,
	newVersionCommand,
	newDemoChildCommand,
}

// env is what commands take from the process beyond their flags: the clock
// (tests fix it) and whether stderr is a terminal (for progress).
type env struct {
	now      func() time.Time
	terminal bool
	stderr   io.Writer
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes walctl with args, writing results to stdout and one-line
// errors to stderr, and returns the exit status (see exitcodes.go).
func run(args []string, stdout, stderr io.Writer) int {
	return execute(&env{now: time.Now, terminal: isTerminal(stderr), stderr: stderr}, args, stdout, stderr)
}

// execute is run with the environment given (tests fix the clock).
// Nothing reaches stdout or an error line raw: stdout goes through a
// safeWriter, error lines through cell (see output.go).
func execute(e *env, args []string, stdout, stderr io.Writer) (code int) {
	root := newRootCommand(e)
	root.SetArgs(args)
	out := &safeWriter{w: stdout}
	defer out.flush()
	root.SetOut(out)
	root.SetErr(stderr)
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "walctl: internal error: %s\n", cell(fmt.Sprint(r)))
			code = exitError
		}
	}()
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	if !isSilent(err) {
		fmt.Fprintf(stderr, "walctl: %s\n", cell(oneLine(err)))
	}
	return exitCode(err)
}

func newRootCommand(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "walctl",
		Short: "Inspect and maintain walbatch WAL files",
		Long: `walctl inspects and maintains walbatch write-ahead log files.

Read commands (stats, ls, dump, batches, dead, verify) open the file
read-only and never change it; they accept a snapshot taken with
"walctl snapshot" exactly like a WAL. A file held by a running process is
refused within about a second: take a snapshot of it instead.
Commands that change a file (requeue, purge, compact, migrate, repair) must be run
while no process has it open.`,
		Example: `  walctl stats events.wal
  walctl ls events.wal --stream orders --state dead
  walctl snapshot http://127.0.0.1:8080/debug/wal -o copy.wal && walctl stats copy.wal`,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Set so that cobra hands unknown subcommands to RunE, which
		// reports them as usage errors (exit 2).
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf("unknown command %q (see walctl --help)", args[0])
			}
			cmd.SetOut(cmd.ErrOrStderr())
			_ = cmd.Help()
			return silent(usageErrorf("no command given"))
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// cobra adds its own "completion" command (bash, zsh, fish,
	// powershell); its help says how to install each script.
	root.Version = walbatch.Version
	root.SetVersionTemplate("walctl {{.Version}}\n")
	for _, newCmd := range commands {
		c := newCmd(e)
		c.SilenceErrors, c.SilenceUsage = true, true
		root.AddCommand(c)
	}
	return root
}
