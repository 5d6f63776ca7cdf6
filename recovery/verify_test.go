package recovery

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVerifyExercisedWAL(t *testing.T) {
	path := buildWAL(t)
	r := mustVerify(t, path)
	require.True(t, r.PagesChecked)
	require.Len(t, r.Streams, 3)
	t.Log(r)
	for _, s := range r.Streams {
		t.Logf("%s: %+v", s.Stream, s.Counted)
	}
}
