package store

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// A process killed while it creates a new WAL leaves either no file or a
// whole WAL at the path, never a bbolt file without walbatch's meta bucket
// (which every later Open refused as ErrNotWAL, so a service killed during
// its first start could never start again). A child creates files in a
// loop until it is SIGKILLed; then every file it left must open.
func TestKilledDuringCreationLeavesNoHalfFile(t *testing.T) {
	if dir := os.Getenv("WALBATCH_CREATE_CHILD"); dir != "" {
		for i := 0; ; i++ {
			db, err := Open(filepath.Join(dir, fmt.Sprintf("f-%06d.wal", i)), nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			_ = db.Close()
		}
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for kill := range 8 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledDuringCreationLeavesNoHalfFile$")
		cmd.Env = append(os.Environ(), "WALBATCH_CREATE_CHILD="+dir)
		require.NoError(t, cmd.Start())
		waitForAFile(t, dir)
		time.Sleep(time.Duration(37*kill) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err := cmd.Wait()
		require.Error(t, err, "the child runs until killed")
		names, err := os.ReadDir(dir)
		require.NoError(t, err)
		opened := 0
		for _, n := range names {
			if strings.HasSuffix(n.Name(), ".tmp") {
				continue // a creation's copy, never at a WAL's name
			}
			db, err := Open(filepath.Join(dir, n.Name()), nil)
			require.NoError(t, err, "kill %d: %s", kill, n.Name())
			require.NoError(t, db.Close())
			opened++
		}
		require.Positive(t, opened, "kill %d: the child created no file", kill)
		left, err := filepath.Glob(filepath.Join(dir, "*.tmp"))
		require.NoError(t, err)
		for _, tmp := range left {
			// The next Open for writing of its path removes it.
			db, err := Open(tmp[:strings.Index(tmp, ".create-")], nil)
			require.NoError(t, err)
			require.NoError(t, db.Close())
			require.NoFileExists(t, tmp)
		}
	}
}

// The same for a zero-length file that exists before the first open (an
// operator's touch, a name made durable ahead of time): it was made a WAL
// in place, and a process killed between bbolt's first pages and the meta
// bucket left an empty bbolt file every later Open refused. Now it is left
// empty or replaced by a whole WAL.
func TestKilledInitialisingAnEmptyFileLeavesNoHalfFile(t *testing.T) {
	if dir := os.Getenv("WALBATCH_EMPTY_CHILD"); dir != "" {
		for i := 0; ; i++ {
			path := filepath.Join(dir, fmt.Sprintf("f-%06d.wal", i))
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			db, err := Open(path, nil)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(3)
			}
			_ = db.Close()
		}
	}
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	for kill := range 8 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledInitialisingAnEmptyFileLeavesNoHalfFile$")
		cmd.Env = append(os.Environ(), "WALBATCH_EMPTY_CHILD="+dir)
		require.NoError(t, cmd.Start())
		waitForAFile(t, dir)
		time.Sleep(time.Duration(37*kill) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		require.Error(t, cmd.Wait(), "the child runs until killed")
		names, err := os.ReadDir(dir)
		require.NoError(t, err)
		opened := 0
		for _, n := range names {
			if strings.HasSuffix(n.Name(), ".tmp") {
				continue
			}
			db, err := Open(filepath.Join(dir, n.Name()), nil)
			require.NoError(t, err, "kill %d: %s", kill, n.Name())
			require.NoError(t, db.Close())
			opened++
		}
		require.Positive(t, opened, "kill %d: the child opened no file", kill)
	}
}

// waitForAFile waits until the child has made a file at a WAL's name (not
// only a creation's copy): a fixed sleep before the
// kill let a slow start (the race detector on a loaded machine) be killed
// before it made any file.
func waitForAFile(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a bound against hanging, not a speed assertion
	for time.Now().Before(deadline) {
		names, _ := os.ReadDir(dir)
		for _, n := range names {
			if !strings.HasSuffix(n.Name(), ".tmp") {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the child made no file in a minute")
}

// Openers racing on one zero-length file all end up in the same WAL: the
// file is replaced under its lock, and whoever waited for the lock of the
// replaced one opens the new one (what each writes is there at the end).
func TestRacingOpenersOfAnEmptyFileShareOneWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "racy.wal")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	const n = 6
	errs := make(chan error, n)
	for i := range n {
		go func() {
			db, err := Open(path, &Options{LockTimeout: time.Minute})
			if err == nil {
				err = db.update(func(tx *bolt.Tx) error {
					_, err := tx.CreateBucket(fmt.Appendf(nil, "opener-%d", i))
					return err
				})
				if cerr := db.Close(); err == nil {
					err = cerr
				}
			}
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	db := mustOpen(t, path, &Options{ReadOnly: true})
	require.NoError(t, db.view(func(tx *bolt.Tx) error {
		for i := range n {
			if tx.Bucket(fmt.Appendf(nil, "opener-%d", i)) == nil {
				return fmt.Errorf("opener %d wrote to another file", i)
			}
		}
		return nil
	}))
}
