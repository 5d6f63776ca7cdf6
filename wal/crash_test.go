package wal_test

// The crash test: a child process (this test binary, re-executed) appends
// with many goroutines and seals, completes, retries, dead-letters and
// requeues batches at the same time; the parent SIGKILLs it at random
// moments, starts it again on the same file, and repeats. At the end every
// event the child acknowledged must be in the file exactly once (pending,
// in flight or dead) unless the child completed it, and the file must pass
// recovery.Verify and the counters-against-scan check.
//
// Environment:
//
//	WALBATCH_CRASH_CYCLES=N  kill cycles (default 20; use hundreds to soak)
//	WALBATCH_CRASH_SEED=S    replay the kill schedule and the child's choices
//	                         of an earlier run (the seed is printed with -v)
//
// The child's protocol, one line per write(2) to its stdout (a file), each
// printed only after the call it reports returned nil:
//
//	A seq            Append acknowledged seq
//	M first n        AppendMany acknowledged first..first+n-1
//	c batch id...    about to Complete batch (ids: the events' ID sequence parts)
//	C batch          Complete returned nil
//	p batch id...    about to CompletePartial the listed events of batch
//	P batch          CompletePartial returned nil
//	L batch id...    at start: batch left in flight by an earlier run, with
//	                 the events it still holds (settles a partial completion
//	                 whose P line the kill cut off)

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/wal"
)

const (
	crashChildEnv = "WALBATCH_CRASH_CHILD" // the WAL path; set only in the child
	crashSyncEnv  = "WALBATCH_CRASH_SYNC"  // "always" or "none", in the child
	crashSeedEnv  = "WALBATCH_CRASH_SEED"
	crashCycEnv   = "WALBATCH_CRASH_CYCLES"
	crashStream   = "crash"
	crashPayload  = 100
)

var payloadRE = regexp.MustCompile(`^p[0-9]+-[0-9]+-x*$`)

func crashPayloadFor(g, i int) []byte {
	p := fmt.Appendf(nil, "p%d-%d-", g, i)
	for len(p) < crashPayload {
		p = append(p, 'x')
	}
	return p
}

func idSeq(id wal.EventID) uint64 { return binary.BigEndian.Uint64(id[8:]) }

func TestCrash(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(crashSeedEnv); v != "" {
		var err error
		seed, err = strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
	}
	cycles := 20
	if v := os.Getenv(crashCycEnv); v != "" {
		var err error
		cycles, err = strconv.Atoi(v)
		require.NoError(t, err)
	}
	t.Logf("seed %d (replay with %s=%d), %d cycles", seed, crashSeedEnv, seed, cycles)
	rng := rand.New(rand.NewPCG(seed, 1))

	dir := t.TempDir()
	path := filepath.Join(dir, "crash.db")
	acked := map[uint64]bool{}       // ID seq parts acknowledged
	intent := map[uint64]intentRec{} // ID seq part -> the completion tried on it
	completed := map[uint64]bool{}   // IDs whose completion returned nil
	pendingIntents := map[string][]uint64{}
	midTransition := 0
	for c := range cycles {
		sync := "always"
		if c%2 == 1 {
			sync = "none"
		}
		outPath := filepath.Join(dir, fmt.Sprintf("out%d.txt", c))
		out, err := os.Create(outPath)
		require.NoError(t, err)
		var stderr strings.Builder
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, crashSyncEnv+"="+sync,
			crashSeedEnv+"="+strconv.FormatUint(seed+uint64(c), 10))
		cmd.Stdout, cmd.Stderr = out, &stderr
		require.NoError(t, cmd.Start())
		delay := time.Duration(20+rng.IntN(330)) * time.Millisecond
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			t.Fatalf("cycle %d: child exited by itself: %v\n%s", c, err, stderr.String())
		case <-time.After(delay):
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		err = <-exited
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "cycle %d: %v", c, err)
		ws := ee.Sys().(syscall.WaitStatus)
		require.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL, "cycle %d: child died of %v\n%s", c, err, stderr.String())
		require.NoError(t, out.Close())

		n, open := parseCrashOutput(t, outPath, acked, intent, completed, pendingIntents)
		if open {
			midTransition++
		}
		t.Logf("cycle %d: sync=%s killed after %v, %d lines, mid-completion %v", c, sync, delay, n, open)
	}

	// The oracle: the recovery package's own check first.
	rep, err := recovery.Verify(path, nil)
	require.NoError(t, err)
	require.True(t, rep.OK(), "recovery.Verify: %v", rep.Err())

	l, err := wal.Open(path, &wal.Options{ReadOnly: true})
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, wal.CheckLog(l))
	s, err := l.Stream(crashStream)
	require.NoError(t, err)

	present := map[uint64]string{}
	check := func(where string, r wal.Record) {
		require.Equal(t, s.EventID(idSeq(r.ID)), r.ID, "%s: ID from another stream", where)
		require.Regexp(t, payloadRE, string(r.Payload), "%s: malformed payload", where)
		require.Len(t, r.Payload, crashPayload)
		prev, dup := present[idSeq(r.ID)]
		require.False(t, dup, "ID %d in %s and in %s", idSeq(r.ID), prev, where)
		present[idSeq(r.ID)] = where
	}
	require.NoError(t, s.ForEachEvent(0, 0, func(r wal.Record, err error) error {
		require.NoError(t, err)
		check(fmt.Sprintf("events/%d", r.Seq), r)
		return nil
	}))
	require.NoError(t, s.ForEachDead(func(d wal.DeadLetter) error {
		require.NoError(t, d.Err)
		check(fmt.Sprintf("dead/%d", d.Record.Seq), d.Record)
		return nil
	}))
	doneBatches := map[uint64]bool{}
	require.NoError(t, s.ForEachCompletion(func(c wal.Completion) error {
		doneBatches[c.Seq] = true
		return nil
	}))
	inflight := map[uint64]wal.Batch{}
	bs, err := s.Batches()
	require.NoError(t, err)
	for _, b := range bs {
		inflight[b.Seq] = b
	}

	lost := 0
	for id := range acked {
		if _, ok := present[id]; ok {
			require.False(t, completed[id], "ID %d completed but still in the file", id)
			continue
		}
		if completed[id] {
			continue
		}
		// Gone without a confirmed completion: only if a completion was
		// under way when the child died, and it committed.
		in, ok := intent[id]
		if !ok {
			lost++
			t.Errorf("acknowledged ID %d is missing and was never completed", id)
			continue
		}
		if in.partial {
			b, still := inflight[in.batch]
			require.True(t, doneBatches[in.batch] || (still && b.Delivered > 0),
				"ID %d: partial completion of batch %d is neither in flight nor completed", id, in.batch)
		} else {
			require.True(t, doneBatches[in.batch], "ID %d: batch %d has no completion record", id, in.batch)
		}
	}
	require.Zero(t, lost)
	st := s.Stats()
	require.Equal(t, int64(len(present)), st.PendingEvents+st.InFlightEvents+st.DeadEvents)
	require.GreaterOrEqual(t, st.CompletedEvents, int64(len(completed)))
	t.Logf("%d of %d kills hit a completion between its intent and its result", midTransition, cycles)
	t.Logf("acknowledged %d, completed %d (confirmed), in file %d; stats %+v", len(acked), len(completed), len(present), st)
	require.Greater(t, len(acked), 100, "the child made progress")
}

type intentRec struct {
	batch   uint64
	partial bool
}

// parseCrashOutput reads one child's output (complete lines only: a line
// cut by the kill is ignored, as its call's result was never reported).
func parseCrashOutput(t *testing.T, path string, acked map[uint64]bool, intent map[uint64]intentRec,
	completed map[uint64]bool, pendingIntents map[string][]uint64) (lines int, openIntent bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	text := string(data)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		text = ""
	}
	num := func(s string) uint64 {
		v, err := strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "line field %q", s)
		return v
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		lines++
		switch f[0] {
		case "A":
			acked[num(f[1])] = true
		case "M":
			first, n := num(f[1]), num(f[2])
			for q := first; q < first+n; q++ {
				acked[q] = true
			}
		case "c", "p":
			var ids []uint64
			for _, x := range f[2:] {
				id := num(x)
				ids = append(ids, id)
				intent[id] = intentRec{batch: num(f[1]), partial: f[0] == "p"}
			}
			pendingIntents[f[0]+f[1]] = ids
			openIntent = true
		case "L":
			// A partial completion of this batch that was not confirmed
			// committed exactly when its events are no longer in the batch.
			still := map[uint64]bool{}
			for _, x := range f[2:] {
				still[num(x)] = true
			}
			for _, id := range pendingIntents["p"+f[1]] {
				if !still[id] {
					completed[id] = true
				}
			}
			delete(pendingIntents, "p"+f[1])
		case "C", "P":
			for _, id := range pendingIntents[strings.ToLower(f[0])+f[1]] {
				completed[id] = true
			}
			openIntent = false
		}
	}
	require.NoError(t, sc.Err())
	return lines, openIntent
}

// crashChild is the writer: it never returns; the parent kills it.
func crashChild(path string) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "crash child: "+format+"\n", args...)
		os.Exit(2)
	}
	seed, _ := strconv.ParseUint(os.Getenv(crashSeedEnv), 10, 64)
	mode := wal.SyncAlways
	if os.Getenv(crashSyncEnv) == "none" {
		mode = wal.SyncNone
	}
	l, err := wal.Open(path, &wal.Options{Sync: mode, CompletedKeep: 1 << 30, LockTimeout: 10 * time.Second})
	if err != nil {
		fail("open: %v", err)
	}
	s, err := l.Stream(crashStream)
	if err != nil {
		fail("stream: %v", err)
	}
	var outMu sync.Mutex
	say := func(line string) { // one write(2) per line
		outMu.Lock()
		_, _ = os.Stdout.WriteString(line + "\n")
		outMu.Unlock()
	}
	ids := func(recs []wal.Record) string {
		var b strings.Builder
		for _, r := range recs {
			fmt.Fprintf(&b, " %d", idSeq(r.ID))
		}
		return b.String()
	}

	const appenders = 12
	for g := range appenders {
		go func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)+100))
			for i := 0; ; i++ {
				key := ""
				if rng.IntN(10) == 0 {
					key = "k"
				}
				if rng.IntN(3) == 0 {
					n := 2 + rng.IntN(19)
					entries := make([]wal.Entry, n)
					for j := range entries {
						entries[j] = wal.Entry{Key: key, Payload: crashPayloadFor(g, i)}
						i++
					}
					first, err := s.AppendMany(entries)
					if err != nil {
						fail("append many: %v", err)
					}
					say(fmt.Sprintf("M %d %d", first, n))
					continue
				}
				a, err := s.Append(key, crashPayloadFor(g, i))
				if err != nil {
					fail("append: %v", err)
				}
				if a.ID != s.EventID(a.Seq) {
					fail("append: ID %s for seq %d", a.ID, a.Seq)
				}
				say(fmt.Sprintf("A %d", a.Seq))
			}
		}()
	}

	// Transitions: batches left in flight by earlier runs first, then new
	// ones, each given a random fate.
	rng := rand.New(rand.NewPCG(seed, 7))
	complete := func(b *wal.Batch, recs []wal.Record) {
		say(fmt.Sprintf("c %d%s", b.Seq, ids(recs)))
		if err := s.Complete(b.Seq); err != nil {
			fail("complete: %v", err)
		}
		say(fmt.Sprintf("C %d", b.Seq))
	}
	fate := func(b *wal.Batch, recs []wal.Record) {
		switch r := rng.IntN(100); {
		case r < 55:
			complete(b, recs)
		case r < 70 && b.Count > 1:
			n := 1 + rng.IntN(b.Count-1)
			say(fmt.Sprintf("p %d%s", b.Seq, ids(recs[:n])))
			rest, err := s.CompletePartial(b.Seq, n)
			if err != nil {
				fail("partial: %v", err)
			}
			say(fmt.Sprintf("P %d", b.Seq))
			if rng.IntN(2) == 0 {
				complete(rest, recs[n:])
			}
		case r < 80:
			if _, err := s.Retry(b.Seq, time.Now().Add(time.Second), "crash test"); err != nil {
				fail("retry: %v", err)
			}
		case r < 90:
			if err := s.DeadLetter(b.Seq, "crash test", true); err != nil {
				fail("dead-letter: %v", err)
			}
		}
		// else: left in flight for the next run.
	}
	left, err := s.Batches()
	if err != nil {
		fail("batches: %v", err)
	}
	for _, b := range left {
		recs, bad, err := s.ReadBatch(&b)
		if err != nil || len(bad) > 0 || len(recs) != b.Count {
			fail("read batch %d: %v, bad %v, %d of %d records", b.Seq, err, bad, len(recs), b.Count)
		}
		say(fmt.Sprintf("L %d%s", b.Seq, ids(recs)))
		fate(&b, recs)
	}
	for {
		res, err := s.Seal(wal.SealOptions{MaxEvents: 1 + rng.IntN(256), MaxBytes: 20000, Force: rng.IntN(2) == 0})
		if err != nil {
			fail("seal: %v", err)
		}
		if res.Batch == nil {
			time.Sleep(time.Millisecond)
			continue
		}
		fate(res.Batch, res.Records)
		if rng.IntN(50) == 0 {
			if _, err := s.Requeue(nil); err != nil {
				fail("requeue: %v", err)
			}
		}
	}
}
