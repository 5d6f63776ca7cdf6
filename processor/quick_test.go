package processor

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
)

type pageView struct {
	User string `msgpack:"user"`
	N    int    `msgpack:"n"`
}

func TestQuick(t *testing.T) {
	var mu sync.Mutex
	var got []int
	d := dispatcher.Func[pageView](func(ctx context.Context, b *dispatcher.Batch[pageView]) error {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range b.Events {
			got = append(got, e.Value.N)
		}
		return nil
	})
	p, err := Open[pageView](filepath.Join(t.TempDir(), "w.db"), d, WithBatchSize(10), WithInactiveTimeout(50*time.Millisecond))
	require.NoError(t, err)
	for i := 0; i < 25; i++ {
		require.NoError(t, p.Enqueue(context.Background(), pageView{"u", i}))
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 25 }, 2*time.Second, 5*time.Millisecond)
	require.NoError(t, p.Stop(context.Background()))
	for i := range got {
		require.Equal(t, i, got[i])
	}
}
