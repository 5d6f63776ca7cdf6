package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/wal"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixture is a WAL with fixed content, built by buildWAL:
//
//	orders: events 1-2 (key eu) completed as batch 1; event 3 (eu) in
//	        flight as batch 2, failed once, next attempt 2030-01-01; events
//	        4-5 (us) dead-lettered as batch 3; events 6-8 pending (a map, a
//	        payload that is not msgpack, an empty payload)
//	audit:  events 1-2 pending, no key
//	empty:  nothing
type fixture struct {
	path     string
	uids     map[string]string // stream -> hex UID
	fileID   string
	oldest   time.Time // oldest pending in orders
	deadIDs  []string
	inflight uint64 // batch seq of the in-flight batch
}

func mp(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

func buildWAL(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{path: filepath.Join(t.TempDir(), "events.wal"), uids: map[string]string{}}
	l, err := wal.Open(f.path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	orders, err := l.Stream("orders")
	require.NoError(t, err)
	_, err = orders.AppendMany([]wal.Entry{
		{Key: "eu", Payload: mp(t, map[string]any{"order": 1, "total": 9.5})},
		{Key: "eu", Payload: mp(t, map[string]any{"order": 2, "total": 12.25})},
		{Key: "eu", Payload: mp(t, map[string]any{"order": 3, "items": []string{"a", "b"}})},
		{Key: "us", Payload: mp(t, map[string]any{"order": 4, "blob": []byte{0xff, 0x00, 0x10}})},
		{Key: "us", Payload: mp(t, map[int]string{5: "five"})},
		{Key: "eu", Payload: mp(t, map[string]any{"order": 6, "note": "tab\there"})},
		{Key: "eu", Payload: []byte("plain text")},
		{Key: "eu", Payload: nil},
	})
	require.NoError(t, err)
	seal := func() *wal.Batch {
		res, err := orders.Seal(wal.SealOptions{MaxEvents: 2})
		require.NoError(t, err)
		require.NotNil(t, res.Batch)
		return res.Batch
	}
	b1 := seal()
	require.NoError(t, orders.Complete(b1.Seq))
	b2 := seal()
	require.Equal(t, 1, b2.Count)
	_, err = orders.Retry(b2.Seq, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), "HTTP 503 Service Unavailable")
	require.NoError(t, err)
	f.inflight = b2.Seq
	b3 := seal()
	require.NoError(t, orders.DeadLetter(b3.Seq, "HTTP 400 Bad Request: unknown field \"blob\"", true))
	f.deadIDs = []string{orders.EventID(4).String(), orders.EventID(5).String()}
	f.oldest = orders.Stats().OldestPending

	audit, err := l.Stream("audit")
	require.NoError(t, err)
	_, err = audit.AppendMany([]wal.Entry{{Payload: mp(t, "login alice")}, {Payload: mp(t, []any{1, true, nil})}})
	require.NoError(t, err)
	_, err = l.Stream("empty")
	require.NoError(t, err)
	for _, n := range l.Streams() {
		s, err := l.Stream(n)
		require.NoError(t, err)
		uid := s.UID()
		f.uids[n] = hex.EncodeToString(uid[:])
	}
	id := l.Store().Info().FileID
	f.fileID = hex.EncodeToString(id[:])
	require.NoError(t, l.Close())
	return f
}

// result is what one walctl run produced.
type result struct {
	code           int
	stdout, stderr string
}

// walctl runs the command in-process with the clock fixed at now (zero:
// the real clock).
func walctlAt(t *testing.T, now time.Time, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{now: time.Now, stderr: &errOut}
	if !now.IsZero() {
		e.now = func() time.Time { return now }
	}
	code := execute(e, args, &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

func walctl(t *testing.T, args ...string) result {
	t.Helper()
	return walctlAt(t, time.Time{}, args...)
}

var (
	timeRE = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	ageRE  = regexp.MustCompile(`"oldest_pending_age_seconds": [0-9.e+-]+`)
)

// normalize replaces what changes from run to run (paths, random IDs,
// times) with placeholders of the same width, so tables stay aligned. A
// stream's random ID becomes its name padded with dots to 16 characters.
// The next attempt time is fixed by the fixture and kept.
func (f *fixture) normalize(s string) string {
	s = strings.ReplaceAll(s, f.path, "<FILE>")
	s = strings.ReplaceAll(s, f.fileID, "<FILE-ID.......>")
	for name, uid := range f.uids {
		s = strings.ReplaceAll(s, uid, (name + strings.Repeat(".", 16))[:16])
	}
	s = ageRE.ReplaceAllString(s, `"oldest_pending_age_seconds": <AGE>`)
	return timeRE.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "2030-01-01T00:00:00") {
			return m
		}
		return "YYYY-MM-DDThh:mm:ss.sssZ"
	})
}

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create the golden file")
	require.Equal(t, string(want), got, "output differs from %s (go test -update rewrites it)", path)
}

func hashFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
