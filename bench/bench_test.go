package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
)

// The raw group commit with gathering acknowledges only what it wrote: the
// log holds exactly the acknowledged records, whole.
func TestRawGroupGatherWritesEveryAckedRecord(t *testing.T) {
	for _, gather := range []bool{false, true} {
		dir := t.TempDir()
		e := &env{dir: dir, dur: 100 * time.Millisecond, pool: benchkit.NewPool(64)}
		r, err := rawGroupScenario(8, gather)(e)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "raw.log"))
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for len(b) > 0 {
			if len(b) < 4 || int(binary.BigEndian.Uint32(b)) > len(b)-4 {
				t.Fatalf("gather %v: torn record after %d", gather, n)
			}
			b = b[4+binary.BigEndian.Uint32(b):]
			n++
		}
		if n != r.Events || n == 0 {
			t.Fatalf("gather %v: %d records in the log, %d acknowledged", gather, n, r.Events)
		}
		if per := r.Extra["events_per_fsync"]; per < 1 || per > 8 {
			t.Fatalf("gather %v: %v events per fsync with 8 producers", gather, per)
		}
	}
}

// Each target of format 2 gets a row: its ratio and MET or MISSED, or "not
// run" when a scenario it needs is missing.
func TestTargetsTable(t *testing.T) {
	rate := func(v float64) benchkit.Result { return benchkit.Result{Rate: v} }
	wb32 := rate(30_000)
	wb32.Set("events_per_group_commit", 31.5)
	wb32.Set("transitions_per_commit", 0.03)
	wb32.Set("fsyncs_per_event", 2/31.5)
	build := benchkit.Result{Events: 1_000_000}
	build.Set("bytes_per_event", 287)
	build.Set("payload_bytes_per_event", 204)
	open := benchkit.Result{Events: 1_000_000}
	open.Set("first_batch_s", 0.05)
	r := run{results: map[string]benchkit.Result{
		"wb-always-32": wb32, "raw-all-32": rate(50_000), "otel-32": rate(600),
		"wb-many-always": rate(300_000), "optimizely": rate(1_000_000),
		"backlog-build": build, "open": open,
	}}
	out := renderReport(machine{}, nil, []run{r})
	for _, want := range []string{
		"| 32 producers waiting, SyncAlways (wb-always-32) vs a raw log committing every waiting producer in one fdatasync (raw-all-32) | 30k / 50k = **0.60x** (31.5 events and 0.03 batch transitions per commit, 0.063 fsyncs per event, every commit counted",
		"(otel-32) | 30k / 600 = **50.00x** | ≥ 30x | MET |",
		"(optimizely) | 300k / 1.00M = **0.30x** | ≥ 1x | MISSED |",
		"287 B / 204 B = **1.41x** | ≤ 1.15x | MISSED |",
		"**0.050 s** (Open returned after 0.000 s) | < 0.1 s | MET |",
		"(wb-always-1) vs raw append + fdatasync per event (raw-fsync-1) | not run | ≥ 0.45x | – |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("100000, 1000000")
	if err != nil || len(got) != 2 || got[0] != 100_000 || got[1] != 1_000_000 {
		t.Fatalf("parseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "10,x", "0", "-5"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
}

// e2e-nats runs end to end: every event enqueued is acknowledged by the
// stream before the scenario reports its rate.
func TestNATSScenarioRuns(t *testing.T) {
	e := &env{dir: t.TempDir(), dur: 100 * time.Millisecond, pool: benchkit.NewPool(1 << 14)}
	r, err := runNATS(e)
	if err != nil {
		t.Fatal(err)
	}
	if r.Events == 0 {
		t.Fatal("no event acknowledged")
	}
}
