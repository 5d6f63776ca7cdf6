package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/store"
)

// Exit status of walctl. Scripts may rely on these; docs/walctl.md has the
// same table.
//
//	code  meaning
//	0     success (verify: the file is consistent)
//	1     any other error (I/O, HTTP, a stream that does not exist, ...)
//	2     usage error: unknown command or flag, wrong arguments, purge without --yes
//	3     verify found problems (one line per problem on stdout)
//	4     the file does not exist
//	5     the file is not a walbatch WAL (store.ErrNotWAL)
//	6     the file has a newer format version than this walctl (store.ErrVersion)
//	7     the file is damaged (store.ErrCorrupt): run verify, then repair
//	8     the file is in use by a running process (store.ErrLocked): use a snapshot
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitProblems = 3
	exitNotFound = 4
	exitNotWAL   = 5
	exitVersion  = 6
	exitCorrupt  = 7
	exitLocked   = 8
)

// exitCode maps an error returned by a command to the exit status.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.Is(err, errProblems):
		return exitProblems
	case errors.Is(err, store.ErrLocked):
		return exitLocked
	case errors.Is(err, store.ErrVersion):
		return exitVersion
	case errors.Is(err, store.ErrNotWAL):
		return exitNotWAL
	case errors.Is(err, store.ErrCorrupt):
		return exitCorrupt
	case errors.Is(err, os.ErrNotExist):
		return exitNotFound
	}
	return exitError
}

// usageError is a mistake in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errProblems is returned by verify when it found problems (already printed).
var errProblems = errors.New("verify found problems")

// explained is an error with a message written for the person at the
// terminal; the cause stays reachable for errors.Is.
type explained struct {
	msg string
	err error
}

func (e explained) Error() string { return e.msg }
func (e explained) Unwrap() error { return e.err }

// silentError has been reported already; run prints nothing more for it.
type silentError struct{ err error }

func (e silentError) Error() string { return e.err.Error() }
func (e silentError) Unwrap() error { return e.err }

func silent(err error) error { return silentError{err} }

func isSilent(err error) bool {
	var s silentError
	return errors.As(err, &s)
}

// oneLine flattens an error message onto one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// exactArgs is cobra's positional argument check, reporting a mistake as a
// usage error that names the arguments expected.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %s (got %d arguments); see walctl %s --help", cmd.Name(), names, len(args), cmd.Name())
		}
		return nil
	}
}
