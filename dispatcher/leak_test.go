package dispatcher

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the run when goroutines of net/http or of this package are
// still alive once every test is done: a leaked connection, server or
// request. (go.uber.org/goleak would do; it is not in go.mod today.)
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitForLeaks polls until no suspect goroutine is left or d has passed, and
// returns the stacks of those left.
func waitForLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		leaked := suspectGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func suspectGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "TestMain") || strings.Contains(g, "testing.(*M)") {
			continue // this goroutine
		}
		if strings.Contains(g, "net/http.") || strings.Contains(g, "walbatch/dispatcher.") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}
