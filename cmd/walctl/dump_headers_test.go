package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/wal"
)

func TestDumpShowsHeaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.wal")
	l, err := wal.Open(path, nil)
	require.NoError(t, err)
	s, err := l.Stream("s")
	require.NoError(t, err)
	_, err = s.AppendEntry(wal.Entry{Payload: mp(t, 1), Headers: map[string]string{"traceparent": "00-ab-01", "route": "eu"}})
	require.NoError(t, err)
	_, err = s.Append("", mp(t, 2))
	require.NoError(t, err)
	require.NoError(t, l.Close())

	r := walctl(t, "dump", path)
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], `"headers":{"route":"eu","traceparent":"00-ab-01"}`)
	require.NotContains(t, lines[1], `"headers"`)
	r = walctl(t, "verify", path)
	require.Equal(t, 0, r.code, r.stdout+r.stderr)
}
