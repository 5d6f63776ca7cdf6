package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/childproc"
	"github.com/walbatch/walbatch/internal/migratetest"
	"github.com/walbatch/walbatch/recovery"
)

const asWalctlEnv = "WALBATCH_TEST_AS_WALCTL" // set: the test binary is walctl

// TestMigrateKilled SIGKILLs `walctl migrate` of a format 1 file with a
// backlog of every kind at a random moment of its run, copy after copy:
// each copy is left at format 1 or 2, verifies, holds exactly the events,
// batches and dead letters it held before, and drains to the last event.
// The kills are spread over the whole run, process start included, so few
// land inside the migration's commit (the run's outcomes are logged);
// package wal's TestCrashDuringMigration aims its kills at the migrating
// open, and TestPowerCutMigration (internal/powercut) cuts the power there.
//
// WALBATCH_MIGKILL_SEED=S replays the kill schedule of an earlier run.
func TestMigrateKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("migrate kill test skipped in -short mode")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("WALBATCH_MIGKILL_SEED"); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (replay with WALBATCH_MIGKILL_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 14))
	dir := t.TempDir()
	base := filepath.Join(dir, "base.wal")
	acked := migratetest.BuildFormat1(t, base)
	baseBytes, err := os.ReadFile(base)
	require.NoError(t, err)
	want := migratetest.Read(t, base)
	require.Equal(t, acked, want.Events())

	// The median of the uncut runs so far bounds the kill delays (it
	// schedules the kills; nothing asserts on it).
	var uncut []time.Duration
	outcomes := map[string]int{}
	cycles := 30
	for c := range cycles {
		work := filepath.Join(dir, fmt.Sprintf("work-%d.wal", c))
		require.NoError(t, os.WriteFile(work, baseBytes, 0o600))
		cmd := exec.Command(os.Args[0], "migrate", work)
		// Under -race a child sleeps a second at exit (atexit_sleep_ms),
		// which would make the runs that measure a run ten times too long.
		cmd.Env = append(os.Environ(), asWalctlEnv+"=1", "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
		var delay time.Duration
		if c >= 3 { // the first three runs are uncut: they measure a run
			slices.Sort(uncut)
			delay = time.Duration(rng.Int64N(int64(uncut[len(uncut)/2]) * 6 / 5))
		}
		start := time.Now()
		res, err := childproc.Run(cmd, func(*childproc.Proc, string) {}, func(p *childproc.Proc) {
			if delay > 0 {
				time.AfterFunc(delay, func() { p.Kill() })
			}
			time.AfterFunc(time.Minute, func() { p.Kill() }) // a safety net only
		})
		require.NoError(t, err)
		if !res.Killed {
			require.NoError(t, res.Err, "cycle %d: walctl migrate\n%s", c, res.Stderr)
			uncut = append(uncut, time.Since(start))
		}

		got := migratetest.Read(t, work)
		workBytes, err := os.ReadFile(work)
		require.NoError(t, err)
		var outcome string
		switch {
		case !res.Killed:
			require.EqualValues(t, 2, got.Version, "cycle %d: walctl migrate returned", c)
			outcome = "format 2, walctl returned"
		case got.Version == 1 && bytes.Equal(workBytes, baseBytes):
			outcome = "format 1, unchanged"
		case got.Version == 1:
			outcome = "format 1, in the commit: its pages written, its meta page not"
		case got.Version == 2:
			outcome = "format 2, killed after the commit's meta page"
		default:
			t.Fatalf("cycle %d: format %d after the kill", c, got.Version)
		}
		outcomes[outcome]++
		t.Logf("cycle %d: kill after %v: %s", c, delay, outcome)
		rep, err := recovery.Verify(work, nil)
		require.NoError(t, err, "cycle %d", c)
		require.True(t, rep.OK(), "cycle %d (%s): recovery.Verify: %v", c, outcome, rep.Err())
		want.Version = got.Version
		require.Equal(t, want, got, "cycle %d (%s): the file's contents changed", c, outcome)
		migratetest.Drain(t, work, want)
		require.NoError(t, os.Remove(work))
	}
	slices.Sort(uncut)
	t.Logf("%d runs, median uncut run %v: %v", cycles, uncut[len(uncut)/2], outcomes)
}
