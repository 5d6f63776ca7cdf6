// Package demo is walctl demo: a producing child process killed with
// SIGKILL mid-stream, restarted, and a loopback collector that checks that
// every acknowledged event arrived.
package demo

import (
	"context"
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

	"github.com/walbatch/walbatch/internal/childproc"
)

// Config sets up a demo run.
type Config struct {
	// Dir holds the WAL; "" means a new temporary directory, removed after.
	Dir string
	// Events is how many events the producers must get acknowledged in all.
	Events int
	// Kills is how many times the producing process is SIGKILLed.
	Kills int
	// Producers is the number of enqueueing goroutines in the child.
	Producers int
	// Seed drives the kill points; 0 picks one (printed in the report).
	Seed uint64
	// FailEvery makes the collector answer every n-th request with a 503
	// (0: never), so retries are part of the run.
	FailEvery int
	// ChildCommand returns the command that runs RunChild with args (walctl
	// re-executes itself with its hidden demo-child command).
	ChildCommand func(args []string) *exec.Cmd
	// Progress receives a line per phase; nil discards.
	Progress io.Writer
}

// Report is what the demo found.
type Report struct {
	WAL          string
	Seed         uint64
	Kills        int
	Acknowledged int // events whose Enqueue returned nil
	Delivered    int // acknowledged events the collector received
	Lost         int // acknowledged and never received: must be 0
	// Duplicates are redeliveries (a batch sent again after a kill or a
	// retry); Mismatched counts redeliveries whose event ID differed from
	// the first delivery's: must be 0.
	Duplicates int
	Mismatched int
	// Unacknowledged were committed but the process died before it could
	// say so: delivered anyway (at least once), not counted as acknowledged.
	Unacknowledged int
	Requests       int
	Elapsed        time.Duration
}

// OK reports whether nothing acknowledged was lost and every redelivery kept
// its ID.
func (r Report) OK() bool { return r.Lost == 0 && r.Mismatched == 0 }

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "walbatch demo: %d SIGKILLs of the producer, seed %d\n", r.Kills, r.Seed)
	fmt.Fprintf(&b, "  enqueued (acknowledged): %d\n", r.Acknowledged)
	fmt.Fprintf(&b, "  delivered:               %d\n", r.Delivered)
	fmt.Fprintf(&b, "  lost:                    %d\n", r.Lost)
	fmt.Fprintf(&b, "  redelivered duplicates:  %d (with a different event ID: %d)\n", r.Duplicates, r.Mismatched)
	fmt.Fprintf(&b, "  committed, unacknowledged at the kill, delivered anyway: %d\n", r.Unacknowledged)
	fmt.Fprintf(&b, "  HTTP requests:           %d\n", r.Requests)
	fmt.Fprintf(&b, "  time taken:              %s\n", r.Elapsed.Round(time.Millisecond))
	return b.String()
}

// stride separates the event numbers of successive child runs, so a number
// committed but not acknowledged before a kill is never enqueued again.
const stride = 1 << 32

// Run runs the demo and returns its report; an error means the demo could
// not run, not that events were lost (see Report.OK).
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
		return Report{}, errors.New("demo: no child command")
	}
	dir := cfg.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "walbatch-demo-")
		if err != nil {
			return Report{}, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	rep := Report{WAL: filepath.Join(dir, "demo.wal"), Seed: cfg.Seed}
	col, err := startCollector(cfg.FailEvery)
	if err != nil {
		return rep, err
	}
	defer col.close()
	fmt.Fprintf(progress, "collector on %s, WAL %s\n", col.URL(), rep.WAL)

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	acked := map[int64]bool{}
	for run := 0; run <= cfg.Kills; run++ {
		quota := cfg.Events - len(acked)
		from := int64(run) * stride
		killAt := -1
		if run < cfg.Kills && quota > 1 {
			killAt = 1 + rng.IntN(max(quota/(cfg.Kills-run+1), 1))
		}
		n, err := runChild(ctx, cfg, rep.WAL, col.URL(), from, from+int64(quota), killAt, rng, acked)
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
	col.mu.Lock()
	defer col.mu.Unlock()
	rep.Acknowledged = len(acked)
	for n := range acked {
		if _, ok := col.seen[n]; ok {
			rep.Delivered++
		} else {
			rep.Lost++
		}
	}
	for n, d := range col.seen {
		rep.Duplicates += d.times - 1
		if !acked[n] {
			rep.Unacknowledged++
		}
	}
	rep.Mismatched, rep.Requests = col.mismatched, col.requests
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// runChild runs one producing process over [from, to) and kills it after
// killAt acknowledgements (never when killAt < 0). It returns how many
// events this run got acknowledged.
func runChild(ctx context.Context, cfg Config, wal, url string, from, to int64, killAt int, rng *rand.Rand, acked map[int64]bool) (int, error) {
	cmd := cfg.ChildCommand([]string{"--wal", wal, "--url", url,
		"--from", strconv.FormatInt(from, 10), "--to", strconv.FormatInt(to, 10),
		"--producers", strconv.Itoa(cfg.Producers)})
	n, done := 0, false
	res, err := childproc.Run(cmd, func(p *childproc.Proc, line string) {
		if v, ok := strings.CutPrefix(line, "ack "); ok {
			num, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return
			}
			acked[num] = true
			n++
			if killAt >= 0 && n == killAt {
				// Let it run a moment longer so the kill lands at a random
				// point of enqueue, commit or dispatch.
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
				p.Kill()
			}
		} else if line == "done" {
			done = true
		}
	}, nil)
	if err != nil {
		return 0, fmt.Errorf("demo: %w", err)
	}
	if res.Killed {
		return n, nil
	}
	if ctx.Err() != nil {
		return n, ctx.Err()
	}
	if res.Err != nil || !done {
		return n, fmt.Errorf("demo: child failed: %v: %s", res.Err, res.Stderr)
	}
	return n, nil
}
