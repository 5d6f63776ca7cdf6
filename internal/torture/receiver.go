package torture

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// SinkFault is a way the receiver misbehaves.
type SinkFault int

const (
	Sink5xx   SinkFault = iota // 500, 502 or 503: retryable
	Sink429                    // 429 with Retry-After: 1
	SinkHang                   // holds the request past the dispatcher's timeout
	SinkReset                  // takes the batch, then resets the connection mid-response
	numSinkFaults
)

var sinkFaultNames = [...]string{"5xx burst", "429 Retry-After", "hang past timeout", "reset mid-response"}

func (f SinkFault) String() string { return sinkFaultNames[f] }

// seen is the first delivery of an event.
type seen struct {
	id    string // event ID
	batch string
}

// receiver is the parent's HTTP sink. It dedupes by event ID, keeps per
// event key (unique per enqueue) the first delivery, and counts
// duplicates: redeliveries of an event ID it has, and any event key that
// comes back under another event ID (a broken identity: must be 0).
// Poison events get a permanent 400. Bursts of sink faults are armed by
// the parent.
type receiver struct {
	srv *http.Server
	ln  net.Listener

	mu         sync.Mutex
	byKey      map[string]seen
	byID       map[string]string // event ID -> key
	duplicates int
	mismatched []string // "key: first ID a, again ID b"
	badKeys    int      // Idempotency-Key not the batch ID
	requests   int
	burst      SinkFault
	burstLeft  int
	injected   [numSinkFaults]int
	rejected   int // requests answered 400 for poison
	rng        *rand.Rand
	hang       time.Duration
}

type wireBody struct {
	BatchID string `json:"batch_id"`
	Events  []struct {
		ID   string `json:"id"`
		Seq  uint64 `json:"seq"`
		Data Event  `json:"data"`
	} `json:"events"`
}

func startReceiver(seed uint64, hang time.Duration) (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("torture: receiver: %w", err)
	}
	r := &receiver{ln: ln, byKey: map[string]seen{}, byID: map[string]string{},
		rng: rand.New(rand.NewPCG(seed, 0xbeef)), hang: hang}
	r.srv = &http.Server{Handler: r}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *receiver) URL() string { return "http://" + r.ln.Addr().String() + "/events" }

func (r *receiver) close() { _ = r.srv.Close() }

// arm makes the next n requests fail with f.
func (r *receiver) arm(f SinkFault, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.burst, r.burstLeft = f, n
}

// calm ends any burst.
func (r *receiver) calm() { r.arm(0, 0) }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body wireBody
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		// A child killed mid-request; never a 4xx, which would
		// dead-letter a batch that is fine.
		http.Error(w, "bad body: "+err.Error(), http.StatusInternalServerError)
		return
	}
	r.mu.Lock()
	r.requests++
	if req.Header.Get("Idempotency-Key") != body.BatchID {
		r.badKeys++
	}
	for _, e := range body.Events {
		if poison(e.Data.K) {
			r.rejected++
			r.mu.Unlock()
			http.Error(w, "event "+e.Data.K+" is refused for good", http.StatusBadRequest)
			return
		}
	}
	fault, armed := r.burst, r.burstLeft > 0
	if armed {
		r.burstLeft--
		r.injected[fault]++
	}
	if armed && (fault == Sink5xx || fault == Sink429) {
		code := []int{500, 502, 503}[r.rng.IntN(3)]
		r.mu.Unlock()
		if fault == Sink429 {
			w.Header().Set("Retry-After", "1")
			code = http.StatusTooManyRequests
		}
		http.Error(w, "injected", code)
		return
	}
	// The batch is taken (a hang or a reset then loses the answer, so the
	// batch comes again: a duplicate by design).
	for _, e := range body.Events {
		if k, ok := r.byID[e.ID]; ok {
			r.duplicates++
			if k != e.Data.K {
				r.mismatched = append(r.mismatched, fmt.Sprintf("event ID %s: first key %s, again key %s", e.ID, k, e.Data.K))
			}
			continue
		}
		if old, ok := r.byKey[e.Data.K]; ok {
			r.duplicates++
			r.mismatched = append(r.mismatched, fmt.Sprintf("key %s: first event ID %s, again %s", e.Data.K, old.id, e.ID))
			continue
		}
		r.byKey[e.Data.K] = seen{id: e.ID, batch: body.BatchID}
		r.byID[e.ID] = e.Data.K
	}
	r.mu.Unlock()
	switch {
	case armed && fault == SinkHang:
		select {
		case <-req.Context().Done():
		case <-time.After(r.hang):
		}
		w.WriteHeader(http.StatusOK)
	case armed && fault == SinkReset:
		resetMidResponse(w)
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// resetMidResponse writes part of the answer's header and then resets the
// TCP connection (SO_LINGER 0): the client sees a connection reset before
// it has a response.
func resetMidResponse(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: appl")
	_ = buf.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
