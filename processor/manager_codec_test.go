package processor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// A codec given to OpenManager applies to every stream: each stream
// records it, stores its events as it encodes them, and a manager opened
// again on the file reads them back through it.
func TestManagerStreamsRecordTheCodec(t *testing.T) {
	noLeaks(t)
	path := walPath(t)
	sink := &payloadSink{}
	factory := func(string) (dispatcher.Dispatcher[tev], []Option, error) { return sink, nil, nil }
	codec := jsonCodec[tev]{}
	m, err := OpenManager[tev](path, factory, 0, nil, quiet(WithBatchSize(1), WithCodec(Codec[tev](codec)))...)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, m.Enqueue(ctx, "a", tev{N: 0, K: "a"}))
	require.NoError(t, m.EnqueueMany(ctx, "b", []tev{{N: 2, K: "b"}}))
	require.NoError(t, m.Flush(ctx))
	require.NoError(t, m.Stop(ctx))

	sink.mu.Lock()
	require.ElementsMatch(t, []tev{{N: 0, K: "a"}, {N: 2, K: "b"}}, sink.vals)
	for i, v := range sink.vals {
		want, err := codec.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, want, sink.payloads[i], "event %d is stored as the codec encodes it", i)
	}
	sink.mu.Unlock()

	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	for _, name := range []string{"a", "b"} {
		s, err := l.Stream(name)
		require.NoError(t, err)
		require.Equal(t, codec.ContentType(), s.Codec(), "stream %q records the manager's codec", name)
	}
}
