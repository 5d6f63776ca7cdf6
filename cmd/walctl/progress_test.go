package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProgressOnlyOnTerminal(t *testing.T) {
	var quiet syncBuffer
	p := startProgress(&env{stderr: &quiet}, "dumping", "records")
	p.add(5)
	time.Sleep(300 * time.Millisecond)
	p.end()
	require.Empty(t, quiet.String())

	var tty syncBuffer
	p = startProgress(&env{stderr: &tty, terminal: true}, "dumping", "records")
	p.add(5)
	time.Sleep(600 * time.Millisecond)
	p.end()
	out := tty.String()
	require.Contains(t, out, "dumping... 5 records")
	require.True(t, strings.HasSuffix(out, "\r\033[K"), "the line is cleared at the end")
}

// The label may hold a file name: only progress's own line clearing
// reaches the terminal as a control sequence.
func TestProgressEscapesItsLabel(t *testing.T) {
	var tty syncBuffer
	p := startProgress(&env{stderr: &tty, terminal: true}, "verifying "+hostile, "records")
	p.draw()
	p.end()
	out := strings.ReplaceAll(tty.String(), "\r\033[K", "")
	requireTerminalSafe(t, "progress", out)
	require.Contains(t, out, `"verifying \x1b[31mred`)
}
