package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
)

// mustOpen opens a log in a fresh temporary directory, closes it in
// Cleanup, and checks the file's invariants (checkLog) after closing it: a
// test that leaves counters out of line with the buckets fails even if it
// asserted nothing about them.
func mustOpen(t testing.TB, opts *Options) (*Log, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wal.db")
	return openAt(t, path, opts), path
}

// testFormat (WALBATCH_TEST_FORMAT=1, as scripts/test.sh runs them once
// more) makes the tests that open their log with mustOpen or openAt use
// files of that format where they do not choose one: format 1, one event
// per value, which this build still reads, migrates and writes for a
// rolling upgrade. By default files are format 2. It is read while a test
// runs, not at package init: go test's cache keys on the environment a
// test reads only then, and an init-time read let the format 1 run be
// answered from the cache of the default one.
func testFormat() uint64 {
	f, _ := strconv.ParseUint(os.Getenv("WALBATCH_TEST_FORMAT"), 10, 64)
	return f
}

// openAt opens the log at path with the same Cleanup as mustOpen.
func openAt(t testing.TB, path string, opts *Options) *Log {
	t.Helper()
	if f := testFormat(); f != 0 {
		o := Options{}
		if opts != nil {
			o = *opts
		}
		if o.Store.Format == 0 {
			o.Store.Format = f
		}
		opts = &o
	}
	l, err := Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		runs := l.runs // a test may have set it
		require.NoError(t, l.Close())
		ro, err := Open(path, &Options{ReadOnly: true})
		require.NoError(t, err)
		defer ro.Close()
		ro.runs = ro.runs || runs
		require.NoError(t, checkLog(ro))
	})
	return l
}

func mustStream(t testing.TB, l *Log, name string) *Stream {
	t.Helper()
	s, err := l.Stream(name)
	require.NoError(t, err)
	return s
}

// reopen closes l and opens the same file again with opts.
func reopen(t testing.TB, l *Log, opts *Options) *Log {
	t.Helper()
	path := l.Path()
	require.NoError(t, l.Close())
	return openAt(t, path, opts)
}

// checkLog is the consistency check run after tests: bbolt's own page
// check, then for every stream a full scan (format.ScanStream, with every
// event ID checked): it fails on anything the scan finds wrong, a
// counter out of line with the buckets included, and on in-memory
// counters that differ from the file's.
func checkLog(l *Log) error {
	err := storetx.View(l.db, func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("bbolt check: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range l.Streams() {
		s, err := l.Stream(name)
		if err != nil {
			return err
		}
		var stored format.State
		if err := storetx.View(l.db, func(tx *bolt.Tx) (err error) {
			stored, err = scanStream(tx, s)
			return err
		}); err != nil {
			return fmt.Errorf("stream %q: %w", name, err)
		}
		if mem := s.current(); mem != stored {
			return fmt.Errorf("stream %q: in-memory state %+v differs from the file's %+v", name, mem, stored)
		}
	}
	return nil
}

// scanStream scans one stream in tx and returns its stored counters, or
// an error naming the first thing the scan finds wrong.
func scanStream(tx *bolt.Tx, s *Stream) (format.State, error) {
	rs, ok := format.RawStreamOf(tx, s.name)
	if !ok || rs.Events == nil || rs.Batches == nil || rs.Dead == nil || rs.Done == nil {
		return format.State{}, fmt.Errorf("stream buckets missing")
	}
	sc := format.ScanStream(rs, s.uid, format.ScanOptions{IDs: true, Runs: s.l.runs})
	switch {
	case sc.StateErr != nil:
		return sc.Stored, sc.StateErr
	case sc.RunsErr != nil:
		return sc.Stored, sc.RunsErr
	case len(sc.Findings) > 0:
		return sc.Stored, fmt.Errorf("%d finding(s), first: %s", len(sc.Findings), sc.Findings[0])
	}
	return sc.Stored, nil
}

// payloadN is a deterministic payload for test event i.
func payloadN(i int) []byte { return fmt.Appendf(nil, "event-%06d", i) }

// appendN appends n events with payloadN(from..from+n-1) one at a time.
func appendN(t testing.TB, s *Stream, key string, from, n int) []Appended {
	t.Helper()
	out := make([]Appended, 0, n)
	for i := from; i < from+n; i++ {
		a, err := s.Append(key, payloadN(i))
		require.NoError(t, err)
		out = append(out, a)
	}
	return out
}

// eventsOf returns the stream's pending and in-flight records, in order,
// with copied payloads.
func eventsOf(t testing.TB, s *Stream) []Record {
	t.Helper()
	var out []Record
	require.NoError(t, s.ForEachEvent(0, 0, func(r Record, err error) error {
		if err != nil {
			return err
		}
		r.Payload = append([]byte(nil), r.Payload...)
		out = append(out, r)
		return nil
	}))
	return out
}

// statsOf is the subset of Stats the table tests compare exactly.
type statsOf struct {
	Pending, PendingBytes, InFlightBatches, InFlight, InFlightBytes int64
	Dead, DeadBytes, CompletedBatches, CompletedEvents              int64
}

func statsNow(s *Stream) statsOf {
	st := s.Stats()
	return statsOf{st.PendingEvents, st.PendingBytes, st.InFlightBatches, st.InFlightEvents, st.InFlightBytes,
		st.DeadEvents, st.DeadBytes, st.CompletedBatches, st.CompletedEvents}
}
