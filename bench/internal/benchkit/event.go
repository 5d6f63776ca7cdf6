// Package benchkit is what every scenario of the bench shares, whichever
// module runs it: the event, the producers, the result a scenario prints.
// The bench binary and the OpenTelemetry peer (module otelq, which needs its
// own go.mod for its own bbolt) both import it, so they measure the same bytes
// the same way.
package benchkit

import (
	"fmt"
	"math/rand/v2"

	"github.com/vmihailenco/msgpack/v5"
)

// Event is a realistic analytics event: an ID, a type, a timestamp, a user
// and five string attributes, about 200 bytes as msgpack.
type Event struct {
	ID        string            `msgpack:"id" json:"id"`
	Type      string            `msgpack:"type" json:"type"`
	Timestamp int64             `msgpack:"ts" json:"ts"`
	UserID    string            `msgpack:"user" json:"user"`
	Attrs     map[string]string `msgpack:"attrs" json:"attrs"`
}

// Pool is a set of distinct events that producers cycle through, so
// building an event costs nothing measurable and every scenario encodes the
// same bytes.
type Pool []Event

// NewPool returns n distinct events, the same n on every call.
func NewPool(n int) Pool {
	r := rand.New(rand.NewPCG(1, 2))
	types := []string{"page_view", "click", "signup", "purchase", "impression"}
	pages := []string{"/pricing", "/docs/getting-started", "/blog/why-wal", "/checkout/cart", "/settings/billing"}
	countries := []string{"DE", "US", "FR", "JP", "BR"}
	devices := []string{"ios", "android", "web", "desktop"}
	plans := []string{"free", "pro", "team", "enterprise"}
	pool := make(Pool, n)
	for i := range pool {
		pool[i] = Event{
			ID:        fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, r.Uint32()&0xfff, r.Uint64()&0xffffffffffff),
			Type:      types[r.IntN(len(types))],
			Timestamp: 1_760_000_000_000 + int64(i),
			UserID:    fmt.Sprintf("u-%016x", r.Uint64()),
			Attrs: map[string]string{
				"page":     pages[r.IntN(len(pages))],
				"referrer": fmt.Sprintf("https://news.example.com/item?id=%d", r.IntN(1_000_000)),
				"country":  countries[r.IntN(len(countries))],
				"device":   devices[r.IntN(len(devices))],
				"plan":     plans[r.IntN(len(plans))],
			},
		}
	}
	return pool
}

// At returns event i, cycling through the pool.
func (p Pool) At(i int) *Event { return &p[i%len(p)] }

// Encode is the encoding every scenario that stores bytes pays inside its
// timed call (walbatch's processor does the same msgpack encoding itself).
func Encode(ev *Event) []byte {
	b, err := msgpack.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return b
}
