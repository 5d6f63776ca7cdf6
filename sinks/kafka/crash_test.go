package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/internal/childproc"
	"github.com/walbatch/walbatch/processor"
	"github.com/walbatch/walbatch/wal"
)

// The crash test runs a producing processor with this sink in a child
// process (this test binary, re-executed with crashEnvPath set) against a
// kfake cluster living here, SIGKILLs it at random moments and starts it
// again; a last child drains the WAL. Then the topic is read whole: every
// event a child acknowledged must be in it at least once, and every copy
// of an event must carry the same walbatch-event-id and walbatch-batch-id.
// Duplicates are expected (a batch Kafka wrote before the kill, and before
// the WAL marked it complete, is produced again by the next child: a new
// producer session) and counted.
const (
	crashEnvPath   = "WALBATCH_KAFKA_CRASH_PATH"
	crashEnvBroker = "WALBATCH_KAFKA_CRASH_BROKER"
	crashEnvRun    = "WALBATCH_KAFKA_CRASH_RUN"
	crashEnvDrain  = "WALBATCH_KAFKA_CRASH_DRAIN"
	crashParts     = 3
)

func envInt(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return v
	}
	return def
}

// TestCrashAtLeastOnce: WALBATCH_CRASH_CYCLES (default 4) kills, then a
// drain; WALBATCH_CRASH_SEED replays the kill times.
func TestCrashAtLeastOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: re-executes the test binary")
	}
	seed := envInt("WALBATCH_CRASH_SEED", time.Now().UnixNano())
	cycles := int(envInt("WALBATCH_CRASH_CYCLES", 4))
	t.Logf("seed %d (WALBATCH_CRASH_SEED=%d replays the kill times), %d kills", seed, seed, cycles)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	c := newCluster(t, crashParts)
	path := filepath.Join(t.TempDir(), "crash.wal")
	acked := map[string]bool{}
	run := func(cycle int, drain bool, killAfter time.Duration) string {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvBroker+"="+c.ListenAddrs()[0],
			crashEnvRun+"="+strconv.Itoa(cycle))
		if drain {
			cmd.Env = append(cmd.Env, crashEnvDrain+"=1")
		}
		var summary string
		ready := false
		var guard *time.Timer
		res, err := childproc.Run(cmd, func(p *childproc.Proc, line string) {
			switch {
			case strings.HasPrefix(line, "ack "):
				acked[line[4:]] = true
			case line == "ready" && !drain:
				ready = true
				time.AfterFunc(killAfter, func() { p.Kill() })
			case strings.HasPrefix(line, "drained "):
				summary = line
			}
		}, func(p *childproc.Proc) {
			// A child that hangs (never ready, a drain that never ends)
			// is killed, and the checks below fail, rather than the
			// test waiting for go test's own timeout.
			guard = time.AfterFunc(2*time.Minute, func() { p.Kill() })
		})
		require.NoError(t, err)
		guard.Stop()
		if drain {
			require.False(t, res.Killed, "the drain child hung")
			require.NoError(t, res.Err, "drain child: %s", res.Stderr)
		} else {
			require.True(t, ready, "cycle %d: the child was never ready: %v\n%s", cycle, res.Err, res.Stderr)
			require.True(t, res.Killed, "cycle %d: the child ended before its kill: %v\n%s", cycle, res.Err, res.Stderr)
		}
		return summary
	}
	for cycle := range cycles {
		run(cycle, false, time.Duration(300+rng.IntN(600))*time.Millisecond)
	}
	summary := run(cycles, true, 0)
	require.Equal(t, "drained dead=0 pending=0 inflight=0", summary)

	ids := map[string][2]string{} // K -> event ID and batch ID of its first record
	copies := map[string]int{}
	records := 0
	for _, recs := range consumeAll(t, c, testTopic, crashParts) {
		for _, r := range recs {
			records++
			var v tev
			require.NoError(t, json.Unmarshal(r.Value, &v))
			id, _ := header(r, HeaderEventID)
			batch, _ := header(r, HeaderBatchID)
			got := [2]string{id, batch}
			if first, ok := ids[v.K]; ok {
				require.Equal(t, first, got, "every copy of %s carries its event ID and batch ID", v.K)
			}
			ids[v.K] = got
			copies[v.K]++
		}
	}
	var lost []string
	for k := range acked {
		if copies[k] == 0 {
			lost = append(lost, k)
		}
	}
	t.Logf("kills %d, acknowledged %d, records in the topic %d, distinct events %d, duplicates %d, lost %d",
		cycles, len(acked), records, len(copies), records-len(copies), len(lost))
	require.Empty(t, lost, "acknowledged and not in the topic (seed %d)", seed)
	require.NotEmpty(t, acked)
}

// TestCrashChild is the child side of TestCrashAtLeastOnce; it does
// nothing unless run by it.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvPath)
	if path == "" {
		t.Skip("run by TestCrashAtLeastOnce")
	}
	s, err := New[tev](testTopic,
		WithClientOptions(kgo.SeedBrokers(os.Getenv(crashEnvBroker)), kgo.MetadataMinAge(50*time.Millisecond)),
		WithValue(func(ev dispatcher.Event[tev]) ([]byte, error) { return json.Marshal(ev.Value) }))
	require.NoError(t, err)
	defer s.Close()
	drain := os.Getenv(crashEnvDrain) != ""
	timeout := 5 * time.Second
	if drain {
		timeout = 60 * time.Second
	}
	p, err := processor.Open[tev](path, s, processor.WithSync(wal.SyncAlways), processor.WithBatchSize(64),
		processor.WithMaxAge(20*time.Millisecond), processor.WithInactiveTimeout(5*time.Millisecond),
		processor.WithRetryDelay(10*time.Millisecond, 100*time.Millisecond), processor.WithMaxRetries(1000),
		processor.WithDispatchTimeout(5*time.Second), processor.WithStopTimeout(timeout))
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
	for g := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				key := fmt.Sprintf("r%s-g%d-n%d", run, g, n)
				if err := p.Enqueue(context.Background(), tev{K: key, N: n}); err != nil {
					return
				}
				say("ack " + key)
			}
		})
	}
	wg.Wait() // until killed
}
