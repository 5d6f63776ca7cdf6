package torture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/walbatch/walbatch/internal/childproc"
	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

// Kill phases: what the child had last said it was doing when it died.
const (
	phaseOpen    = "opening (recovery)"
	phaseAuto    = "opening with auto-compaction"
	phaseCompact = "compacting"
	phaseEnqueue = "enqueueing (commit, seal, dispatch)"
	phaseDrain   = "draining (dispatch, complete)"
	phaseStop    = "stopping"
)

// childWatchdog bounds a child run of the torture loop.
const childWatchdog = 15 * time.Second

// torture is one run's state.
type torture struct {
	cfg  Config
	rng  *rand.Rand
	prm  params
	dir  string
	wal  string
	rcv  *receiver
	disk *disk
	hist *bufio.Writer
	rep  *Report
	out  io.Writer

	diskMu sync.Mutex // guards disk.full and fill/free
	repMu  sync.Mutex // guards rep.Faults, rep.Failures and hist: timers write them too

	acked     map[string]int // event key -> child run that acknowledged it
	corrupted map[string]*corruption
	dead      map[string]deadInfo // event key -> dead letter (harvested or final)
}

// Run runs the torture and returns its report; an error means it could not
// run (see Report.OK for what it found).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	start := time.Now()
	if cfg.Seed == 0 {
		cfg.Seed = rand.Uint64()
	}
	if cfg.Faults == nil {
		cfg.Faults, _ = ParseFaults("all")
	}
	if cfg.Duration == 0 && cfg.Cycles == 0 {
		cfg.Cycles = 20
	}
	if cfg.TmpfsMiB <= 0 {
		cfg.TmpfsMiB = 16
	}
	if cfg.ChildCommand == nil {
		return nil, errors.New("torture: no child command")
	}
	t := &torture{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x70)), out: cfg.Progress,
		acked: map[string]int{}, corrupted: map[string]*corruption{}, dead: map[string]deadInfo{}}
	if t.out == nil {
		t.out = io.Discard
	}
	t.dir = cfg.Dir
	if t.dir == "" {
		d, err := os.MkdirTemp("", "walbatch-torture-")
		if err != nil {
			return nil, err
		}
		t.dir = d
	} else if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return nil, err
	}
	hf, err := os.Create(filepath.Join(t.dir, "history.log"))
	if err != nil {
		return nil, err
	}
	defer hf.Close()
	t.hist = bufio.NewWriter(hf)
	defer t.hist.Flush()
	if err := os.WriteFile(filepath.Join(t.dir, "seed"), []byte(strconv.FormatUint(cfg.Seed, 10)+"\n"), 0o644); err != nil {
		return nil, err
	}
	t.prm = drawParams(t.rng)
	t.rep = newReport(cfg, t.prm)
	t.say("seed %d (-seed %d replays these choices), work directory %s", cfg.Seed, cfg.Seed, t.dir)
	t.say("shape: %s", t.prm)
	t.say("faults: %s", faultList(enabled(cfg.Faults)))

	walDir := t.dir
	if cfg.on(FaultDiskFull) {
		d, why := mountTmpfs(filepath.Join(t.dir, "tmpfs"), cfg.TmpfsMiB)
		if d == nil {
			t.rep.DiskFullSkipped = why
			t.say("disk-full faults skipped: %s", why)
		} else {
			t.disk, walDir = d, d.dir
			t.say("WAL on a %d MiB tmpfs at %s, filled and freed", cfg.TmpfsMiB, d.dir)
		}
	}
	t.wal = filepath.Join(walDir, "torture.wal")
	t.rep.WAL = t.wal
	if t.rcv, err = startReceiver(cfg.Seed, 2*t.prm.HTTPTimeout+time.Second); err != nil {
		return nil, err
	}
	defer t.rcv.close()

	// Whatever stopped the loop, the final drain and the accounting run:
	// a failed run's figures are evidence too.
	if err := t.loop(ctx, start); err != nil {
		t.failf("torture stopped: %v", err)
	}
	if err := t.finalDrain(context.WithoutCancel(ctx)); err != nil {
		t.failf("final drain: %v", err)
	}
	if err := t.check(); err != nil {
		t.failf("final check: %v", err)
	}
	t.rep.Elapsed = time.Since(start)
	t.finish()
	return t.rep, nil
}

// finish keeps the evidence of a failed run (or of any run with Keep) and
// removes the rest.
func (t *torture) finish() {
	keep := t.cfg.Keep || !t.rep.OK()
	if keep {
		t.writeEvents()
		if t.disk != nil {
			if err := copyFile(t.wal, filepath.Join(t.dir, "torture.wal")); err == nil {
				t.rep.WAL = filepath.Join(t.dir, "torture.wal")
			}
		}
		t.rep.Kept = t.dir
	}
	t.hist.Flush()
	if t.disk != nil {
		if err := t.disk.unmount(); err != nil {
			t.failf("%v", err)
		}
	}
	if !keep {
		_ = os.RemoveAll(t.dir)
	}
}

func (t *torture) loop(ctx context.Context, start time.Time) error {
	for cycle := 1; ; cycle++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if t.cfg.Cycles > 0 && cycle > t.cfg.Cycles {
			return nil
		}
		if t.cfg.Duration > 0 && time.Since(start) >= t.cfg.Duration && t.rep.TotalKills >= t.cfg.MinKills {
			return nil
		}
		t.rep.Cycles = cycle
		if err := t.between(cycle); err != nil {
			return err
		}
		if err := t.cycle(cycle); err != nil {
			return err
		}
		t.repMu.Lock()
		failed := len(t.rep.Failures) > 0
		t.repMu.Unlock()
		if failed {
			return nil // stop at the first finding; the evidence is fresh
		}
	}
}

// between runs what happens while no process has the file open:
// compaction by the parent, a damaged record, filling the disk.
func (t *torture) between(cycle int) error {
	if _, err := os.Stat(t.wal); err != nil {
		return nil // no WAL yet
	}
	t.repMu.Lock()
	t.hist.Flush()
	t.repMu.Unlock()
	if cycle%10 == 0 {
		// Dead letters are handled and purged now and then, as in
		// production: the WAL stays within its small disk.
		if err := t.harvestDead(true); err != nil {
			return fmt.Errorf("harvesting dead letters: %w", err)
		}
	}
	if t.cfg.on(FaultCompact) && t.rng.IntN(12) == 0 {
		res, err := store.CompactFile(t.wal, "", nil)
		switch {
		case err == nil:
			t.count("compaction by the parent", 1)
			t.history("cycle %d: parent compacted %d -> %d bytes", cycle, res.BeforeBytes, res.AfterBytes)
		case errors.Is(err, store.ErrNoSpace):
			t.count("compaction refused: disk full", 1)
			t.history("cycle %d: parent compaction: %v", cycle, err)
		default:
			return fmt.Errorf("parent compaction: %w", err)
		}
	}
	if t.cfg.on(FaultCorrupt) && t.rng.IntN(8) == 0 {
		c, err := corruptRecord(t.wal, t.rng)
		if err != nil {
			return fmt.Errorf("damaging a record: %w", err)
		}
		if c != nil {
			t.corrupted[c.ID] = c
			t.count("record payload byte flipped", 1)
			t.history("cycle %d: flipped a payload byte of stream %s seq %d event %s key %s at file offsets %v",
				cycle, c.Stream, c.Seq, c.ID, c.Key, c.Offsets)
		}
	}
	t.planCheck(cycle)
	if t.disk != nil && !t.diskFull() && t.rng.IntN(20) == 0 {
		t.fillDisk(cycle, "before the run: recovery meets a full disk")
	}
	return nil
}

// fillDisk fills the WAL's file system.
func (t *torture) fillDisk(cycle int, when string) {
	t.diskMu.Lock()
	defer t.diskMu.Unlock()
	if t.disk.full {
		return
	}
	if err := t.disk.fill(); err != nil {
		t.failf("filling the disk: %v", err)
		return
	}
	t.count("disk filled", 1)
	t.history("cycle %d: disk filled (%s)", cycle, when)
}

// freeDisk frees the disk if it is full.
func (t *torture) freeDisk(cycle int, why string) {
	if t.disk == nil {
		return
	}
	t.diskMu.Lock()
	defer t.diskMu.Unlock()
	if !t.disk.full {
		return
	}
	if err := t.disk.free(); err != nil {
		t.failf("freeing the disk: %v", err)
		return
	}
	t.count("disk freed", 1)
	t.history("cycle %d: disk freed (%s)", cycle, why)
}

func (t *torture) diskFull() bool {
	if t.disk == nil {
		return false
	}
	t.diskMu.Lock()
	defer t.diskMu.Unlock()
	return t.disk.full
}

// killPlan is when a cycle's child is killed.
type killPlan struct {
	phase   string // the phase aimed at ("" never)
	afterMs int    // for "start": after this long; for compact and drain: this long after the line
	acks    int    // for enqueue: after this many acknowledgements
	delayUs int    // for enqueue: a little longer still
}

func (t *torture) planKill(cc ChildConfig) killPlan {
	if !t.cfg.on(FaultKill) {
		return killPlan{}
	}
	r := t.rng.IntN(100)
	switch {
	case r < 12:
		return killPlan{phase: phaseOpen, afterMs: t.rng.IntN(60)}
	case r < 30 && cc.Compact:
		return killPlan{phase: phaseCompact, afterMs: t.rng.IntN(15)}
	case r < 70:
		return killPlan{phase: phaseEnqueue, acks: 1 + t.rng.IntN(max(cc.Events, 1)), delayUs: t.rng.IntN(3000)}
	case r < 95:
		return killPlan{phase: phaseDrain, afterMs: t.rng.IntN(300)}
	}
	return killPlan{} // let it finish
}

// cycle runs one child with faults and, most often, a kill.
func (t *torture) cycle(cycle int) error {
	cc := ChildConfig{URL: t.rcv.URL(), WAL: t.wal, Run: cycle, Streams: t.prm.Streams, BatchSizes: t.prm.BatchSizes,
		Producers: 1 + t.rng.IntN(t.prm.Producers), Events: 1 + t.rng.IntN(t.prm.MaxEvents), PoisonRate: t.prm.PoisonRate,
		MaxRetries: t.prm.MaxRetries, HTTPTimeout: t.prm.HTTPTimeout, Seed: t.rng.Uint64()}
	if !t.cfg.on(FaultPermanent) {
		cc.PoisonRate = 0
	}
	if t.cfg.on(FaultCompact) {
		cc.Compact = t.rng.IntN(4) == 0
		cc.AutoCompact = t.rng.IntN(5) == 0
	}
	plan := t.planKill(cc)
	var timers []*time.Timer
	defer func() {
		for _, tm := range timers {
			tm.Stop()
		}
	}()
	// A sink fault burst, armed at a random moment of the run.
	if kinds := t.sinkKinds(); len(kinds) > 0 && t.rng.IntN(10) < 7 {
		f, n, at := kinds[t.rng.IntN(len(kinds))], 1+t.rng.IntN(15), t.rng.IntN(400)
		timers = append(timers, time.AfterFunc(time.Duration(at)*time.Millisecond, func() { t.rcv.arm(f, n) }))
		t.history("cycle %d: sink fault %s for %d requests, %d ms in", cycle, f, n, at)
	}
	// The disk fills at a random moment of the run (or is full already)
	// and is freed a little later: the child meets ENOSPC in appends,
	// seals, completions and compaction, and must go on once space is back.
	if t.disk != nil {
		fillAt := -1
		if !t.diskFull() && t.rng.IntN(5) == 0 {
			fillAt = t.rng.IntN(400)
			timers = append(timers, time.AfterFunc(time.Duration(fillAt)*time.Millisecond, func() { t.fillDisk(cycle, "during the run") }))
		}
		if fillAt >= 0 || t.diskFull() {
			at := time.Duration(max(fillAt, 0)+100+t.rng.IntN(900)) * time.Millisecond
			timers = append(timers, time.AfterFunc(at, func() { t.freeDisk(cycle, "during the run") }))
		}
	}
	t.history("cycle %d: child %d events, compact %v, auto-compact %v, kill %q %+v", cycle, cc.Events, cc.Compact, cc.AutoCompact, plan.phase, plan)

	status, acks, killed := "", 0, false
	kill := func(p *childproc.Proc) {
		if p.Kill() {
			killed = true
		}
	}
	var mu sync.Mutex // guards status, acks, t.acked against the timers
	res, err := childproc.Run(t.cfg.ChildCommand(cc.Args()), func(p *childproc.Proc, line string) {
		mu.Lock()
		defer mu.Unlock()
		if keys, ok := strings.CutPrefix(line, lineAck); ok {
			for _, k := range strings.Fields(keys) {
				t.acked[k] = cycle
				acks++
			}
			if plan.phase == phaseEnqueue && acks >= plan.acks && !killed {
				time.Sleep(time.Duration(plan.delayUs) * time.Microsecond)
				kill(p)
			}
			return
		}
		switch {
		case line == lineNoSpace:
			t.rep.NoSpaceEnqueues++
			return
		case strings.HasPrefix(line, lineCompactErr):
			t.history("cycle %d: child %s", cycle, line)
		case strings.HasPrefix(line, lineOutstanding):
			return
		}
		status = line
		if (line == lineCompactStart && plan.phase == phaseCompact) || (line == lineDrain && plan.phase == phaseDrain) {
			timers = append(timers, time.AfterFunc(time.Duration(plan.afterMs)*time.Millisecond, func() {
				mu.Lock()
				defer mu.Unlock()
				kill(p)
			}))
		}
		if line == lineDrain && plan.phase == phaseEnqueue && !killed {
			kill(p) // fewer acks than aimed at (EnqueueMany groups): kill now
		}
	}, func(p *childproc.Proc) {
		// A watchdog: no run may hang the torture.
		timers = append(timers, time.AfterFunc(childWatchdog, func() {
			mu.Lock()
			defer mu.Unlock()
			if !killed {
				t.count("watchdog kills (child ran too long)", 1)
			}
			kill(p)
		}))
		if plan.phase == phaseOpen {
			timers = append(timers, time.AfterFunc(time.Duration(plan.afterMs)*time.Millisecond, func() {
				mu.Lock()
				defer mu.Unlock()
				kill(p)
			}))
		}
	})
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	t.rep.PeakRSS, t.rep.PeakAnon = max(t.rep.PeakRSS, res.MaxRSS), max(t.rep.PeakAnon, res.MaxAnon)
	t.count("child runs", 1)
	t.history("cycle %d: child peak RSS %.1f MiB, anonymous %.1f MiB", cycle, float64(res.MaxRSS)/(1<<20), float64(res.MaxAnon)/(1<<20))
	if cc.Compact {
		t.count("compaction by the child", 1)
	}
	if bad := panicked(res.Stderr); bad != "" {
		t.failf("cycle %d: child crashed: %s", cycle, bad)
	}
	if res.Killed && status != lineDone {
		ph := phaseOf(status, cc.AutoCompact)
		t.rep.Kills[ph]++
		t.rep.TotalKills++
		t.history("cycle %d: SIGKILL while %s, %d acks", cycle, ph, acks)
		fmt.Fprintf(t.out, "cycle %d: SIGKILL while %s after %d acks (%d kills, %d acknowledged)\n", cycle, ph, acks, t.rep.TotalKills, len(t.acked))
		return nil
	}
	if res.Err != nil || status != lineDone {
		msg := fmt.Sprintf("cycle %d: child failed (%v) after %q: %s", cycle, res.Err, status, res.Stderr)
		if t.disk != nil && strings.Contains(res.Stderr, "no space left") {
			t.count("child gave up: disk full", 1)
			if t.rep.GaveUp == "" {
				t.rep.GaveUp = lastLine(res.Stderr)
			}
			t.history("%s", msg)
			return nil
		}
		t.failf("%s", msg)
		return nil
	}
	t.history("cycle %d: child finished, %d acks", cycle, acks)
	fmt.Fprintf(t.out, "cycle %d: child finished after %d acks (%d kills, %d acknowledged)\n", cycle, acks, t.rep.TotalKills, len(t.acked))
	return nil
}

func (t *torture) sinkKinds() []SinkFault {
	var out []SinkFault
	for _, f := range AllFaults {
		if k, ok := sinkFaultOf[f]; ok && t.cfg.on(f) {
			out = append(out, k)
		}
	}
	return out
}

func phaseOf(status string, auto bool) string {
	switch status {
	case lineCompactStart:
		return phaseCompact
	case lineReady:
		return phaseEnqueue
	case lineDrain:
		return phaseDrain
	case lineStopping:
		return phaseStop
	}
	if auto {
		return phaseAuto
	}
	return phaseOpen
}

// panicked returns the first line of a Go panic or fatal error in stderr.
func panicked(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "DATA RACE") {
			return l
		}
	}
	return ""
}

// finalDrain frees the disk, calms the sink and runs children with no
// faults until the WAL has nothing pending or in flight.
func (t *torture) finalDrain(ctx context.Context) error {
	t.freeDisk(t.rep.Cycles, "final drain")
	t.rcv.calm()
	for try := 1; try <= 3; try++ {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := os.Stat(t.wal); err != nil {
			return nil
		}
		cc := ChildConfig{URL: t.rcv.URL(), WAL: t.wal, Run: 1 << 20, Streams: t.prm.Streams, BatchSizes: t.prm.BatchSizes,
			Producers: 1, MaxRetries: t.prm.MaxRetries, HTTPTimeout: t.prm.HTTPTimeout, Seed: 1}
		left := int64(-1)
		res, err := childproc.Run(t.cfg.ChildCommand(cc.Args()), func(_ *childproc.Proc, line string) {
			if v, ok := strings.CutPrefix(line, lineOutstanding); ok {
				left, _ = strconv.ParseInt(v, 10, 64)
			}
		}, nil)
		if err != nil {
			return err
		}
		t.rep.PeakRSS, t.rep.PeakAnon = max(t.rep.PeakRSS, res.MaxRSS), max(t.rep.PeakAnon, res.MaxAnon)
		if bad := panicked(res.Stderr); bad != "" {
			t.failf("final drain: child crashed: %s", bad)
		}
		if res.Err != nil {
			t.failf("final drain: child failed: %v: %s", res.Err, res.Stderr)
			return nil
		}
		t.history("final drain %d: %d events outstanding", try, left)
		if left == 0 {
			return nil
		}
	}
	return nil
}

func (t *torture) say(format string, args ...any) {
	fmt.Fprintf(t.out, format+"\n", args...)
	t.history(format, args...)
}

// count adds n to a fault counter.
func (t *torture) count(kind string, n int) {
	t.repMu.Lock()
	defer t.repMu.Unlock()
	t.rep.Faults[kind] += n
}

// failf records a finding: the run fails.
func (t *torture) failf(format string, args ...any) {
	t.repMu.Lock()
	defer t.repMu.Unlock()
	t.rep.fail(format, args...)
	fmt.Fprintf(t.hist, time.Now().UTC().Format("15:04:05.000")+" FAILURE: "+format+"\n", args...)
}

func (t *torture) history(format string, args ...any) {
	t.repMu.Lock()
	defer t.repMu.Unlock()
	fmt.Fprintf(t.hist, time.Now().UTC().Format("15:04:05.000")+" "+format+"\n", args...)
}

func drawParams(rng *rand.Rand) params {
	p := params{
		Streams:     1 + rng.IntN(4),
		Producers:   4 + rng.IntN(29),
		PoisonRate:  0.0005 + rng.Float64()*0.0025,
		MaxRetries:  4 + rng.IntN(12),
		HTTPTimeout: time.Duration(200+rng.IntN(300)) * time.Millisecond,
		MaxEvents:   300 + rng.IntN(1500),
	}
	sizes := []int{1, 7, 50, 100, 250, 500, 1000}
	for range p.Streams {
		p.BatchSizes = append(p.BatchSizes, sizes[rng.IntN(len(sizes))])
	}
	return p
}

func enabled(m map[Fault]bool) []Fault {
	var out []Fault
	for _, f := range AllFaults {
		if m[f] {
			out = append(out, f)
		}
	}
	return out
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o600)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// planCheck runs recovery.Plan as a dry run on the WAL between runs and
// records what the next open would fix: after a kill alone there should be
// nothing (every transaction is atomic); a damaged record explains some.
func (t *torture) planCheck(cycle int) {
	l, err := wal.Open(t.wal, &wal.Options{ReadOnly: true})
	if err != nil {
		t.failf("cycle %d: the WAL does not open read-only between runs: %v", cycle, err)
		return
	}
	defer l.Close()
	rec, err := recovery.Plan(l, &recovery.PlanOptions{DryRun: true})
	if err != nil {
		t.failf("cycle %d: recovery.Plan (dry run): %v", cycle, err)
		return
	}
	for _, sr := range rec.Streams {
		for _, fix := range sr.Repaired {
			t.count("open would fix (dry-run Plan between runs)", 1)
			t.history("cycle %d: stream %s: %s", cycle, sr.Stream, fix)
			t.repMu.Lock()
			if t.rep.PlanFix == "" {
				t.rep.PlanFix = fix
			}
			t.repMu.Unlock()
		}
	}
}
