package walnats_test

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/sinks/nats/internal/crashrun"
)

const crashChildArgs = "WALNATS_CRASH_CHILD_ARGS" // newline-separated arguments of RunChild

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// TestCrashEffectivelyOnce SIGKILLs a producing child process (a
// processor with the walnats dispatcher, publishing to a nats-server run
// by this test) mid-stream, again and again, lets a last child finish,
// and reads the stream: every acknowledged event must be there exactly
// once, and none lost. Redeliveries after each kill come well within the
// stream's duplicate window, so the server drops them by Nats-Msg-Id.
// WALBATCH_CRASH_CYCLES sets the kills (default 5), WALBATCH_CRASH_EVENTS
// the events (default 3000), WALBATCH_CRASH_SEED replays the kill points.
func TestCrashEffectivelyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: re-executes the test binary")
	}
	kills := envInt("WALBATCH_CRASH_CYCLES", 5)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := crashrun.Run(ctx, crashrun.Config{
		Dir: t.TempDir(), Events: envInt("WALBATCH_CRASH_EVENTS", 3000), Kills: kills, Producers: 8,
		Seed: uint64(envInt("WALBATCH_CRASH_SEED", 0)),
		ChildCommand: func(args []string) *exec.Cmd {
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashChildArgs+"="+strings.Join(args, "\n"))
			return cmd
		},
	})
	require.NoError(t, err)
	t.Logf("seed %d (WALBATCH_CRASH_SEED replays it)\n%s", rep.Seed, rep)
	require.Equal(t, kills, rep.Kills)
	require.NotZero(t, rep.Acknowledged)
	require.Zero(t, rep.Lost, "acknowledged and not in the stream")
	require.Zero(t, rep.Duplicates, "in the stream more than once")
	require.Zero(t, rep.Mismatched, "stored under two message IDs")
	require.Equal(t, rep.Acknowledged, rep.InStream)
	require.Equal(t, rep.Messages, rep.InStream+rep.Unacknowledged)
}

// TestCrashChild is the child side of TestCrashEffectivelyOnce; it does
// nothing unless run by it.
func TestCrashChild(t *testing.T) {
	args := os.Getenv(crashChildArgs)
	if args == "" {
		t.Skip("run by TestCrashEffectivelyOnce")
	}
	cfg, err := crashrun.ParseChildArgs(strings.Split(args, "\n"))
	require.NoError(t, err)
	require.NoError(t, crashrun.RunChild(context.Background(), cfg, os.Stdout))
}
