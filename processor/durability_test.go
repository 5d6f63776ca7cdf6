package processor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// noSync reports whether p's file skips fsync (SyncNone).
func noSync[T any](p *Processor[T]) bool { return p.Stream().Log().Store().NoSync() }

// Durability is set where the file is opened, once. Open takes it from
// WithSync or from WithWALOptions' Sync field (WithSync's default no
// longer overrides the latter), and refuses the two disagreeing.
func TestDurabilityAtOpen(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	for _, tc := range []struct {
		name   string
		opts   []Option
		noSync bool
	}{
		{"default", nil, false},
		{"WithSync(SyncNone)", []Option{WithSync(wal.SyncNone)}, true},
		{"WithSync(SyncAlways)", []Option{WithSync(wal.SyncAlways)}, false},
		{"WAL options SyncNone", []Option{WithWALOptions(wal.Options{Sync: wal.SyncNone})}, true},
		{"WAL options without Sync, WithSync(SyncNone)", []Option{WithWALOptions(wal.Options{LockTimeout: 2 * time.Second}), WithSync(wal.SyncNone)}, true},
		{"WithSync(SyncNone), then WAL options without Sync", []Option{WithSync(wal.SyncNone), WithWALOptions(wal.Options{LockTimeout: 2 * time.Second})}, true},
		{"both SyncNone", []Option{WithSync(wal.SyncNone), WithWALOptions(wal.Options{Sync: wal.SyncNone})}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := openP(t, walPath(t), sink, append(quiet(), tc.opts...)...)
			require.Equal(t, tc.noSync, noSync(p))
			require.NoError(t, p.Stop(context.Background()))
		})
	}
	_, err := Open[tev](walPath(t), sink, WithSync(wal.SyncAlways), WithWALOptions(wal.Options{Sync: wal.SyncNone}))
	require.ErrorIs(t, err, ErrInvalidOption)
}

// New's log is open already: it has the log's durability, and an option
// that would set another is refused instead of ignored.
func TestDurabilityAtNew(t *testing.T) {
	noLeaks(t)
	sink := newRecSink(nil)
	for _, mode := range []wal.SyncMode{wal.SyncAlways, wal.SyncNone} {
		other := wal.SyncNone
		if mode == wal.SyncNone {
			other = wal.SyncAlways
		}
		l, err := wal.Open(walPath(t), &wal.Options{Sync: mode})
		require.NoError(t, err)
		_, err = New[tev](l, sink, WithSync(other))
		require.ErrorIs(t, err, ErrInvalidOption, "WithSync(%s) on a log opened with %s", other, mode)
		_, err = New[tev](l, sink, WithWALOptions(wal.Options{Sync: mode}))
		require.ErrorIs(t, err, ErrInvalidOption, "WithWALOptions on an open log")
		_, err = New[tev](l, sink, WithSync(99))
		require.ErrorIs(t, err, ErrInvalidOption)
		for _, opts := range [][]Option{nil, {WithSync(mode)}} {
			p, err := New[tev](l, sink, append(quiet(), opts...)...)
			require.NoError(t, err)
			require.Equal(t, mode == wal.SyncNone, noSync(p))
			require.NoError(t, p.Stop(context.Background()))
		}
		require.NoError(t, l.Close())
	}
}

// The Manager's file gets its durability from OpenManager's WAL options;
// a factory may repeat it with WithSync, not change it (the stream's
// creation fails with ErrInvalidOption), and unknown or read-only WAL
// options are refused before the file is opened.
func TestDurabilityAtManager(t *testing.T) {
	noLeaks(t)
	ok := dispatcher.Func[int](func(context.Context, *dispatcher.Batch[int]) error { return nil })
	factory := func(stream string) (dispatcher.Dispatcher[int], []Option, error) {
		switch stream {
		case "always":
			return ok, quiet(WithSync(wal.SyncAlways)), nil
		case "none":
			return ok, quiet(WithSync(wal.SyncNone)), nil
		}
		return ok, quiet(), nil
	}
	m, err := OpenManager[int](walPath(t), factory, time.Hour, &wal.Options{Sync: wal.SyncNone})
	require.NoError(t, err)
	require.True(t, m.log.Store().NoSync())
	require.NoError(t, m.Enqueue(context.Background(), "plain", 1))
	require.NoError(t, m.Enqueue(context.Background(), "none", 1))
	require.ErrorIs(t, m.Enqueue(context.Background(), "always", 1), ErrInvalidOption)
	require.NoError(t, m.Stop(context.Background()))

	for _, o := range []wal.Options{{Sync: 99}, {ReadOnly: true}} {
		path := walPath(t)
		_, err := OpenManager[int](path, factory, time.Hour, &o)
		require.ErrorIs(t, err, ErrInvalidOption, "%+v", o)
		require.NoFileExists(t, path)
	}
	_, err = OpenManager[int](walPath(t), nil, time.Hour, nil)
	require.ErrorIs(t, err, ErrInvalidOption)
}
