package demo

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const childEnv = "WALBATCH_DEMO_CHILD_ARGS"

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

// TestDemoLosesNothingAcrossKills is the README's demo in small: two
// SIGKILLs of the producing process, a collector that fails every 7th
// request, and not one acknowledged event lost.
func TestDemoLosesNothingAcrossKills(t *testing.T) {
	rep, err := Run(context.Background(), Config{
		Dir: t.TempDir(), Events: 3000, Kills: 2, Producers: 8, FailEvery: 7, ChildCommand: childCommand,
	})
	require.NoError(t, err)
	t.Log("\n" + rep.String())
	require.Equal(t, 2, rep.Kills)
	require.Equal(t, 3000, rep.Acknowledged)
	require.Zero(t, rep.Lost, "acknowledged events lost")
	require.Zero(t, rep.Mismatched, "redeliveries with a new event ID")
	require.Equal(t, rep.Acknowledged, rep.Delivered)
	require.Contains(t, rep.String(), "lost:                    0\n")
}
