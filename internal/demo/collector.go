package demo

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// Event is what the demo's producers enqueue.
type Event struct {
	N    int64  `msgpack:"n" json:"n"`
	Kind string `msgpack:"kind" json:"kind"`
	User string `msgpack:"user" json:"user"`
}

// delivery is what the collector saw of one producer number.
type delivery struct {
	eventID string
	batchID string
	times   int
}

// collector is a loopback HTTP receiver of the HTTP dispatcher's default
// body. It keeps, per event number, the event ID and batch ID of its first
// delivery and how often it came, and counts redeliveries whose IDs differ
// from the first (there must be none).
type collector struct {
	srv *http.Server
	ln  net.Listener

	mu         sync.Mutex
	seen       map[int64]*delivery
	requests   int
	mismatched int
	failEvery  int // fail every n-th request with a 503, to exercise retries
}

type wireBody struct {
	BatchID string `json:"batch_id"`
	Events  []struct {
		ID   string `json:"id"`
		Data Event  `json:"data"`
	} `json:"events"`
}

func startCollector(failEvery int) (*collector, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: collector: %w", err)
	}
	c := &collector{ln: ln, seen: map[int64]*delivery{}, failEvery: failEvery}
	c.srv = &http.Server{Handler: c}
	go func() { _ = c.srv.Serve(ln) }()
	return c, nil
}

func (c *collector) URL() string { return "http://" + c.ln.Addr().String() + "/events" }

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body wireBody
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "bad body: "+err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	if c.failEvery > 0 && c.requests%c.failEvery == 0 {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	for _, e := range body.Events {
		d, ok := c.seen[e.Data.N]
		if !ok {
			c.seen[e.Data.N] = &delivery{eventID: e.ID, batchID: body.BatchID, times: 1}
			continue
		}
		d.times++
		if d.eventID != e.ID {
			c.mismatched++
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (c *collector) close() { _ = c.srv.Close() }
