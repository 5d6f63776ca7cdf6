package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/walbatch/walbatch/dispatcher"
)

type pageView struct {
	Path string `json:"path"`
}

func ExampleFunc() {
	// A function dispatcher: print each event, refuse batches with a bad
	// event for good, and accept the rest.
	d := dispatcher.Func[pageView](func(ctx context.Context, b *dispatcher.Batch[pageView]) error {
		for i, ev := range b.Events {
			if ev.Value.Path == "" {
				// Events before i are delivered; the rest go to dead letters.
				return dispatcher.Partial(i, dispatcher.Permanent(errors.New("empty path")))
			}
			fmt.Printf("%s %s %s\n", b.ID, ev.ID, ev.Value.Path)
		}
		return nil
	})
	err := d.Dispatch(context.Background(), &dispatcher.Batch[pageView]{
		ID: "batch-1",
		Events: []dispatcher.Event[pageView]{
			{ID: "ev-1", Value: pageView{Path: "/"}},
			{ID: "ev-2", Value: pageView{Path: "/pricing"}},
			{ID: "ev-3"},
		},
	})
	n, _ := dispatcher.Delivered(err, 3)
	fmt.Println("delivered:", n, "permanent:", dispatcher.IsPermanent(err))
	// Output:
	// batch-1 ev-1 /
	// batch-1 ev-2 /pricing
	// delivered: 2 permanent: true
}

func ExampleNewHTTP() {
	// A receiver on loopback that prints what it gets.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Println(r.Method, r.URL.Path)
		fmt.Println("Content-Type:", r.Header.Get("Content-Type"))
		fmt.Println("Idempotency-Key:", r.Header.Get("Idempotency-Key"))
		fmt.Println("Authorization:", r.Header.Get("Authorization"))
		fmt.Println(string(body))
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	d, err := dispatcher.NewHTTP[pageView](srv.URL+"/v1/events",
		dispatcher.WithHeader("Authorization", "Bearer my-token"),
		dispatcher.WithTimeout(5*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.CloseIdleConnections()
	at := time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)
	err = d.Dispatch(context.Background(), &dispatcher.Batch[pageView]{
		ID: "01JGY7", Stream: "pageviews", Attempt: 1,
		Events: []dispatcher.Event[pageView]{
			{ID: "01JGY7-1", Seq: 41, EnqueuedAt: at, Value: pageView{Path: "/"}},
			{ID: "01JGY7-2", Seq: 42, EnqueuedAt: at.Add(time.Millisecond), Value: pageView{Path: "/docs"}},
		},
	})
	fmt.Println("err:", err)
	// Output:
	// POST /v1/events
	// Content-Type: application/json
	// Idempotency-Key: 01JGY7
	// Authorization: Bearer my-token
	// {"batch_id":"01JGY7","stream":"pageviews","attempt":1,"events":[{"id":"01JGY7-1","seq":41,"time":"2026-01-02T15:04:05Z","data":{"path":"/"}},{"id":"01JGY7-2","seq":42,"time":"2026-01-02T15:04:05.001Z","data":{"path":"/docs"}}]}
	// err: <nil>
}
