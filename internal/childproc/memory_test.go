package childproc

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStatusKB(t *testing.T) {
	status := []byte("Name:\tx\nVmHWM:\t   12345 kB\nRssAnon:\t  678 kB\n")
	require.EqualValues(t, 12345, statusKB(status, "VmHWM:"))
	require.EqualValues(t, 678, statusKB(status, "RssAnon:"))
	require.Zero(t, statusKB(status, "VmSwap:"))
}

// The child's peak is its own: a shell that only sleeps stays far below
// the test binary that started it (rusage's maxrss would report the
// parent's high-water mark after vfork and exec).
func TestRunReportsTheChildsOwnMemory(t *testing.T) {
	ballast := make([]byte, 64<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	res, err := Run(exec.Command("sh", "-c", "sleep 0.2; echo done"), func(*Proc, string) {}, nil)
	require.NoError(t, err)
	require.NoError(t, res.Err)
	require.Positive(t, res.MaxRSS)
	require.Less(t, res.MaxRSS, int64(32<<20), "peak RSS of sh reported as %d bytes", res.MaxRSS)
	require.Equal(t, byte(1), ballast[len(ballast)-1])
}
