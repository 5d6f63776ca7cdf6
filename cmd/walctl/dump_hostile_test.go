package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/wal"
)

// hostileWAL holds, between two good events, the payloads of issue 11 that
// made dump die of OOM (exit 2), hang, overflow its stack, or stop at the
// first with exit 1, one of them also in dead letters.
func hostileWAL(t *testing.T) (path string, names []string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "hostile.wal")
	l, err := wal.Open(path, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	defer func() { require.NoError(t, l.Close()) }()
	s, err := l.Stream("s")
	require.NoError(t, err)
	good := func(n int) []byte {
		b, err := msgpack.Marshal(map[string]any{"n": n})
		require.NoError(t, err)
		return b
	}
	entries := []wal.Entry{{Payload: good(1)}}
	for _, h := range []struct {
		name    string
		payload []byte
	}{
		{"array32 of 4G", []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"map32 of 4G", []byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"deep arrays 100k", append(bytes.Repeat([]byte{0x91}, 100_000), 0x01)},
		{"deep maps 1M", append(bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 1<<20), 0x01)},
		{"deep arrays 3M", append(bytes.Repeat([]byte{0x91}, 3<<20), 0x01)},
		{"ext32 of 4G", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"bin32 of 4G", []byte{0xc6, 0xff, 0xff, 0xff, 0xff, 0x01}},
	} {
		entries = append(entries, wal.Entry{Payload: h.payload})
		names = append(names, h.name)
	}
	entries = append(entries, wal.Entry{Payload: good(2)})
	_, err = s.AppendMany(entries)
	require.NoError(t, err)
	// The first two events (a good one, the array32) go to dead letters.
	res, err := s.Seal(wal.SealOptions{MaxEvents: 2})
	require.NoError(t, err)
	require.NoError(t, s.DeadLetter(res.Batch.Seq, "HTTP 400", true))
	return path, names
}

// TestDumpHostilePayloads: each hostile payload prints a line with a
// payload_error and its raw bytes, and the dump goes on to the end with
// exit 0, live events and dead letters alike.
func TestDumpHostilePayloads(t *testing.T) {
	path, names := hostileWAL(t)
	r := walctl(t, "dump", path)
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, len(names)+2)
	type line struct {
		Seq          uint64          `json:"seq"`
		State        string          `json:"state"`
		Payload      json.RawMessage `json:"payload"`
		PayloadRaw   string          `json:"payload_raw"`
		PayloadError string          `json:"payload_error"`
	}
	bySeq := map[uint64]line{}
	for _, l := range lines {
		var got line
		require.NoError(t, json.Unmarshal([]byte(l), &got), l[:min(len(l), 200)])
		bySeq[got.Seq] = got
	}
	require.JSONEq(t, `{"n":1}`, string(bySeq[1].Payload))
	require.Equal(t, "dead", bySeq[1].State)
	require.JSONEq(t, `{"n":2}`, string(bySeq[uint64(len(names)+2)].Payload))
	for i, name := range names {
		got := bySeq[uint64(i+2)]
		require.Nil(t, got.Payload, name)
		require.NotEmpty(t, got.PayloadRaw, name)
		require.True(t, strings.HasPrefix(got.PayloadError, "malformed msgpack: "), "%s: %s", name, got.PayloadError)
	}
	require.Equal(t, "dead", bySeq[2].State)

	// The table goes on to the end too.
	r = walctl(t, "dump", path, "-o", "table")
	require.Equal(t, 0, r.code, "stderr: %s", r.stderr)
	require.Len(t, strings.Split(strings.TrimSpace(r.stdout), "\n"), len(names)+3) // a header line
}

// The depth limit is the documented one: 100 levels print as JSON, 101 are
// a payload_error.
func TestDumpNestingLimit(t *testing.T) {
	js, err := msgpackToJSON(append(bytes.Repeat([]byte{0x91}, 100), 0x01))
	require.NoError(t, err)
	require.Equal(t, strings.Repeat("[", 100)+"1"+strings.Repeat("]", 100), string(js))
	_, err = msgpackToJSON(append(bytes.Repeat([]byte{0x91}, 101), 0x01))
	require.ErrorContains(t, err, "nested deeper than 100")
}

// A map whose key is a map or an array (valid msgpack, which no Go map can
// hold) prints with the key as text: msgpack's untyped map panicked on it,
// ending dump with a crash (found by FuzzDumpPayload).
func TestDumpMapWithUnhashableKeys(t *testing.T) {
	js, err := msgpackToJSON([]byte{0x82, 0x80, 0x30, 0x92, 0x01, 0x02, 0xc0})
	require.NoError(t, err)
	require.JSONEq(t, `{"map[]":48,"[1 2]":null}`, string(js))
}
