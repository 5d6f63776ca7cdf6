package processor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/wal"
)

// The per-event crash test: as TestCrashRecovery, a producing child is
// SIGKILLed at random moments and started again, but its dispatcher sends
// each batch to a sink hosted here that answers with a random outcome per
// event (delivered, retryable, permanent, or none: a short answer). Batches
// get holes at every attempt, and the kills land between the sink's answer
// and its recording, inside the recording, and anywhere else. Afterwards
// every acknowledged event must have been delivered at least once or be in
// dead letters with the sink's reason and its batch's ID, and the file
// must verify clean.
const (
	perEventEnvPath  = "WALBATCH_PEREVENT_CHILD_PATH"
	perEventEnvURL   = "WALBATCH_PEREVENT_CHILD_URL"
	perEventEnvRun   = "WALBATCH_PEREVENT_CHILD_RUN"
	perEventEnvDrain = "WALBATCH_PEREVENT_CHILD_DRAIN"
	perEventReason   = "refused by the sink"
)

// perEventBatch is what the child's dispatcher posts: a batch's events.
type perEventBatch struct {
	Batch   string `json:"batch"`
	Attempt int    `json:"attempt"`
	Events  []struct {
		ID string `json:"id"`
		K  string `json:"k"`
	} `json:"events"`
}

// perEventSink answers each posted batch with an outcome per event and
// remembers what it answered.
type perEventSink struct {
	mu        sync.Mutex
	rng       *rand.Rand
	drain     bool                // deliver everything (the last child)
	delivered map[string]bool     // events answered "ok" at least once
	refused   map[string]bool     // events answered "perm" at least once
	first     map[string]delivery // where each event was first seen
	conflicts []string
	holes     int // answers that left a batch with holes (some ok, some not)
}

func (s *perEventSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b perEventBatch
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest) // a child killed mid-request
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(b.Events)
	if !s.drain && n > 1 && s.rng.IntN(20) == 0 {
		n = s.rng.IntN(len(b.Events)) // a short answer: the rest read as retryable
	}
	outs := make([]string, n)
	ok := 0
	for i := range outs {
		e := b.Events[i]
		d := delivery{e.ID, b.Batch}
		if old, seen := s.first[e.K]; !seen {
			s.first[e.K] = d
		} else if old != d {
			s.conflicts = append(s.conflicts, fmt.Sprintf("%s: first %+v, again %+v", e.K, old, d))
		}
		switch x := s.rng.IntN(100); {
		case s.drain || x < 60:
			outs[i] = "ok"
			s.delivered[e.K] = true
			ok++
		case x < 85:
			outs[i] = "retry"
		default:
			outs[i] = "perm"
			s.refused[e.K] = true
		}
	}
	if ok > 0 && ok < len(b.Events) {
		s.holes++
	}
	_ = json.NewEncoder(w).Encode(outs)
}

func TestPerEventCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: re-executes the test binary")
	}
	noLeaks(t)
	seed := envInt("WALBATCH_CRASH_SEED", time.Now().UnixNano())
	cycles := int(envInt("WALBATCH_CRASH_CYCLES", 6))
	t.Logf("seed %d (WALBATCH_CRASH_SEED=%d replays the kill times and outcomes), %d cycles", seed, seed, cycles)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	sink := &perEventSink{rng: rand.New(rand.NewPCG(uint64(seed), 1)), delivered: map[string]bool{},
		refused: map[string]bool{}, first: map[string]delivery{}}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "crash.wal")

	acked := map[string]bool{}
	run := func(cycle int, drain bool, killAfter time.Duration) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPerEventCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), perEventEnvPath+"="+path, perEventEnvURL+"="+srv.URL, perEventEnvRun+"="+strconv.Itoa(cycle))
		if drain {
			cmd.Env = append(cmd.Env, perEventEnvDrain+"=1")
		}
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		ready := make(chan struct{})
		lines := make(chan struct{})
		var summary string
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			once := sync.Once{}
			for sc.Scan() {
				switch line := sc.Text(); {
				case strings.HasPrefix(line, "ack "):
					acked[line[4:]] = true
				case line == "ready":
					once.Do(func() { close(ready) })
				case strings.HasPrefix(line, "drained "):
					summary = line
				}
			}
			once.Do(func() { close(ready) })
		}()
		if !drain {
			select {
			case <-ready:
			case <-time.After(60 * time.Second):
				t.Fatalf("cycle %d: child not ready", cycle)
			}
			time.Sleep(killAfter)
			require.NoError(t, cmd.Process.Kill()) // SIGKILL
		}
		<-lines
		err = cmd.Wait()
		if drain {
			require.NoError(t, err, "drain child")
		}
		return summary
	}
	for c := range cycles {
		run(c, false, time.Duration(100+rng.IntN(400))*time.Millisecond)
	}
	sink.mu.Lock()
	sink.drain = true
	sink.mu.Unlock()
	summary := run(cycles, true, 0)
	require.Equal(t, "drained pending=0 inflight=0", summary)

	// The dead letters: each refused by the sink, under the batch ID the
	// sink saw it in.
	dead := map[string]bool{}
	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	s, err := l.Stream(DefaultStream)
	require.NoError(t, err)
	require.NoError(t, s.ForEachDead(func(d wal.DeadLetter) error {
		require.NoError(t, d.Err)
		var ev crashEv
		require.NoError(t, msgpack.Unmarshal(d.Record.Payload, &ev))
		require.Equal(t, "permanent: "+perEventReason, d.Reason, ev.K)
		require.Equal(t, sink.first[ev.K].batch, d.BatchID, ev.K)
		require.True(t, sink.refused[ev.K], "%s is dead but the sink never refused it", ev.K)
		dead[ev.K] = true
		return nil
	}))
	require.NoError(t, l.Close())
	rep, err := recovery.Verify(path, nil)
	require.NoError(t, err)
	require.True(t, rep.OK(), "%s", rep)

	sink.mu.Lock()
	defer sink.mu.Unlock()
	require.Empty(t, sink.conflicts, "redeliveries with another event or batch ID")
	var lost []string
	for k := range acked {
		if !sink.delivered[k] && !dead[k] {
			lost = append(lost, k)
		}
	}
	t.Logf("%d kills, %d acknowledged, %d delivered, %d dead, %d answers leaving holes, lost %d",
		cycles, len(acked), len(sink.delivered), len(dead), sink.holes, len(lost))
	require.Empty(t, lost, "acknowledged, never delivered and not in dead letters (seed %d)", seed)
	require.NotEmpty(t, acked)
	require.Positive(t, sink.holes)
}

// TestPerEventCrashChild is the child side of TestPerEventCrashRecovery; it
// does nothing unless run by it.
func TestPerEventCrashChild(t *testing.T) {
	path := os.Getenv(perEventEnvPath)
	if path == "" {
		t.Skip("run by TestPerEventCrashRecovery")
	}
	url := os.Getenv(perEventEnvURL)
	d := dispatcher.Func[crashEv](func(ctx context.Context, b *dispatcher.Batch[crashEv]) error {
		body := perEventBatch{Batch: b.ID, Attempt: b.Attempt}
		for _, ev := range b.Events {
			body.Events = append(body.Events, struct {
				ID string `json:"id"`
				K  string `json:"k"`
			}{ev.ID, ev.Value.K})
		}
		buf, err := json.Marshal(body)
		if err != nil {
			return dispatcher.Permanent(err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(buf))
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var outs []string
		if err := json.NewDecoder(resp.Body).Decode(&outs); err != nil {
			return err
		}
		errs := make([]error, len(outs))
		for i, o := range outs {
			switch o {
			case "retry":
				errs[i] = errors.New("sink busy")
			case "perm":
				errs[i] = dispatcher.Permanent(errors.New(perEventReason))
			}
		}
		if len(errs) < len(b.Events) {
			// A short answer: the events left out are retried. Not
			// PerEvent, which cannot know the batch is longer: an errs of
			// nils alone reads as the whole batch delivered.
			return &dispatcher.EventErrors{Errs: errs}
		}
		return dispatcher.PerEvent(errs)
	})
	drain := os.Getenv(perEventEnvDrain) != ""
	timeout := 5 * time.Second
	if drain {
		timeout = 60 * time.Second
	}
	p, err := Open[crashEv](path, d, WithSync(wal.SyncAlways), WithBatchSize(16), WithMaxAge(20*time.Millisecond),
		WithInactiveTimeout(5*time.Millisecond), WithRetryDelay(5*time.Millisecond, 20*time.Millisecond),
		WithMaxRetries(1000), WithStopTimeout(timeout), WithMaxInFlight(4))
	require.NoError(t, err)
	var outMu sync.Mutex
	say := func(s string) {
		outMu.Lock()
		defer outMu.Unlock()
		_, _ = os.Stdout.WriteString(s + "\n") // one write: a line is whole or missing
	}
	if drain {
		require.NoError(t, p.Stop(context.Background()))
		st := p.Stats()
		say(fmt.Sprintf("drained pending=%d inflight=%d", st.PendingEvents, st.InFlightEvents))
		return
	}
	say("ready")
	run := os.Getenv(perEventEnvRun)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				key := fmt.Sprintf("r%s-g%d-n%d", run, g, n)
				if err := p.Enqueue(context.Background(), crashEv{K: key}); err != nil {
					return
				}
				say("ack " + key)
			}
		})
	}
	wg.Wait() // until killed
}
