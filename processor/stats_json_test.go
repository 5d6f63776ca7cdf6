package processor

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStatsJSONIsSnakeCaseWithSeconds(t *testing.T) {
	b, err := json.Marshal(Stats{Stream: "orders", PendingEvents: 3, InFlightBatches: 1, OldestPendingAge: 1500 * time.Millisecond, Delivered: 7})
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, "orders", got["stream"])
	require.EqualValues(t, 3, got["pending_events"])
	require.EqualValues(t, 1, got["inflight_batches"])
	require.EqualValues(t, 7, got["delivered"])
	require.InDelta(t, 1.5, got["oldest_pending_age_seconds"], 1e-9)
	for k := range got {
		require.Regexp(t, `^[a-z_]+$`, k)
	}
}
