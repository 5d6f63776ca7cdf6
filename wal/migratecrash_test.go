package wal_test

// The migration crash test: a format 1 file with a backlog of every kind
// (pending events with keys and headers, in-flight batches, one retried and
// one partly completed, completion records, dead letters, requeued events)
// is migrated to format 2 by a child process (this test binary,
// re-executed) that opens it with the default options, as a service does
// after an upgrade; the parent SIGKILLs the child at a chosen moment,
// mostly just after it announced the opening that migrates. After every
// kill the file must be at format 1 or 2, pass recovery.Verify, hold
// exactly the events, batches and dead letters it held before, and drain
// to the last event.
//
// The child loops: it copies the format 1 file into place (through a
// rename, so the file is always whole), prints "S i", opens it with
// wal.Open (the migration), prints "O i version microseconds", closes it,
// prints "M i", and starts again. The parent kills it after "S k" for a
// random k, after a random delay of up to one and a half times the longest
// open the child reported, so that most kills land inside the open.
// Whether a kill landed inside the migration's commit shows in the file: at
// format 1 with bytes changed, the commit had written its pages but not
// its meta page; at format 2 with no "O" line, the meta page was written
// but the open had not returned. A SIGKILL loses no write(2) that returned
// (the page cache survives it), so these, with "format 1, unchanged" and
// "format 2, open returned", are the states a kill can leave; what a power
// cut can leave besides is TestPowerCutMigration's (internal/powercut).
//
// Environment:
//
//	WALBATCH_MIGKILL_CYCLES=N  kills (default 40, 25 under -race)
//	WALBATCH_MIGKILL_SEED=S    replay the kill schedule of an earlier run

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/childproc"
	"github.com/walbatch/walbatch/internal/migratetest"
	"github.com/walbatch/walbatch/internal/racecheck"
	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/wal"
)

const (
	migkillChildEnv = "WALBATCH_MIGKILL_CHILD" // the directory; set only in the child
	migkillSeedEnv  = "WALBATCH_MIGKILL_SEED"
	migkillCycEnv   = "WALBATCH_MIGKILL_CYCLES"
)

func TestCrashDuringMigration(t *testing.T) {
	if dir := os.Getenv(migkillChildEnv); dir != "" {
		migkillChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("migration crash test skipped in -short mode")
	}
	if os.Getenv("WALBATCH_TEST_FORMAT") != "" {
		t.Skip("the migration crash test chooses its formats: run once, not per WALBATCH_TEST_FORMAT")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(migkillSeedEnv); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	cycles := 40
	if racecheck.Enabled {
		cycles = 25 // race-instrumented opens are slower
	}
	if v := os.Getenv(migkillCycEnv); v != "" {
		var err error
		cycles, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	t.Logf("seed %d (replay with %s=%d), %d cycles", seed, migkillSeedEnv, seed, cycles)
	rng := rand.New(rand.NewPCG(seed, 13))

	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	acked := migratetest.BuildFormat1(t, base)
	baseBytes, err := os.ReadFile(base)
	require.NoError(t, err)
	want := migratetest.Read(t, base)
	require.Equal(t, uint64(1), want.Version)
	// The backlog is what the writer acknowledged and did not complete.
	require.Equal(t, acked, want.Events())
	require.NotEmpty(t, want.InBatch(), "in-flight batches in the backlog")
	require.NotEmpty(t, want.Dead(), "dead letters in the backlog")

	var maxOpen time.Duration // the longest open the child reported
	outcomes := map[string]int{}
	for c := range cycles {
		target := rng.IntN(3)
		var delay time.Duration
		phase := map[int]string{} // copy -> the last of S, O, M it printed
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDuringMigration$")
		cmd.Env = append(os.Environ(), migkillChildEnv+"="+dir)
		res, err := childproc.Run(cmd, func(p *childproc.Proc, line string) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				i, _ := strconv.Atoi(f[1])
				phase[i] = f[0]
			}
			switch {
			case len(f) == 4 && f[0] == "O":
				us, _ := strconv.Atoi(f[3])
				maxOpen = max(maxOpen, time.Duration(us)*time.Microsecond)
			case len(f) == 2 && f[0] == "S" && f[1] == strconv.Itoa(target):
				d := maxOpen
				if d == 0 {
					d = time.Millisecond
				}
				delay = time.Duration(rng.Int64N(int64(d) * 3 / 2))
				time.Sleep(delay)
				p.Kill()
			}
		}, func(p *childproc.Proc) {
			// A safety net only: the child is killed long before.
			time.AfterFunc(time.Minute, func() { p.Kill() })
		})
		require.NoError(t, err)
		require.True(t, res.Killed, "cycle %d: the child ended by itself: %v\n%s", c, res.Err, res.Stderr)
		// The newest whole copy: the one the kill found in use, or the
		// one it found just copied.
		n := 0
		for ; ; n++ {
			if _, err := os.Stat(migkillWork(dir, n+1)); err != nil {
				break
			}
		}
		work := migkillWork(dir, n)

		got := migratetest.Read(t, work)
		workBytes, err := os.ReadFile(work)
		require.NoError(t, err)
		var outcome string
		switch {
		case got.Version == 1 && bytes.Equal(workBytes, baseBytes) && phase[n] == "":
			outcome = "format 1, unchanged, before the open"
		case got.Version == 1 && bytes.Equal(workBytes, baseBytes) && phase[n] == "S":
			outcome = "format 1, unchanged, in the open"
		case got.Version == 1 && phase[n] == "S":
			outcome = "format 1, in the commit: its pages written, its meta page not"
		case got.Version == 2 && phase[n] == "S":
			outcome = "format 2, in the open: the commit's meta page written"
		case got.Version == 2 && phase[n] != "":
			outcome = "format 2, after the open returned"
		default:
			t.Fatalf("cycle %d: copy %d at format %d after the kill, its last line %q", c, n, got.Version, phase[n])
		}
		outcomes[outcome]++
		t.Logf("cycle %d: killed %v after \"S %d\", in copy %d: %s", c, delay, target, n, outcome)

		l, err := wal.Open(work, &wal.Options{ReadOnly: true})
		require.NoError(t, err)
		require.NoError(t, wal.CheckLog(l), "cycle %d (%s): counters against a scan", c, outcome)
		require.NoError(t, l.Close())
		rep, err := recovery.Verify(work, nil)
		require.NoError(t, err, "cycle %d", c)
		require.True(t, rep.OK(), "cycle %d (%s): recovery.Verify: %v", c, outcome, rep.Err())
		want.Version = got.Version
		require.Equal(t, want, got, "cycle %d (%s): the file's contents changed", c, outcome)
		migratetest.Drain(t, work, want)
		for i := 0; i <= n; i++ {
			require.NoError(t, os.Remove(migkillWork(dir, i)))
		}
		_ = os.Remove(migkillWork(dir, n+1) + ".tmp")
	}
	t.Logf("%d kills, longest open %v: %v", cycles, maxOpen, outcomes)
}

// migkillChild migrates copies of dir/base.db, dir/work-0.db, work-1.db
// and so on, until it is killed. Each copy gets a name of its own: renamed
// over the last one, ext4 would write the copy out in the rename
// (auto_da_alloc), and most kills would land there.
func migkillChild(dir string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(2)
	}
	data, err := os.ReadFile(filepath.Join(dir, "base.db"))
	if err != nil {
		fail("read base: %v", err)
	}
	for i := 0; ; i++ {
		work := migkillWork(dir, i)
		if err := os.WriteFile(work+".tmp", data, 0o600); err != nil {
			fail("copy: %v", err)
		}
		if err := os.Rename(work+".tmp", work); err != nil {
			fail("rename: %v", err)
		}
		// One write(2) per line: a line is whole or missing.
		_, _ = os.Stdout.WriteString(fmt.Sprintf("S %d\n", i))
		start := time.Now()
		l, err := wal.Open(work, nil)
		if err != nil {
			fail("open: %v", err)
		}
		took := time.Since(start)
		_, _ = os.Stdout.WriteString(fmt.Sprintf("O %d %d %d\n", i, l.Store().Info().Version, took.Microseconds()))
		if err := l.Close(); err != nil {
			fail("close: %v", err)
		}
		_, _ = os.Stdout.WriteString(fmt.Sprintf("M %d\n", i))
	}
}

func migkillWork(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("work-%d.db", i)) }
