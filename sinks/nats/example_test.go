package walnats_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/walbatch/walbatch/processor"
	walnats "github.com/walbatch/walbatch/sinks/nats"
	"github.com/walbatch/walbatch/sinks/nats/internal/crashrun"
)

type PageView struct {
	User string `msgpack:"user" json:"user"`
	Path string `msgpack:"path" json:"path"`
}

// A processor delivering into a JetStream stream, one message per event,
// deduplicated by the server within the stream's duplicate window.
func Example() {
	dir, _ := os.MkdirTemp("", "walnats-example-")
	defer os.RemoveAll(dir)
	srv, err := crashrun.StartServer(filepath.Join(dir, "js")) // your nats-server stands here
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown()
	ctx := context.Background()

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "EVENTS", Subjects: []string{"events.>"},
		Duplicates: 10 * time.Minute}) // keep message IDs longer than the processor may retry
	if err != nil {
		log.Fatal(err)
	}

	// The retry options, given to the processor and, as a horizon, to the
	// dispatcher, which warns when the stream's window is shorter.
	popts := []processor.Option{processor.WithMaxRetries(5), processor.WithRetryDelay(time.Second, time.Minute),
		processor.WithDispatchTimeout(10 * time.Second)}
	horizon, _ := processor.RetryHorizon(popts...)
	d, err := walnats.New[PageView](ctx, nc, "EVENTS", "events.{stream}.{key|all}", walnats.WithRetryHorizon(horizon),
		walnats.WithBody(walnats.JSON[PageView])) // default: the stored msgpack
	if err != nil {
		log.Fatal(err) // a missing stream, a bad template
	}
	fmt.Println(d.Window())

	p, err := processor.Open[PageView](filepath.Join(dir, "events.wal"), d,
		append(popts, processor.WithStream("pageviews"))...)
	if err != nil {
		log.Fatal(err)
	}
	for _, path := range []string{"/", "/pricing", "/signup"} {
		if err := p.Enqueue(ctx, PageView{User: "u1", Path: path}); err != nil {
			log.Fatal(err)
		}
	}
	_ = p.Stop(ctx) // flushes: every event is in the stream

	s, _ := js.Stream(ctx, "EVENTS")
	info, _ := s.Info(ctx)
	m, _ := s.GetMsg(ctx, 1)
	fmt.Println("messages:", info.State.Msgs, "first on", m.Subject, string(m.Data))
	// Output:
	// stream "EVENTS" drops redeliveries within 10m0s; the retry horizon 1m37.2s fits inside it
	// messages: 3 first on events.pageviews.all {"user":"u1","path":"/"}
}
