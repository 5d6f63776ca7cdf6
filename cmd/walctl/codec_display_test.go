package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

// codecFile writes a stream recorded as JSON, one recorded as a binary
// codec and one with no record (msgpack), each with two events of which
// the second is dead-lettered.
func codecFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "codecs.wal")
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	for _, st := range []struct {
		name, codec string
		payloads    [][]byte
	}{
		{"bin", "application/x-protobuf", [][]byte{{0x08, 0x96, 0x01}, {0xff, 0x00}}},
		{"json", "application/json", [][]byte{[]byte(`{"id": "o-1",` + "\n" + ` "total": 42}`), []byte(`{"id":`)}},
		{"mp", "", [][]byte{mp(t, map[string]int{"n": 1}), {0xdd, 0xff, 0xff, 0xff, 0xff}}},
	} {
		s, err := l.Stream(st.name)
		require.NoError(t, err)
		require.NoError(t, s.SetCodec(st.codec))
		for _, p := range st.payloads {
			_, err = s.Append("", p)
			require.NoError(t, err)
		}
		res, err := s.Seal(wal.SealOptions{MaxEvents: 1, Force: true})
		require.NoError(t, err)
		require.NoError(t, s.Complete(res.Batch.Seq))
		res, err = s.Seal(wal.SealOptions{MaxEvents: 1, Force: true})
		require.NoError(t, err)
		require.NoError(t, s.DeadLetter(res.Batch.Seq, "HTTP 400", true))
		_, err = s.Requeue(nil)
		require.NoError(t, err)
		res, err = s.Seal(wal.SealOptions{MaxEvents: 1, Force: true})
		require.NoError(t, err)
		require.NoError(t, s.DeadLetter(res.Batch.Seq, "HTTP 400", true))
		_, err = s.Append("", st.payloads[0])
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())
	return path
}

// payloadLines keeps each JSON line's stream and payload fields, in order.
func payloadLines(t *testing.T, out string, array bool) []string {
	t.Helper()
	var rows []map[string]any
	if array {
		require.NoError(t, json.Unmarshal([]byte(out), &rows))
	} else {
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &m), line)
			rows = append(rows, m)
		}
	}
	var got []string
	for _, m := range rows {
		keep := map[string]any{}
		for _, k := range []string{"stream", "state", "payload", "payload_raw", "encoding", "codec", "payload_error"} {
			if v, ok := m[k]; ok {
				keep[k] = v
			}
		}
		b, err := json.Marshal(keep)
		require.NoError(t, err)
		got = append(got, string(b))
	}
	return got
}

// dump and dead show each stream's payloads by its recorded codec: JSON as
// JSON (invalid JSON as base64 with a payload_error), a binary codec as
// base64 with its content type and no error, msgpack decoded, and crafted
// msgpack still with a payload_error.
func TestDumpShowsPayloadsByCodec(t *testing.T) {
	path := codecFile(t)
	r := walctl(t, "dump", path, "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Empty(t, r.stderr)
	want := []string{
		`{"codec":"application/x-protobuf","encoding":"base64","payload_raw":"CJYB","state":"pending","stream":"bin"}`,
		`{"codec":"application/x-protobuf","encoding":"base64","payload_raw":"/wA=","state":"dead","stream":"bin"}`,
		`{"codec":"application/json","payload":{"id":"o-1","total":42},"state":"pending","stream":"json"}`,
		`{"codec":"application/json","encoding":"base64","payload_error":"not valid JSON, as its codec application/json says it is","payload_raw":"eyJpZCI6","state":"dead","stream":"json"}`,
		`{"payload":{"n":1},"state":"pending","stream":"mp"}`,
	}
	got := payloadLines(t, r.stdout, false)
	require.Len(t, got, 6)
	require.Equal(t, want, got[:5])
	require.Contains(t, got[5], `"payload_error":"malformed msgpack`)
	require.Contains(t, got[5], `"payload_raw":"3f////8="`)
	require.NotContains(t, got[5], `"codec"`)

	r = walctl(t, "dump", path, "-o", "table")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, cell := range []string{"application/x-protobuf base64:CJYB", "application/x-protobuf base64:/wA=",
		`{"id":"o-1","total":42}`, "application/json base64:eyJpZCI6", `{"n":1}`, "  base64:3f////8="} {
		require.Contains(t, r.stdout, cell)
	}

	// --raw shows bytes for every codec, without errors.
	r = walctl(t, "dump", path, "--stream", "json", "--raw", "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.NotContains(t, r.stdout, "payload_error")
	require.NotContains(t, r.stdout, `"payload":`)

	r = walctl(t, "dead", path, "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	got = payloadLines(t, r.stdout, true)
	require.Len(t, got, 3)
	require.Equal(t, `{"codec":"application/x-protobuf","encoding":"base64","payload_raw":"/wA=","stream":"bin"}`, got[0])
	require.Equal(t, `{"codec":"application/json","encoding":"base64","payload_error":"not valid JSON, as its codec application/json says it is","payload_raw":"eyJpZCI6","stream":"json"}`, got[1])
	require.Contains(t, got[2], `"payload_error":"malformed msgpack`)
}

func TestIsJSONCodec(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "Application/JSON; charset=utf-8": true, "application/cloudevents+json": true,
		"application/x-protobuf": false, "text/plain": false, "application/jsonl": false,
	} {
		require.Equal(t, want, isJSONCodec(ct), ct)
	}
}
