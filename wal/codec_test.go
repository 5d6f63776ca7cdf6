package wal

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A stream's codec record persists across reopens, "" removes it, and a
// name that is too long or not printable ASCII is refused.
func TestStreamCodecRecord(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	require.Equal(t, "", s.Codec(), "a new stream has no record: msgpack")
	require.NoError(t, s.SetCodec("application/json"))
	require.Equal(t, "application/json", s.Codec())
	for _, bad := range []string{strings.Repeat("a", MaxCodecLen+1), "application/json\n", "caf\u00e9"} {
		require.ErrorIs(t, s.SetCodec(bad), ErrInvalidCodec)
	}

	l = reopen(t, l, nil)
	s = mustStream(t, l, "s")
	require.Equal(t, "application/json", s.Codec())

	require.NoError(t, s.SetCodec(""))
	l = reopen(t, l, nil)
	require.Equal(t, "", mustStream(t, l, "s").Codec())
}
