// Package recoverytest gives other packages' tests the WAL consistency
// check as a one-liner: run it at the end of a test, or register it on
// cleanup, so every test that writes a WAL also proves it left the file
// consistent.
package recoverytest

import (
	"testing"

	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/wal"
)

// MustVerify runs recovery.Verify on the closed WAL file at path and fails
// the test, listing every problem, if it cannot be checked or is not
// consistent.
func MustVerify(tb testing.TB, path string) {
	tb.Helper()
	r, err := recovery.Verify(path, nil)
	if err != nil {
		tb.Fatalf("recoverytest: verify %s: %v", path, err)
	}
	if !r.OK() {
		tb.Fatalf("recoverytest: %s", r)
	}
}

// MustVerifyLog runs recovery.VerifyLog on a log the test has open (its
// stream checks; page checks need the file closed or read-only).
func MustVerifyLog(tb testing.TB, l *wal.Log) {
	tb.Helper()
	r, err := recovery.VerifyLog(l, nil)
	if err != nil {
		tb.Fatalf("recoverytest: verify %s: %v", l.Path(), err)
	}
	if !r.OK() {
		tb.Fatalf("recoverytest: %s", r)
	}
}

// VerifyOnCleanup registers MustVerify of path to run when the test ends,
// after cleanups registered later (which should close the log) have run.
// Call it before opening the log: cleanups run last-registered first.
func VerifyOnCleanup(tb testing.TB, path string) {
	tb.Helper()
	tb.Cleanup(func() {
		if tb.Failed() {
			return
		}
		MustVerify(tb, path)
	})
}
