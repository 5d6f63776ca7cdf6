package dispatcher

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFuncDispatchesWithTheSameArguments(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	b := makeBatch("b1", 3, 1)
	var got *Batch[click]
	var d Dispatcher[click] = Func[click](func(ctx context.Context, b *Batch[click]) error {
		require.Equal(t, "v", ctx.Value(key{}))
		got = b
		return nil
	})
	require.NoError(t, d.Dispatch(ctx, b))
	require.Same(t, b, got)
}

func TestFuncReturnsEachOutcome(t *testing.T) {
	cause := errors.New("sink down")
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
		delivered int
	}{
		{name: "success"},
		{name: "retryable", err: Retryable(cause, 0)},
		{name: "permanent", err: Permanent(cause), permanent: true},
		{name: "partial", err: Partial(2, cause), delivered: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := Func[click](func(context.Context, *Batch[click]) error { return tc.err })
			err := f.Dispatch(context.Background(), makeBatch("b", 3, 1))
			require.Equal(t, tc.err, err)
			require.Equal(t, tc.permanent, IsPermanent(err))
			n, ok := Delivered(err, 3)
			require.Equal(t, tc.delivered > 0, ok)
			require.Equal(t, tc.delivered, n)
		})
	}
}
