package dispatcher

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/internal/safetext"
)

// An error response's body becomes the batch's last error and dead-letter
// reason: no control or bidi character of it may be kept.
func TestHTTPErrorExcerptHasNoControlOrBidi(t *testing.T) {
	body := "bad \x1b[31mred\x1b[0m \x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\ csi\u009b2J bidi\u202eexe.txt nel\u0085 \xff end"
	rc := newReceiver(t, func(w http.ResponseWriter, _ *received, _ int) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(body))
	})
	err := newHTTP(t, rc.URL).Dispatch(context.Background(), makeBatch("b", 1, 1))
	require.True(t, IsPermanent(err))
	var se *StatusError
	require.ErrorAs(t, err, &se)
	require.True(t, safetext.Clean(se.Body), "excerpt %q", se.Body)
	require.True(t, safetext.Clean(err.Error()), "error %q", err.Error())
	require.Contains(t, se.Body, "bad  [31mred [0m")
	require.Contains(t, se.Body, "bidi exe.txt")
}
