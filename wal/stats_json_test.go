package wal

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStatsJSONIsSnakeCase(t *testing.T) {
	b, err := json.Marshal(Stats{Stream: "orders", PendingEvents: 2, InFlightBytes: 10, OldestPending: time.Unix(100, 0).UTC()})
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, "orders", got["stream"])
	require.EqualValues(t, 2, got["pending_events"])
	require.EqualValues(t, 10, got["inflight_bytes"])
	require.Equal(t, "1970-01-01T00:01:40Z", got["oldest_pending"])
	for k := range got {
		require.Regexp(t, `^[a-z_]+$`, k)
	}

	b, err = json.Marshal(Stats{Stream: "idle"})
	require.NoError(t, err)
	require.NotContains(t, string(b), "oldest_pending")
}
