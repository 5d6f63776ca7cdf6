package torture

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// childEnv carries a child's arguments when this test binary is re-executed
// as a torture child.
const childEnv = "WALBATCH_TORTURE_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childEnv); args != "" {
		cfg, err := ParseChildArgs(strings.Split(args, "\x1f"))
		if err == nil {
			err = RunChild(context.Background(), cfg, os.Stdout)
		}
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func childCommand(args []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
	return cmd
}

// TestTortureShort runs the torture program for a bounded time with every
// fault kind (the disk-full faults only as root: otherwise the report says
// why they were skipped). WALBATCH_TORTURE_SECONDS and WALBATCH_TORTURE_SEED
// change its length and replay a seed.
func TestTortureShort(t *testing.T) {
	if testing.Short() {
		t.Skip("torture: re-executes the test binary for ~30s")
	}
	secs := 30
	if v, err := strconv.Atoi(os.Getenv("WALBATCH_TORTURE_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	var seed uint64
	if v, err := strconv.ParseUint(os.Getenv("WALBATCH_TORTURE_SEED"), 10, 64); err == nil {
		seed = v
	}
	faults, err := ParseFaults("all")
	require.NoError(t, err)
	rep, err := Run(context.Background(), Config{
		Duration: time.Duration(secs) * time.Second, Seed: seed, Faults: faults,
		Dir: t.TempDir(), ChildCommand: childCommand, Progress: testWriter{t},
	})
	require.NoError(t, err)
	t.Log("\n" + rep.String())
	require.True(t, rep.OK(), "torture failed: seed %d, evidence in %s", rep.Seed, rep.Kept)
	require.Zero(t, rep.Lost)
	require.Empty(t, rep.Mismatched)
	require.Positive(t, rep.TotalKills)
	require.Positive(t, rep.Acknowledged)
	require.Equal(t, rep.Corrupted, rep.CorruptFound)
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestParseFaults covers the fault list syntax.
func TestParseFaults(t *testing.T) {
	m, err := ParseFaults("all")
	require.NoError(t, err)
	require.Len(t, m, len(AllFaults))
	m, err = ParseFaults("kill, 5xx")
	require.NoError(t, err)
	require.Equal(t, map[Fault]bool{FaultKill: true, Fault5xx: true}, m)
	_, err = ParseFaults("kill,meteor")
	require.ErrorContains(t, err, "meteor")
}

// TestChildArgsRoundTrip checks that a child reads back what the parent
// passes.
func TestChildArgsRoundTrip(t *testing.T) {
	c := ChildConfig{WAL: "/x.wal", URL: "http://h/e", Run: 3, Streams: 2, BatchSizes: []int{7, 100}, Producers: 5,
		Events: 99, PoisonRate: 0.25, MaxRetries: 4, HTTPTimeout: 250 * time.Millisecond, Compact: true, Seed: 42}
	got, err := ParseChildArgs(c.Args())
	require.NoError(t, err)
	require.Equal(t, c, got)
}
