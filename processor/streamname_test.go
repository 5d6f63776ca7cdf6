package processor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// Stream names a terminal would act on are refused where a stream is
// created: Open with WithStream, and a Manager's Enqueue on a new name.
func TestStreamNameWithControlOrBidiRefused(t *testing.T) {
	noLeaks(t)
	names := []string{"esc\x1b[31m", "nul\x00", "csi\u009b", "bidi\u202e", "bad\xff"}
	for _, name := range names {
		_, err := Open[tev](walPath(t), newRecSink(nil), quiet(WithStream(name))...)
		require.ErrorIs(t, err, wal.ErrInvalidName, "%q", name)
	}
	m, err := OpenManager[int](walPath(t), func(string) (dispatcher.Dispatcher[int], []Option, error) {
		return dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error { return nil }), nil, nil
	}, 0, nil)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Stop(context.Background())) }()
	for _, name := range names {
		require.ErrorIs(t, m.Enqueue(context.Background(), name, 1), wal.ErrInvalidName, "%q", name)
	}
	require.NoError(t, m.Enqueue(context.Background(), "orders 日本", 1))
	require.Equal(t, []string{"orders 日本"}, m.Streams())
}
