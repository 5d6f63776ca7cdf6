package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

// dead -o json shows each payload as dump does: decoded to JSON, or, for a
// payload that is not msgpack (here an array header declaring 4G
// elements), as base64 with a payload_error, and the listing goes on.
func TestDeadJSONShowsPayloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.wal")
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("s")
	require.NoError(t, err)
	_, err = s.Append("", mp(t, map[string]int{"n": 1}))
	require.NoError(t, err)
	_, err = s.Append("", []byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	require.NoError(t, err)
	res, err := s.Seal(wal.SealOptions{MaxEvents: 2, Force: true})
	require.NoError(t, err)
	require.NoError(t, s.DeadLetter(res.Batch.Seq, "HTTP 400", true))
	require.NoError(t, l.Close())

	r := walctl(t, "dead", path, "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	require.Len(t, rows, 2)
	require.Equal(t, map[string]any{"n": float64(1)}, rows[0]["payload"])
	require.NotContains(t, rows[1], "payload")
	require.Equal(t, "3f////8=", rows[1]["payload_raw"])
	require.Equal(t, "base64", rows[1]["encoding"])
	require.Contains(t, rows[1]["payload_error"], "malformed msgpack")
}
