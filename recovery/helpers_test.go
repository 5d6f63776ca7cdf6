package recovery

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// buildWAL writes a WAL whose streams have been through every transition:
// appends (single, many, with keys), seals, complete, partial complete,
// retry, dead letter, requeue, and batches left in flight. Stream "a" ends
// with two batches in flight (the first retried once, the second partly
// delivered), pending events and dead letters; stream "b" is small.
func buildWAL(t *testing.T) string { t.Helper(); return buildWALFormat(t, 0) }

// buildWALFormat is buildWAL in file format format (0: the default). The
// tests that damage a file by writing format 1 keys and envelopes build it
// at format 1, which this build still reads, repairs and writes.
func buildWALFormat(t *testing.T, format uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.db")
	l, err := wal.Open(path, &wal.Options{Sync: wal.SyncNone, Store: store.Options{Format: format}})
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	a, err := l.Stream("a")
	require.NoError(t, err)
	for i := 0; i < 30; i++ {
		_, err := a.Append("", []byte(fmt.Sprintf("event-%02d", i)))
		require.NoError(t, err)
	}
	_, err = a.AppendMany([]wal.Entry{{Key: "k", Payload: []byte("kk1")}, {Key: "k", Payload: []byte("kk2")}, {Payload: []byte("tail")}})
	require.NoError(t, err)
	seal := func(n int) *wal.Batch {
		res, err := a.Seal(wal.SealOptions{MaxEvents: n, Force: true})
		require.NoError(t, err)
		require.NotNil(t, res.Batch)
		return res.Batch
	}
	b1 := seal(5)
	require.NoError(t, a.Complete(b1.Seq))
	b2 := seal(5)
	_, err = a.CompletePartial(b2.Seq, 2)
	require.NoError(t, err)
	require.NoError(t, a.DeadLetter(b2.Seq, "sink said no", true))
	b3 := seal(5)
	_, err = a.Retry(b3.Seq, time.Now().Add(time.Minute), "timeout")
	require.NoError(t, err)
	require.NoError(t, a.DeadLetter(b3.Seq, "retries exhausted", true))
	rq, err := a.Requeue(nil)
	require.NoError(t, err)
	require.Equal(t, 8, rq.Requeued)
	_, err = a.Retry(seal(4).Seq, time.Now(), "503")
	require.NoError(t, err)
	b5 := seal(6)
	_, err = a.CompletePartial(b5.Seq, 3)
	require.NoError(t, err)
	b6 := seal(3)
	require.NoError(t, a.DeadLetter(b6.Seq, "400 bad request", false))

	b, err := l.Stream("b")
	require.NoError(t, err)
	_, err = b.AppendMany([]wal.Entry{{Payload: []byte("x")}, {Payload: []byte("y")}, {Payload: []byte("z")}})
	require.NoError(t, err)
	res, err := b.Seal(wal.SealOptions{MaxEvents: 2})
	require.NoError(t, err)
	require.NoError(t, b.Complete(res.Batch.Seq))
	_, err = l.Stream("empty")
	require.NoError(t, err)
	return path
}

// damage changes the file through bbolt directly, under stream name.
func damage(t *testing.T, path, name string, fn func(rs format.RawStream)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		rs, ok := format.RawStreamOf(tx, name)
		require.True(t, ok)
		fn(rs)
		return nil
	}))
	require.NoError(t, db.Close())
}

// state returns a stream's stored counters, the derived ones as package
// wal loads them (format.DeriveState).
func state(t *testing.T, rs format.RawStream) format.State {
	st, err := format.DecodeState(rs.Version, rs.State)
	require.NoError(t, err)
	format.DeriveState(rs.Bucket, &st)
	return st
}

func mustVerify(t *testing.T, path string) *Report {
	t.Helper()
	r, err := Verify(path, nil)
	require.NoError(t, err)
	require.True(t, r.OK(), "%s", r)
	return r
}
