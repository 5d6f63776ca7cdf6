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
		time.Sleep(time.Duration(150+37*kill) * time.Millisecond)
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
