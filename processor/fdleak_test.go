package processor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("fd count: %v", err)
	}
	return len(ents)
}

// sameFDs waits (descriptors of closed connections go away as the other
// side notices) until the count is back to want, and fails if it never is.
func sameFDs(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		got := openFDs(t)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			require.Equal(t, want, got, "file descriptors left open after Stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Open, work, Stop, again and again: no descriptor and no goroutine is left
// behind, whether Stop drained everything, cut a failing batch short, or
// the next open recovered in-flight batches.
func TestStopLeavesNoFDs(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	before := openFDs(t)
	fail := true
	for round := range 4 {
		sink := newRecSink(func(context.Context, attempt) error {
			if fail {
				return errDown
			}
			return nil
		})
		p, err := Open[tev](path, sink, quiet(WithBatchSize(10), WithRetryDelay(time.Millisecond, 5*time.Millisecond),
			WithMaxRetries(1000), WithStopTimeout(100*time.Millisecond))...)
		require.NoError(t, err)
		enqueueN(t, p, round*25, 25)
		if !fail {
			require.NoError(t, p.Flush(context.Background()))
		}
		err = p.Stop(context.Background())
		if fail {
			u := requireLeft(t, err, leftIn(t, path, DefaultStream))
			require.EqualValues(t, 25, u.Events(), "the failed round's events are left")
		} else {
			require.NoError(t, err)
		}
		sameFDs(t, before)
		fail = !fail
	}
	inspect(t, path, func(s *wal.Stream) {
		ev, _ := s.Stats().Outstanding()
		require.Zero(t, ev)
	})
	sameFDs(t, before)
}

// With the HTTP dispatcher: after Stop and the dispatcher's
// CloseIdleConnections, the descriptor count is what it was before Open.
func TestStopLeavesNoFDsHTTP(t *testing.T) {
	noLeaks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	path := walPath(t)
	before := openFDs(t)
	for round := range 3 {
		d, err := dispatcher.NewHTTP[tev](srv.URL)
		require.NoError(t, err)
		p, err := Open[tev](path, d, quiet(WithBatchSize(5), WithMaxInFlight(3))...)
		require.NoError(t, err)
		enqueueN(t, p, round*40, 40)
		require.NoError(t, p.Flush(context.Background()))
		require.NoError(t, p.Stop(context.Background()))
		d.CloseIdleConnections()
		sameFDs(t, before)
	}
}
