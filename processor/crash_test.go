package processor

import (
	"bufio"
	"context"
	"encoding/json"
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

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/wal"
)

// The crash test runs a producing processor in a child process (this test
// binary, re-executed with crashEnvPath set), SIGKILLs it at random moments
// and starts it again; a last child drains the WAL. The receiver, hosted
// here, must have every event the children acknowledged, and every
// redelivery must carry the event ID and batch ID of the first delivery.
const (
	crashEnvPath  = "WALBATCH_CRASH_CHILD_PATH"
	crashEnvURL   = "WALBATCH_CRASH_CHILD_URL"
	crashEnvRun   = "WALBATCH_CRASH_CHILD_RUN"
	crashEnvDrain = "WALBATCH_CRASH_CHILD_DRAIN"
	crashEnvAsync = "WALBATCH_CRASH_CHILD_ASYNC" // produce with EnqueueAsync, ack from the callback
)

// crashEv is the children's event: K is unique, assigned by the producer
// ("r3-g5-n17"), since Enqueue does not return the event ID.
type crashEv struct {
	K string `msgpack:"k" json:"k"`
}

// delivery is where a receiver first saw an event.
type delivery struct{ id, batch string }

// crashReceiver maps each event key to its first delivery and records any
// redelivery that disagrees with it.
type crashReceiver struct {
	mu        sync.Mutex
	first     map[string]delivery
	dups      int
	conflicts []string
	fail      func() bool // answer 500 when it returns true
}

func newCrashReceiver() *crashReceiver { return &crashReceiver{first: map[string]delivery{}} }

func (rc *crashReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.fail != nil && rc.fail() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	var body struct {
		BatchID string `json:"batch_id"`
		Events  []struct {
			ID   string  `json:"id"`
			Data crashEv `json:"data"`
		} `json:"events"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest) // a child killed mid-request
		return
	}
	if key := r.Header.Get("Idempotency-Key"); key != body.BatchID {
		http.Error(w, "idempotency key "+key+" is not the batch ID", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, e := range body.Events {
		d := delivery{e.ID, body.BatchID}
		old, seen := rc.first[e.Data.K]
		if !seen {
			rc.first[e.Data.K] = d
			continue
		}
		rc.dups++
		if old != d {
			rc.conflicts = append(rc.conflicts, fmt.Sprintf("%s: first %+v, again %+v", e.Data.K, old, d))
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *crashReceiver) unique() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.first)
}

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

func TestCrashRecovery(t *testing.T) { crashRecovery(t, false, 20) }

// TestCrashRecoveryAsync is the crash test with producers that keep many
// events on their way with EnqueueAsync and count an event acknowledged
// when its callback says so: the callback must come only after the commit.
func TestCrashRecoveryAsync(t *testing.T) { crashRecovery(t, true, 10) }

func crashRecovery(t *testing.T, async bool, defCycles int64) {
	if testing.Short() {
		t.Skip("crash test: re-executes the test binary")
	}
	noLeaks(t)
	seed := envInt("WALBATCH_CRASH_SEED", time.Now().UnixNano())
	cycles := int(envInt("WALBATCH_CRASH_CYCLES", defCycles))
	t.Logf("seed %d (WALBATCH_CRASH_SEED=%d replays the kill times), %d cycles", seed, seed, cycles)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	rc := newCrashReceiver()
	srv := httptest.NewServer(rc)
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "crash.wal")

	acked := map[string]bool{}
	run := func(cycle int, drain bool, killAfter time.Duration) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvURL+"="+srv.URL, crashEnvRun+"="+strconv.Itoa(cycle))
		if drain {
			cmd.Env = append(cmd.Env, crashEnvDrain+"=1")
		}
		if async {
			cmd.Env = append(cmd.Env, crashEnvAsync+"=1")
		}
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		ready := make(chan struct{})
		var summary string
		lines := make(chan struct{})
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			once := sync.Once{}
			for sc.Scan() {
				line := sc.Text()
				switch {
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
		run(c, false, time.Duration(rng.IntN(400))*time.Millisecond)
	}
	summary := run(cycles, true, 0)
	t.Logf("%s; %d acknowledged, %d received, %d redelivered", summary, len(acked), rc.unique(), rc.dups)
	require.Equal(t, "drained dead=0 pending=0 inflight=0", summary)

	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.Empty(t, rc.conflicts, "redeliveries with another event or batch ID")
	var lost []string
	for k := range acked {
		if _, ok := rc.first[k]; !ok {
			lost = append(lost, k)
		}
	}
	require.Empty(t, lost, "acknowledged and never delivered (seed %d)", seed)
	require.NotEmpty(t, acked)
}

// TestCrashChild is the child side of TestCrashRecovery; it does nothing
// unless run by it.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvPath)
	if path == "" {
		t.Skip("run by TestCrashRecovery")
	}
	h, err := dispatcher.NewHTTP[crashEv](os.Getenv(crashEnvURL), dispatcher.WithTimeout(5*time.Second))
	require.NoError(t, err)
	drain := os.Getenv(crashEnvDrain) != ""
	timeout := 5 * time.Second
	if drain {
		timeout = 60 * time.Second
	}
	p, err := Open[crashEv](path, h, WithSync(wal.SyncAlways), WithBatchSize(32), WithMaxAge(20*time.Millisecond),
		WithInactiveTimeout(5*time.Millisecond), WithRetryDelay(10*time.Millisecond, 100*time.Millisecond),
		WithMaxRetries(1000), WithStopTimeout(timeout))
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
		say(fmt.Sprintf("drained dead=%d pending=%d inflight=%d", st.DeadEvents, st.PendingEvents, st.InFlightEvents))
		return
	}
	say("ready")
	run := os.Getenv(crashEnvRun)
	var wg sync.WaitGroup
	if os.Getenv(crashEnvAsync) != "" {
		for g := range 2 {
			wg.Go(func() {
				window := make(chan struct{}, 200) // events waiting for their callback
				for n := 0; ; n++ {
					key := fmt.Sprintf("r%s-g%d-n%d", run, g, n)
					window <- struct{}{}
					err := p.EnqueueAsync(crashEv{K: key}, func(err error) {
						if err == nil {
							say("ack " + key)
						}
						<-window
					})
					if err != nil {
						return
					}
				}
			})
		}
		wg.Wait() // until killed
		return
	}
	for g := range 8 {
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
