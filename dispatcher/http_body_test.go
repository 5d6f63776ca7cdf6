package dispatcher

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// keyed returns a batch of three events sharing the batch key "tenant-1".
func keyed() *Batch[click] {
	b := makeBatch("batch-42", 3, 7)
	for i := range b.Events {
		b.Events[i].Key = "tenant-1"
	}
	return b
}

func TestHTTPBodyAndHeadersAsTheReceiverSeesThem(t *testing.T) {
	const event0 = `{"id":"ev-7","seq":7,"time":"2026-01-02T15:04:05.123456789Z","key":"tenant-1","data":{"user":"u7","n":7}}`
	const event1 = `{"id":"ev-8","seq":8,"time":"2026-01-02T15:04:05.124456789Z","key":"tenant-1","data":{"user":"u8","n":8}}`
	const event2 = `{"id":"ev-9","seq":9,"time":"2026-01-02T15:04:05.125456789Z","key":"tenant-1","data":{"user":"u9","n":9}}`
	cases := []struct {
		format      BodyFormat
		contentType string
		body        string
	}{
		{BodyEnvelope, "application/json",
			`{"batch_id":"batch-42","stream":"clicks","attempt":1,"events":[` + event0 + "," + event1 + "," + event2 + "]}"},
		{BodyJSONArray, "application/json", `[{"user":"u7","n":7},{"user":"u8","n":8},{"user":"u9","n":9}]`},
		{BodyNDJSON, "application/x-ndjson", event0 + "\n" + event1 + "\n" + event2 + "\n"},
	}
	for _, tc := range cases {
		for _, gz := range []bool{false, true} {
			t.Run(tc.format.String()+"/gzip="+strconv.FormatBool(gz), func(t *testing.T) {
				rc := newReceiver(t, nil)
				opts := []HTTPOption{
					WithBodyFormat(tc.format),
					WithHeader("Authorization", "Bearer token-abc"),
					WithHeaders(http.Header{"X-Source": {"tests"}}),
				}
				if gz {
					opts = append(opts, WithGzip())
				}
				h := newHTTP(t, rc.URL+"/ingest", opts...)
				require.NoError(t, h.Dispatch(context.Background(), keyed()))

				reqs := rc.requests()
				require.Len(t, reqs, 1)
				r := reqs[0]
				require.Equal(t, http.MethodPost, r.Method)
				require.Equal(t, "/ingest", r.Path)
				require.Equal(t, tc.body, string(r.Body))
				require.Equal(t, tc.contentType, r.Header.Get("Content-Type"))
				require.Equal(t, "batch-42", r.Header.Get("Idempotency-Key"))
				require.Equal(t, "Bearer token-abc", r.Header.Get("Authorization"))
				require.Equal(t, "tests", r.Header.Get("X-Source"))
				require.Equal(t, "walbatch", r.Header.Get("User-Agent"))
				require.Equal(t, strconv.Itoa(len(r.Wire)), r.Header.Get("Content-Length"))
				if gz {
					require.Equal(t, "gzip", r.Header.Get("Content-Encoding"))
					require.Equal(t, []byte{0x1f, 0x8b}, r.Wire[:2])
				} else {
					require.Empty(t, r.Header.Get("Content-Encoding"))
					require.Equal(t, r.Body, r.Wire)
				}
			})
		}
	}
}

func TestHTTPEnvelopeOmitsAnEmptyKeyAndEscapesStrings(t *testing.T) {
	b := makeBatch("b\"1\n", 1, 1)
	b.Stream = "s\\<é>\x01\xff"
	body, err := EncodeBody(BodyEnvelope, b)
	require.NoError(t, err)
	require.True(t, json.Valid(body), "%s", body)
	wb := decode(t, body)
	require.Equal(t, "b\"1\n", wb.BatchID)
	require.Equal(t, "s\\<é>\x01\uFFFD", wb.Stream)
	require.NotContains(t, string(body), `"key"`)
	require.Equal(t, 1, wb.Attempt)
}

func TestHTTPRawJSONValuesAreEmbeddedAsIs(t *testing.T) {
	rc := newReceiver(t, nil)
	h, err := NewHTTP[json.RawMessage](rc.URL, WithBodyFormat(BodyJSONArray))
	require.NoError(t, err)
	t.Cleanup(h.CloseIdleConnections)
	b := &Batch[json.RawMessage]{ID: "b", Events: []Event[json.RawMessage]{
		{ID: "1", Value: json.RawMessage(`{"a":1}`)}, {ID: "2", Value: json.RawMessage(`[true]`)},
	}}
	require.NoError(t, h.Dispatch(context.Background(), b))
	require.Equal(t, `[{"a":1},[true]]`, string(rc.requests()[0].Body))
}

func TestHTTPCustomEventFactory(t *testing.T) {
	rc := newReceiver(t, nil)
	factory := func(url string, b *Batch[click]) (*LogEvent, error) {
		var sb strings.Builder
		for _, ev := range b.Events {
			sb.WriteString(ev.ID + "=" + ev.Value.User + "\n")
		}
		return &LogEvent{
			Method: http.MethodPut,
			URL:    url + "/custom",
			Body:   []byte(sb.String()),
			Header: http.Header{"Content-Type": {"text/plain"}, "X-Source": {"factory"}},
		}, nil
	}
	h := newHTTP(t, rc.URL, WithEventFactory(factory), WithHeader("X-Source", "option"), WithGzip())
	require.NoError(t, h.Dispatch(context.Background(), makeBatch("b7", 2, 1)))
	r := rc.requests()[0]
	require.Equal(t, http.MethodPut, r.Method)
	require.Equal(t, "/custom", r.Path)
	require.Equal(t, "ev-1=u1\nev-2=u2\n", string(r.Body))
	require.Equal(t, "text/plain", r.Header.Get("Content-Type"))
	require.Equal(t, "option", r.Header.Get("X-Source"), "user headers win over the factory's")
	require.Equal(t, "b7", r.Header.Get("Idempotency-Key"))
	require.Equal(t, "gzip", r.Header.Get("Content-Encoding"))
}

func TestHTTPEventFactoryErrorsKeepTheirClass(t *testing.T) {
	rc := newReceiver(t, nil)
	fail := Retryable(context.DeadlineExceeded, 0)
	h := newHTTP(t, rc.URL, WithEventFactory(func(string, *Batch[click]) (*LogEvent, error) { return nil, fail }))
	err := h.Dispatch(context.Background(), makeBatch("b", 1, 1))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, IsPermanent(err))
	require.Empty(t, rc.requests())
}

func TestHTTPEmptyBatchSendsNothing(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHTTP(t, rc.URL)
	require.NoError(t, h.Dispatch(context.Background(), &Batch[click]{ID: "empty"}))
	require.True(t, IsPermanent(h.Dispatch(context.Background(), nil)))
	require.Empty(t, rc.requests())
}

// A request the factory made that net/http can never send (a header value
// with CR or LF, a method that is not a token, a URL that is not http(s))
// is a permanent error, not a retry loop, and the value is not shown.
func TestHTTPEventFactoryRequestThatCannotBeSentIsPermanent(t *testing.T) {
	rc := newReceiver(t, nil)
	for name, ev := range map[string]*LogEvent{
		"header value": {Header: http.Header{"X-Signature": {"abc\r\nInjected: " + signature}}},
		"header name":  {Header: http.Header{"X Sig": {"1"}}},
		"method":       {Method: "PO ST"},
		"scheme":       {URL: "ftp://127.0.0.1/x"},
	} {
		h := newHTTP(t, rc.URL, WithEventFactory(func(string, *Batch[click]) (*LogEvent, error) { return ev, nil }))
		err := h.Dispatch(context.Background(), makeBatch("b", 1, 1))
		require.True(t, IsPermanent(err), "%s: %v", name, err)
		require.NotContains(t, err.Error(), signature, name)
	}
	require.Empty(t, rc.requests())
}
