package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMain lets the test binary stand in for walctl when demo re-executes
// itself as the producing child (os.Executable is the test binary here),
// and when a test runs it as walctl.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "demo-child" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	// TestMigrateKilled runs the test binary as walctl with arguments of
	// its choosing.
	if os.Getenv(asWalctlEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestDemoReportsNothingLost(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"demo", "--events", "2000", "--kills", "2", "--producers", "8", "--dir", t.TempDir()}, &out, &errOut)
	t.Log("\n" + out.String() + errOut.String())
	require.Equal(t, exitOK, code)
	require.Contains(t, out.String(), "enqueued (acknowledged): 2000\n")
	require.Contains(t, out.String(), "lost:                    0\n")
	require.Contains(t, out.String(), "2 SIGKILLs")
}
