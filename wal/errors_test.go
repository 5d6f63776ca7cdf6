package wal

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/store"
)

// asyncErr runs AppendAsync and returns the error its callback got.
func asyncErr(s *Stream, entries []Entry) error {
	ch := make(chan error, 2)
	s.AppendAsync(entries, func(_ uint64, err error) { ch <- err })
	return <-ch
}

func TestErrFull(t *testing.T) {
	p12 := payloadN(0) // 12 bytes
	tests := []struct {
		name            string
		maxEv, maxBytes int64
		fill            int // events appended before the check
		seal            int // of which sealed (in flight still counts)
		dead            int // of which dead-lettered (dead do not count)
		want            error
	}{
		{"events under", 5, 0, 4, 0, 0, nil},
		{"events at limit", 5, 0, 5, 0, 0, ErrFull},
		{"in flight counts", 5, 0, 5, 3, 0, ErrFull},
		{"dead do not count", 5, 0, 5, 3, 3, nil},
		{"bytes under", 0, 24, 1, 0, 0, nil},
		{"bytes at limit", 0, 24, 2, 0, 0, ErrFull},
		{"bytes in flight count", 0, 24, 2, 2, 0, ErrFull},
		{"bytes dead do not count", 0, 24, 2, 2, 2, nil},
		{"unlimited", 0, 0, 20, 0, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, _ := mustOpen(t, &Options{Sync: SyncNone})
			s := mustStream(t, l, "s")
			s.SetLimits(tc.maxEv, tc.maxBytes)
			appendN(t, s, "", 0, tc.fill)
			if tc.seal > 0 {
				b := sealOne(t, s, tc.seal)
				if tc.dead > 0 {
					require.NoError(t, s.DeadLetter(b.Seq, "x", false))
				}
			}
			before := statsNow(s)
			_, err := s.Append("", p12)
			require.ErrorIs(t, err, tc.want)
			if tc.want != nil {
				require.Equal(t, before, statsNow(s), "a refused append writes nothing")
				_, err = s.AppendMany([]Entry{{Payload: p12}})
				require.ErrorIs(t, err, tc.want)
				require.ErrorIs(t, asyncErr(s, []Entry{{Payload: p12}}), tc.want)
				require.Equal(t, before, statsNow(s))
			}
		})
	}
}

// AppendMany is all or none against the limits; a refused call leaves room
// for a smaller one.
func TestErrFullAppendMany(t *testing.T) {
	l, _ := mustOpen(t, &Options{Sync: SyncNone})
	s := mustStream(t, l, "s")
	s.SetLimits(3, 0)
	many := func(n int) []Entry {
		out := make([]Entry, n)
		for i := range out {
			out[i].Payload = []byte("x")
		}
		return out
	}
	_, err := s.AppendMany(many(4))
	require.ErrorIs(t, err, ErrFull)
	require.Zero(t, s.Stats().PendingEvents)
	first, err := s.AppendMany(many(3))
	require.NoError(t, err)
	require.Equal(t, uint64(1), first, "the refused call used no sequence numbers")
	s.SetLimits(0, 0)
	_, err = s.AppendMany(many(4))
	require.NoError(t, err, "limits lifted")
}

func TestErrNoBatch(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 2)
	done := sealOne(t, s, 1)
	require.NoError(t, s.Complete(done.Seq))
	dead := sealOne(t, s, 1)
	require.NoError(t, s.DeadLetter(dead.Seq, "x", false))
	for _, seq := range []uint64{done.Seq, dead.Seq, 99, 0} {
		calls := map[string]error{
			"Complete":         s.Complete(seq),
			"CompletePartial":  second(s.CompletePartial(seq, 1)),
			"CompletePartial0": second(s.CompletePartial(seq, 0)),
			"Retry":            second(s.Retry(seq, time.Now(), "x")),
			"DeadLetter":       s.DeadLetter(seq, "x", true),
			"InFlight":         second(s.InFlight(seq)),
		}
		for name, err := range calls {
			require.ErrorIs(t, err, ErrNoBatch, "%s(%d)", name, seq)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestErrClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	l, err := Open(path, nil)
	require.NoError(t, err)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 2)
	b := sealOne(t, s, 1)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close twice")

	_, err = s.Append("", []byte("x"))
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.AppendMany([]Entry{{Payload: []byte("x")}})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, asyncErr(s, []Entry{{Payload: []byte("x")}}), ErrClosed)
	_, err = s.Seal(SealOptions{MaxEvents: 1, Force: true})
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, s.Complete(b.Seq), ErrClosed)
	require.ErrorIs(t, second(s.CompletePartial(b.Seq, 1)), ErrClosed)
	require.ErrorIs(t, second(s.Retry(b.Seq, time.Now(), "x")), ErrClosed)
	require.ErrorIs(t, s.DeadLetter(b.Seq, "x", false), ErrClosed)
	require.ErrorIs(t, second(s.Requeue(nil)), ErrClosed)
	require.ErrorIs(t, second(s.PurgeDead()), ErrClosed)
	require.ErrorIs(t, second(l.Stream("s")), ErrClosed)
	require.ErrorIs(t, second(l.Stream("new")), ErrClosed)
	// Reads on a closed file fail with the store's sentinel, not a panic.
	require.ErrorIs(t, second(s.Batches()), store.ErrClosed)

	// Nothing acknowledged before Close was lost.
	l2 := openAt(t, path, nil)
	s2 := mustStream(t, l2, "s")
	require.Equal(t, statsOf{Pending: 1, PendingBytes: 12, InFlightBatches: 1, InFlight: 1, InFlightBytes: 12}, statsNow(s2))
}

// Appends racing with Close either commit or fail with ErrClosed: none
// hangs, and every acknowledged one is in the file.
func TestCloseWhileAppending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	l, err := Open(path, nil)
	require.NoError(t, err)
	s := mustStream(t, l, "s")
	acked := make(chan uint64, 10000)
	errs := make(chan error, 64)
	for range 8 {
		go func() {
			for {
				a, err := s.Append("", []byte("x"))
				if err != nil {
					errs <- err
					return
				}
				acked <- a.Seq
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	require.NoError(t, l.Close())
	for range 8 {
		require.ErrorIs(t, <-errs, ErrClosed)
	}
	close(acked)
	l2 := openAt(t, path, &Options{ReadOnly: true})
	s2 := mustStream(t, l2, "s")
	have := map[uint64]bool{}
	for _, r := range eventsOf(t, s2) {
		have[r.Seq] = true
	}
	n := 0
	for q := range acked {
		require.True(t, have[q], "acknowledged seq %d missing", q)
		n++
	}
	require.Positive(t, n)
}

func TestErrInvalidName(t *testing.T) {
	l, _ := mustOpen(t, nil)
	for _, name := range []string{"", strings.Repeat("n", 256), strings.Repeat("é", 128)} {
		_, err := l.Stream(name)
		require.ErrorIs(t, err, ErrInvalidName, "%q", name)
	}
	for _, name := range []string{"a", strings.Repeat("n", 255), "with/slash and spaces", "é"} {
		s, err := l.Stream(name)
		require.NoError(t, err, "%q", name)
		require.Equal(t, name, s.Name())
	}
	require.Len(t, l.Streams(), 4)
}

func TestReadOnly(t *testing.T) {
	l, path := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 3)
	b := sealOne(t, s, 1)

	// While the writer holds the file, a read-only open is refused.
	_, err := Open(path, &Options{ReadOnly: true, LockTimeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, store.ErrLocked)
	require.NoError(t, l.Close())

	ro := openAt(t, path, &Options{ReadOnly: true})
	_, err = ro.Stream("missing")
	require.ErrorIs(t, err, ErrNoStream)
	rs := mustStream(t, ro, "s")
	require.Equal(t, statsOf{Pending: 2, PendingBytes: 24, InFlightBatches: 1, InFlight: 1, InFlightBytes: 12}, statsNow(rs))
	require.Len(t, eventsOf(t, rs), 3, "reads work")

	writes := map[string]error{
		"Append":          second(rs.Append("", []byte("x"))),
		"AppendMany":      second(rs.AppendMany([]Entry{{Payload: []byte("x")}})),
		"AppendAsync":     asyncErr(rs, []Entry{{Payload: []byte("x")}}),
		"Seal":            second(rs.Seal(SealOptions{MaxEvents: 1, Force: true})),
		"Complete":        rs.Complete(b.Seq),
		"CompletePartial": second(rs.CompletePartial(b.Seq, 1)),
		"Retry":           second(rs.Retry(b.Seq, time.Now(), "x")),
		"DeadLetter":      rs.DeadLetter(b.Seq, "x", false),
		"Requeue":         second(rs.Requeue(nil)),
		"PurgeDead":       second(rs.PurgeDead()),
	}
	for name, err := range writes {
		require.ErrorIs(t, err, store.ErrReadOnly, name)
	}
	require.Equal(t, statsOf{Pending: 2, PendingBytes: 24, InFlightBatches: 1, InFlight: 1, InFlightBytes: 12}, statsNow(rs))

	// A read-only open of a missing file does not create it.
	nope := filepath.Join(t.TempDir(), "nope.db")
	_, err = Open(nope, &Options{ReadOnly: true})
	require.Error(t, err)
	require.NoFileExists(t, nope)
}
