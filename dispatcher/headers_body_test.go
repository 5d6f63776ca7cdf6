package dispatcher

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// Event headers reach the receiver in every body format: "headers" in the
// event object (keys sorted, strings escaped), left out for an event
// without any.
func TestHTTPBodyCarriesEventHeaders(t *testing.T) {
	b := makeBatch("batch-1", 2, 7)
	b.Events[0].Headers = map[string]string{
		"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"route":       "eu\"1\n",
	}
	const hdrs = `{"route":"eu\"1\n","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}`
	const event0 = `{"id":"ev-7","seq":7,"time":"2026-01-02T15:04:05.123456789Z","headers":` + hdrs + `,"data":{"user":"u7","n":7}}`
	const event1 = `{"id":"ev-8","seq":8,"time":"2026-01-02T15:04:05.124456789Z","data":{"user":"u8","n":8}}`
	for format, want := range map[BodyFormat]string{
		BodyEnvelope:  `{"batch_id":"batch-1","stream":"clicks","attempt":1,"events":[` + event0 + "," + event1 + "]}",
		BodyNDJSON:    event0 + "\n" + event1 + "\n",
		BodyJSONArray: `[{"user":"u7","n":7},{"user":"u8","n":8}]`, // bare values only: one shape
	} {
		rc := newReceiver(t, nil)
		h := newHTTP(t, rc.URL, WithBodyFormat(format))
		require.NoError(t, h.Dispatch(context.Background(), b))
		body := rc.requests()[0].Body
		require.Equal(t, want, string(body), format.String())
		if format != BodyNDJSON {
			require.True(t, json.Valid(body), format.String())
		}
	}
}
