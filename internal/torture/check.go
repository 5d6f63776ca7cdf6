package torture

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// Report is what a torture run did and found.
type Report struct {
	Seed   uint64
	Params string
	Faults map[string]int // injected, by kind
	// DiskFullSkipped says why the disk-full faults did not run ("" when
	// they did or were not asked for).
	DiskFullSkipped string
	WAL             string
	Kept            string // the directory kept for diagnosis ("" when removed)
	Elapsed         time.Duration
	Cycles          int
	TotalKills      int
	Kills           map[string]int // by what the child was doing
	NoSpaceEnqueues int            // enqueues refused for a full disk (retried, not acknowledged)
	GaveUp          string         // the error of the first child that exited on a full disk
	PlanFix         string         // the first fix a dry-run recovery.Plan found between runs
	DeliveredDead   int            // delivered and dead-lettered too (see Report.String)

	Acknowledged int // events whose Enqueue returned nil
	Delivered    int // acknowledged events the receiver has
	// DeadLettered counts acknowledged events in the dead letters by
	// reason class; DeadExamples holds one reason of each class.
	DeadLettered map[string]int
	DeadExamples map[string]string
	Lost         int // acknowledged, neither delivered nor dead-lettered: must be 0
	LostKeys     []string
	// Duplicates are redeliveries the receiver dropped by event ID;
	// Mismatched lists redeliveries that came with another event ID (must
	// be none).
	Duplicates int
	Mismatched []string
	// Unacknowledged were committed but their child died before it could
	// say so: delivered or dead-lettered all the same.
	Unacknowledged int
	// Corrupted records, and how many of them the dead letters hold with
	// a "corrupt" reason (must be all).
	Corrupted     int
	CorruptFound  int
	PoisonAcked   int // acknowledged poison events (all must be dead letters)
	Outstanding   int64
	Requests      int
	BadIdemKeys   int // requests whose Idempotency-Key was not the batch ID
	PeakRSS       int64
	PeakAnon      int64
	Verify        string
	Failures      []string
	verifyPassed  bool
	verifyChecked bool
}

func newReport(cfg Config, p params) *Report {
	return &Report{Seed: cfg.Seed, Params: p.String(), Faults: map[string]int{}, Kills: map[string]int{},
		DeadLettered: map[string]int{}, DeadExamples: map[string]string{}}
}

func (r *Report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// OK reports whether nothing was lost, every redelivery kept its ID, every
// damaged record was quarantined, and the final WAL verifies.
func (r *Report) OK() bool { return len(r.Failures) == 0 && r.verifyChecked && r.verifyPassed }

func (r *Report) String() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("walbatch torture: seed %d, %s, %d child runs", r.Seed, r.Elapsed.Round(time.Second), r.Cycles)
	p("  shape:            %s", r.Params)
	p("  SIGKILLs:         %d", r.TotalKills)
	for _, k := range sortedKeys(r.Kills) {
		p("    while %-36s %d", k+":", r.Kills[k])
	}
	p("  faults injected:")
	for _, k := range sortedKeys(r.Faults) {
		p("    %-40s %d", k+":", r.Faults[k])
	}
	if r.DiskFullSkipped != "" {
		p("    disk full: skipped (%s)", r.DiskFullSkipped)
	}
	p("    %-40s %d", "enqueues refused, disk full (retried):", r.NoSpaceEnqueues)
	if r.PlanFix != "" {
		p("    first fix a dry-run Plan found between runs: %s", clip(r.PlanFix, 200))
	}
	if r.GaveUp != "" {
		p("    a child that exited on the full disk said: %s", clip(r.GaveUp, 200))
	}
	p("  acknowledged:     %d", r.Acknowledged)
	p("  delivered:        %d", r.Delivered)
	dead := 0
	for _, n := range r.DeadLettered {
		dead += n
	}
	p("  dead-lettered:    %d", dead)
	for _, k := range sortedKeys(r.DeadLettered) {
		p("    %-18s %d  e.g. %q", k+":", r.DeadLettered[k], clip(r.DeadExamples[k], 90))
	}
	p("  delivered and dead-lettered too: %d (taken by the sink before a lost answer, then poison, corrupt or out of retries)", r.DeliveredDead)
	p("  lost:             %d", r.Lost)
	p("  duplicates:       %d received again, same event ID (with another ID: %d)", r.Duplicates, len(r.Mismatched))
	p("  committed, unacknowledged at a kill, delivered or dead anyway: %d", r.Unacknowledged)
	p("  corrupted records: %d, quarantined as corrupt: %d", r.Corrupted, r.CorruptFound)
	p("  poison events acknowledged: %d (all dead-lettered with their 400)", r.PoisonAcked)
	p("  outstanding after the drain: %d", r.Outstanding)
	p("  HTTP requests:    %d (Idempotency-Key not the batch ID: %d)", r.Requests, r.BadIdemKeys)
	p("  peak memory:      %.1f MiB resident, %.1f MiB anonymous (VmHWM and RssAnon of the children)",
		float64(r.PeakRSS)/(1<<20), float64(r.PeakAnon)/(1<<20))
	p("  verify:           %s", r.Verify)
	if len(r.Failures) == 0 && r.OK() {
		p("  result:           PASS")
	} else {
		p("  result:           FAIL")
		for _, f := range r.Failures {
			p("    %s", clip(f, 600))
		}
	}
	if r.Kept != "" {
		p("  kept for diagnosis: %s (WAL %s, seed, history.log, events.tsv)", r.Kept, r.WAL)
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// deadClass groups dead-letter reasons.
func deadClass(reason string) string {
	switch {
	case strings.HasPrefix(reason, "corrupt"):
		return "corrupt"
	case strings.Contains(reason, "400"):
		return "permanent 400"
	case strings.HasPrefix(reason, "gave up after"):
		return "retries spent"
	}
	return "other"
}

// deadInfo is a dead letter as the check sees it.
type deadInfo struct {
	reason string
	class  string
}

// check reads the final WAL read-only and accounts for every acknowledged
// event, then runs recovery.Verify.
func (t *torture) check() error {
	r := t.rep
	r.Acknowledged = len(t.acked)
	r.Corrupted = len(t.corrupted)
	t.rcv.mu.Lock()
	defer t.rcv.mu.Unlock()
	r.Duplicates, r.Mismatched, r.Requests, r.BadIdemKeys = t.rcv.duplicates, t.rcv.mismatched, t.rcv.requests, t.rcv.badKeys
	for i, n := range t.rcv.injected {
		if n > 0 {
			r.Faults["sink: "+SinkFault(i).String()+" (requests)"] = n
		}
	}
	if t.rcv.rejected > 0 {
		r.Faults["sink: permanent 400 (requests)"] = t.rcv.rejected
	}
	if err := t.harvestDead(false); err != nil {
		return err
	}
	dead := t.dead
	if r.Outstanding != 0 {
		t.failf("%d events still pending or in flight after the final drain", r.Outstanding)
	}
	for id, c := range t.corrupted {
		if _, ok := dead[c.Key]; !ok || dead[c.Key].class != "corrupt" {
			t.failf("damaged record %s (stream %s seq %d, key %s) is not a corrupt dead letter", id, c.Stream, c.Seq, c.Key)
		}
	}
	for k := range t.acked {
		_, got := t.rcv.byKey[k]
		d, isDead := dead[k]
		if poison(k) {
			r.PoisonAcked++
			if got {
				t.failf("poison event %s was delivered", k)
			}
		}
		switch {
		case isDead:
			r.DeadLettered[d.class]++
			if r.DeadExamples[d.class] == "" {
				r.DeadExamples[d.class] = d.reason
			}
			if got {
				r.Delivered++
				r.DeliveredDead++
			}
		case got:
			r.Delivered++
		default:
			r.Lost++
			if len(r.LostKeys) < 20 {
				r.LostKeys = append(r.LostKeys, k)
			}
		}
	}
	for k := range t.rcv.byKey {
		if _, ok := t.acked[k]; !ok {
			r.Unacknowledged++
		}
	}
	for k := range dead {
		if _, ok := t.acked[k]; !ok {
			if _, got := t.rcv.byKey[k]; !got {
				r.Unacknowledged++
			}
		}
	}
	if r.Lost > 0 {
		sort.Strings(r.LostKeys)
		t.failf("%d acknowledged events lost, e.g. %v", r.Lost, r.LostKeys)
	}
	if len(r.Mismatched) > 0 {
		t.failf("%d redeliveries with another event ID, e.g. %s", len(r.Mismatched), r.Mismatched[0])
	}
	if r.BadIdemKeys > 0 {
		t.failf("%d requests with an Idempotency-Key other than the batch ID", r.BadIdemKeys)
	}
	r.verifyChecked = true
	if _, err := os.Stat(t.wal); err != nil {
		r.Verify, r.verifyPassed = "no WAL (nothing was written)", true
		return nil
	}
	vr, err := recovery.Verify(t.wal, nil)
	if err != nil {
		r.Verify = "cannot verify: " + err.Error()
		t.failf("recovery.Verify: %v", err)
		return nil
	}
	r.Verify = strings.ReplaceAll(strings.TrimSpace(vr.String()), "\n", "; ")
	r.verifyPassed = vr.OK()
	if !vr.OK() {
		t.failf("recovery.Verify: %s", clip(r.Verify, 2000))
	}
	return nil
}

// harvestDead reads every stream's dead letters into t.dead (event key ->
// reason) and, with purge, deletes them from the WAL, as an operator does
// once dead letters are handled: it keeps the WAL within its small tmpfs.
// Without purge it also sums what is still outstanding. No process may have
// the file open.
func (t *torture) harvestDead(purge bool) error {
	if _, err := os.Stat(t.wal); err != nil {
		return nil
	}
	l, err := wal.Open(t.wal, &wal.Options{ReadOnly: !purge})
	if err != nil {
		return fmt.Errorf("opening the WAL to read dead letters: %w", err)
	}
	defer l.Close()
	r := t.rep
	// Dead letters join t.dead only once purged (or at the final read):
	// a purge that fails (disk full) leaves them to be read again.
	found := map[string]deadInfo{}
	for _, name := range l.Streams() {
		s, err := l.Stream(name)
		if err != nil {
			return err
		}
		if !purge {
			ev, _ := s.Stats().Outstanding()
			r.Outstanding += ev
		}
		err = s.ForEachDead(func(d wal.DeadLetter) error {
			info := deadInfo{reason: d.Reason, class: deadClass(d.Reason)}
			if d.Err != nil {
				// A record that fails its checksum: its ID is still at its
				// place in the envelope (the flipped byte is in the payload).
				if len(d.Raw) < 19 {
					t.failf("stream %s: dead letter with a %d-byte record", name, len(d.Raw))
					return nil
				}
				id := hex.EncodeToString(d.Raw[3:19])
				c, ok := t.corrupted[id]
				if !ok {
					t.failf("stream %s: undecodable dead letter %s that was not damaged on purpose (reason %q): %v", name, id, d.Reason, d.Err)
					return nil
				}
				if info.class != "corrupt" {
					t.failf("stream %s: corrupt record %s dead-lettered with reason %q", name, id, d.Reason)
				}
				found[c.Key] = info
				return nil
			}
			var e Event
			if err := msgpack.Unmarshal(d.Record.Payload, &e); err != nil {
				t.failf("stream %s: dead letter %s does not decode: %v", name, d.Record.ID, err)
				return nil
			}
			if _, ok := t.corrupted[d.Record.ID.String()]; ok {
				t.failf("stream %s: damaged record %s is a dead letter that decodes (reason %q)", name, d.Record.ID, d.Reason)
			}
			found[e.K] = info
			return nil
		})
		if err != nil {
			return fmt.Errorf("reading dead letters of %s: %w", name, err)
		}
		if purge {
			n, err := s.PurgeDead()
			if err != nil {
				if errors.Is(err, store.ErrNoSpace) {
					return nil // read again next time
				}
				return err
			}
			t.count("dead letters harvested and purged (not a fault)", n)
		}
	}
	for k, info := range found {
		if _, ok := t.dead[k]; ok {
			t.failf("event %s dead-lettered again after its dead letter was purged", k)
		}
		if info.class == "corrupt" {
			r.CorruptFound++
		}
		t.dead[k] = info
	}
	return l.Close()
}

// writeEvents writes every event key the run saw with what became of it,
// for diagnosis: key, run that acknowledged it (0: never), event ID
// delivered, dead-letter reason.
func (t *torture) writeEvents() {
	f, err := os.Create(filepath.Join(t.dir, "events.tsv"))
	if err != nil {
		return
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	defer w.Flush()
	t.rcv.mu.Lock()
	defer t.rcv.mu.Unlock()
	keys := map[string]bool{}
	for k := range t.acked {
		keys[k] = true
	}
	for k := range t.rcv.byKey {
		keys[k] = true
	}
	fmt.Fprintln(w, "key\tacked_by_run\tdelivered_event_id\tdelivered_batch_id")
	for _, k := range sortedKeys(keys) {
		s := t.rcv.byKey[k]
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", k, t.acked[k], s.id, s.batch)
	}
}
