// Package crashrun is the SIGKILL proof of walnats, shared by its crash
// test and by cmd/demo: a real nats-server with JetStream in this
// process, a producing child process (a processor with the walnats
// dispatcher) SIGKILLed mid-stream and started again, and a count of the
// stream's contents against what the children acknowledged.
package crashrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/walbatch/walbatch/internal/childproc"
)

// The stream the children publish to, and their subject template.
const (
	Stream  = "WALBATCH_DEMO"
	Subject = "walbatch.demo.{stream}"
)

// Config sets up a run.
type Config struct {
	// Dir holds the WAL and the server's store; "" means a new temporary
	// directory, removed after.
	Dir string
	// Events is how many events the producers must get acknowledged in all.
	Events int
	// Kills is how many times the producing process is SIGKILLed.
	Kills int
	// Producers is the number of enqueueing goroutines in the child.
	Producers int
	// Seed drives the kill points; 0 picks one (printed in the report).
	Seed uint64
	// Window is the stream's duplicate window; 0 means the server's
	// default (2 minutes).
	Window time.Duration
	// ChildCommand returns the command that runs RunChild with args.
	ChildCommand func(args []string) *exec.Cmd
	// Progress receives a line per phase; nil discards.
	Progress io.Writer
}

// Report is what a run found.
type Report struct {
	Seed         uint64
	Kills        int
	Window       time.Duration // the stream's duplicate window
	Acknowledged int           // events whose Enqueue returned nil
	InStream     int           // acknowledged events the stream holds
	Messages     int           // messages in the stream
	// Duplicates are messages beyond the first for one event: must be 0
	// while every redelivery comes within the duplicate window.
	Duplicates int
	Lost       int // acknowledged and not in the stream: must be 0
	// Mismatched counts events stored under more than one Nats-Msg-Id:
	// must be 0.
	Mismatched int
	// Unacknowledged were committed but the process died before it could
	// say so: in the stream anyway (at least once), not counted above.
	Unacknowledged int
	// Dropped is redeliveries the server dropped as duplicates (PubAcks
	// with Duplicate set, as the children saw them; a child's last
	// moments before a kill may be missing).
	Dropped int64
	Elapsed time.Duration
}

// OK reports whether nothing acknowledged was lost and nothing is in the
// stream twice.
func (r Report) OK() bool { return r.Lost == 0 && r.Duplicates == 0 && r.Mismatched == 0 }

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "walnats demo: %d SIGKILLs of the producer, seed %d, duplicate window %s\n", r.Kills, r.Seed, r.Window)
	fmt.Fprintf(&b, "  acknowledged:             %d\n", r.Acknowledged)
	fmt.Fprintf(&b, "  in the stream:            %d (messages: %d)\n", r.InStream, r.Messages)
	fmt.Fprintf(&b, "  duplicates in the stream: %d\n", r.Duplicates)
	fmt.Fprintf(&b, "  lost:                     %d\n", r.Lost)
	fmt.Fprintf(&b, "  redeliveries the server dropped by Nats-Msg-Id: %d\n", r.Dropped)
	fmt.Fprintf(&b, "  committed, unacknowledged at the kill, in the stream anyway: %d\n", r.Unacknowledged)
	fmt.Fprintf(&b, "  time taken:               %s\n", r.Elapsed.Round(time.Millisecond))
	return b.String()
}

// stride separates the event numbers of successive child runs, so a number
// committed but not acknowledged before a kill is never enqueued again.
const stride = 1 << 32

// Run runs the proof and returns its report; an error means it could not
// run, not that events were lost (see Report.OK).
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	if cfg.Events <= 0 {
		cfg.Events = 20000
	}
	if cfg.Producers <= 0 {
		cfg.Producers = 16
	}
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	if cfg.ChildCommand == nil {
		return Report{}, errors.New("crashrun: no child command")
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "walnats-demo-")
		if err != nil {
			return Report{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rep := Report{Seed: cfg.Seed}
	srv, err := StartServer(filepath.Join(dir, "jetstream"))
	if err != nil {
		return rep, err
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		return rep, fmt.Errorf("crashrun: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return rep, fmt.Errorf("crashrun: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	st, err := js.CreateStream(sctx, jetstream.StreamConfig{Name: Stream, Subjects: []string{"walbatch.demo.>"}, Duplicates: cfg.Window})
	cancel()
	if err != nil {
		return rep, fmt.Errorf("crashrun: creating the stream: %w", err)
	}
	rep.Window = st.CachedInfo().Config.Duplicates
	wal := filepath.Join(dir, "demo.wal")
	fmt.Fprintf(progress, "nats-server (JetStream) on %s, stream %s, WAL %s\n", srv.ClientURL(), Stream, wal)

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	acked := map[int64]bool{}
	for run := 0; run <= cfg.Kills; run++ {
		quota := cfg.Events - len(acked)
		from := int64(run) * stride
		killAt := -1
		if run < cfg.Kills && quota > 1 {
			killAt = 1 + rng.IntN(max(quota/(cfg.Kills-run+1), 1))
		}
		args := []string{"--wal", wal, "--url", srv.ClientURL(), "--from", strconv.FormatInt(from, 10),
			"--to", strconv.FormatInt(from+int64(quota), 10), "--producers", strconv.Itoa(cfg.Producers)}
		n, dropped, err := runChild(ctx, cfg.ChildCommand(args), killAt, rng, acked)
		rep.Dropped += dropped
		if err != nil {
			return rep, err
		}
		if killAt >= 0 {
			rep.Kills++
			fmt.Fprintf(progress, "run %d: SIGKILL after %d acknowledged events\n", run+1, n)
		} else {
			fmt.Fprintf(progress, "run %d: %d acknowledged, flushed and stopped\n", run+1, n)
		}
	}
	if err := count(ctx, js, acked, &rep); err != nil {
		return rep, err
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// StartServer runs nats-server with JetStream in this process, on a free
// loopback port, storing in dir.
func StartServer(dir string) (*server.Server, error) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		return nil, fmt.Errorf("crashrun: nats-server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("crashrun: nats-server not ready after 10s")
	}
	return srv, nil
}

// runChild runs one producing process and kills it after killAt
// acknowledgements (never when killAt < 0). It returns how many events
// this run got acknowledged and the duplicates it last reported.
func runChild(ctx context.Context, cmd *exec.Cmd, killAt int, rng *rand.Rand, acked map[int64]bool) (int, int64, error) {
	n, done := 0, false
	var dropped int64
	res, err := childproc.Run(cmd, func(p *childproc.Proc, line string) {
		switch {
		case strings.HasPrefix(line, "ack "):
			num, err := strconv.ParseInt(line[4:], 10, 64)
			if err != nil {
				return
			}
			acked[num] = true
			n++
			if killAt >= 0 && n == killAt {
				// A moment longer, so the kill lands at a random point
				// of enqueue, commit, publish or completion.
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
				p.Kill()
			}
		case strings.HasPrefix(line, "dropped "):
			if v, err := strconv.ParseInt(line[8:], 10, 64); err == nil {
				dropped = v
			}
		case line == "done":
			done = true
		}
	}, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("crashrun: %w", err)
	}
	if res.Killed {
		return n, dropped, nil
	}
	if ctx.Err() != nil {
		return n, dropped, ctx.Err()
	}
	if res.Err != nil || !done {
		return n, dropped, fmt.Errorf("crashrun: child failed: %v: %s", res.Err, res.Stderr)
	}
	return n, dropped, nil
}

// count reads the whole stream with an ordered consumer and fills the
// stream side of rep.
func count(ctx context.Context, js jetstream.JetStream, acked map[int64]bool, rep *Report) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s, err := js.Stream(ctx, Stream)
	if err != nil {
		return fmt.Errorf("crashrun: %w", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("crashrun: %w", err)
	}
	total := int(info.State.Msgs)
	cons, err := js.OrderedConsumer(ctx, Stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return fmt.Errorf("crashrun: %w", err)
	}
	ids := map[int64]string{}
	times := map[int64]int{}
	for rep.Messages < total {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return fmt.Errorf("crashrun: reading the stream: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			rep.Messages++
			var e Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				return fmt.Errorf("crashrun: message %q: %w", m.Data(), err)
			}
			id := m.Headers().Get(jetstream.MsgIDHeader)
			if old, ok := ids[e.N]; ok && old != id {
				rep.Mismatched++
			}
			ids[e.N] = id
			times[e.N]++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("crashrun: reading the stream: %w", err)
		}
		if got == 0 {
			return fmt.Errorf("crashrun: the stream says %d messages, read %d", total, rep.Messages)
		}
	}
	rep.Acknowledged = len(acked)
	for n := range acked {
		if times[n] > 0 {
			rep.InStream++
		} else {
			rep.Lost++
		}
	}
	for n, k := range times {
		rep.Duplicates += k - 1
		if !acked[n] {
			rep.Unacknowledged++
		}
	}
	return nil
}
