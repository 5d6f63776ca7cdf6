package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
)

// machine is what the report says about where it ran.
type machine struct {
	Date    time.Time
	Cores   int
	CPU     string
	Kernel  string
	Go      string
	Dir     string
	FS      string // filesystem type and device of Dir
	Elapsed time.Duration
}

func describeMachine(dir string) machine {
	m := machine{Date: time.Now().UTC(), Cores: runtime.NumCPU(), Go: runtime.Version(), Dir: dir, CPU: "unknown", FS: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	abs, _ := filepath.Abs(dir)
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	if b, err := os.ReadFile("/proc/mounts"); err == nil {
		best := ""
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 {
				continue
			}
			mp := f[1]
			if (abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")) && len(mp) >= len(best) {
				best = mp
				m.FS = fmt.Sprintf("%s on %s (mounted at %s)", f[2], f[0], mp)
			}
		}
	}
	return m
}

func (m machine) String() string {
	return fmt.Sprintf("%d cores, %s, Linux %s, %s, temp dir %s: %s", m.Cores, m.CPU, m.Kernel, m.Go, m.Dir, m.FS)
}

// target is one of SPEC.md's performance targets (those of format 2,
// issue 13): eval gives the measured value, whether it meets the goal, and
// whether the run has what it needs (false: a scenario was not run).
type target struct {
	what string
	goal string
	eval func(r run) (value string, ok bool, known bool)
}

// ratioTarget: the rate of scenario num over that of den, at least min;
// more, when given, adds figures of num's result to the measured column.
func ratioTarget(what, num, den string, min float64, more func(benchkit.Result) string) target {
	return target{
		what: what,
		goal: fmt.Sprintf("≥ %gx", min),
		eval: func(r run) (string, bool, bool) {
			a, okA := r.results[num]
			b, okB := r.results[den]
			if !okA || !okB || b.Rate == 0 {
				return "", false, false
			}
			x := a.Rate / b.Rate
			v := fmt.Sprintf("%s / %s = **%.2fx**", fmtRate(a.Rate), fmtRate(b.Rate), x)
			if more != nil {
				v += more(a)
			}
			return v, x >= min, true
		},
	}
}

// groupCommit is the group commit's figures of a walbatch scenario.
func groupCommit(res benchkit.Result) string {
	e, ok := res.Extra["events_per_group_commit"]
	if !ok {
		return " (no group commit figures)"
	}
	return fmt.Sprintf(" (%.1f events and %.2f batch transitions per commit, %.3f fsyncs per event, every commit counted)",
		e, res.Extra["transitions_per_commit"], res.Extra["fsyncs_per_event"])
}

// atBacklog says how many events were pending when a target asks for 1M.
func atBacklog(events int64) string {
	if events == 1_000_000 || events == 1_000_100 {
		return ""
	}
	return fmt.Sprintf(" at %d pending (the target is at 1,000,000)", events)
}

var targets = []target{
	ratioTarget("EnqueueMany, SyncAlways, dispatch draining (wb-many-always) vs Optimizely in memory (optimizely)", "wb-many-always", "optimizely", 1.0, nil),
	ratioTarget("EnqueueAsync, SyncAlways, dispatch draining (wb-async-always) vs Optimizely in memory (optimizely)", "wb-async-always", "optimizely", 1.0, nil),
	{
		what: "drain the backlog through a no-op dispatcher (drain)",
		goal: "≥ 1M events/s",
		eval: func(r run) (string, bool, bool) {
			res, ok := r.results["drain"]
			if !ok {
				return "", false, false
			}
			return fmt.Sprintf("**%s**%s", fmtRate(res.Rate), atBacklog(res.Events)), res.Rate >= 1_000_000, true
		},
	},
	{
		what: "file size over the pending payload bytes (backlog-build; after the drain and CompactFile: drain)",
		goal: "≤ 1.15x",
		eval: func(r run) (string, bool, bool) {
			res, ok := r.results["backlog-build"]
			if !ok || res.Extra["payload_bytes_per_event"] == 0 {
				return "", false, false
			}
			x := res.Extra["bytes_per_event"] / res.Extra["payload_bytes_per_event"]
			v := fmt.Sprintf("%.0f B / %.0f B = **%.2fx**", res.Extra["bytes_per_event"], res.Extra["payload_bytes_per_event"], x)
			if d, ok := r.results["drain"]; ok {
				v += fmt.Sprintf(" (drained %s, compacted %s)", fmtBytes(d.Extra["file_bytes_drained"]), fmtBytes(d.Extra["file_bytes_compacted"]))
			}
			return v, x <= 1.15, true
		},
	},
	{
		what: "open with the backlog pending until the first batch is dispatched (open)",
		goal: "< 0.1 s",
		eval: func(r run) (string, bool, bool) {
			res, ok := r.results["open"]
			if !ok {
				return "", false, false
			}
			v := res.Extra["first_batch_s"]
			return fmt.Sprintf("**%.3f s** (Open returned after %.3f s)%s", v, res.Extra["open_s"], atBacklog(res.Events)), v < 0.1, true
		},
	},
	{
		what: "anonymous memory while the backlog waits on disk (memory)",
		goal: "< 16 MiB",
		eval: func(r run) (string, bool, bool) {
			res, ok := r.results["memory"]
			if !ok {
				return "", false, false
			}
			v := res.Extra["rss_anon_waiting"]
			return fmt.Sprintf("**%s**%s", fmtBytes(v), atBacklog(res.Events)), v < 16<<20, true
		},
	},
	ratioTarget("32 producers waiting, SyncAlways (wb-always-32) vs a raw log committing every waiting producer in one fdatasync (raw-all-32)", "wb-always-32", "raw-all-32", 0.45, groupCommit),
	ratioTarget("1 producer, SyncAlways (wb-always-1) vs raw append + fdatasync per event (raw-fsync-1)", "wb-always-1", "raw-fsync-1", 0.45, nil),
	ratioTarget("32 producers waiting, SyncAlways (wb-always-32) vs the OpenTelemetry Collector's persistent queue, fsync on (otel-32)", "wb-always-32", "otel-32", 30, nil),
	ratioTarget("EnqueueMany, SyncAlways (wb-many-always) vs go-diskqueue SyncEvery 1 (dq-sync1)", "wb-many-always", "dq-sync1", 20, nil),
	ratioTarget("EnqueueAsync, SyncAlways (wb-async-always) vs go-diskqueue SyncEvery 1 (dq-sync1)", "wb-async-always", "dq-sync1", 20, nil),
}

func renderReport(m machine, sel []scenario, runs []run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Generated by `%s` on %s (%d run(s) of the whole suite, %s in all).\n\n",
		command(os.Args[1:]), m.Date.Format("2006-01-02 15:04 MST"), len(runs), m.Elapsed.Round(time.Second))
	fmt.Fprintf(&b, "Machine: %d cores, %s, Linux %s, %s; scenario files in %s, %s.\n\n", m.Cores, m.CPU, m.Kernel, m.Go, m.Dir, m.FS)
	fmt.Fprintf(&b, "Settings: %s per rate scenario, a backlog of %d events.\n\n", *flagDur, *flagBacklog)
	for i, r := range runs {
		fmt.Fprintf(&b, "### Run %d: targets\n\n", i+1)
		b.WriteString("| target | measured | goal | met |\n| --- | --- | --- | --- |\n")
		for _, t := range targets {
			v, ok, known := t.eval(r)
			met := "MISSED"
			switch {
			case !known:
				v, met = "not run", "–"
			case ok:
				met = "MET"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", t.what, v, t.goal, met)
		}
		fmt.Fprintf(&b, "\n### Run %d: every scenario\n\n", i+1)
		b.WriteString("| scenario | what | events/s | details | CPU s | peak RSS | anon RSS |\n| --- | --- | ---: | --- | ---: | ---: | ---: |\n")
		for _, s := range sel {
			res, ok := r.results[s.name]
			if !ok {
				if why, failed := r.failed[s.name]; failed {
					fmt.Fprintf(&b, "| %s | %s | failed | %s | | | |\n", s.name, s.what, why)
				}
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f | %s | %s |\n", s.name, s.what, fmtRate(res.Rate), fmtExtra(res),
				res.CPU, fmtBytes(float64(res.HWM)), fmtBytes(float64(res.Anon)))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// command is how the report says it was run.
func command(args []string) string {
	return strings.Join(append([]string{"cd bench && go run ."}, args...), " ")
}

func fmtRate(v float64) string {
	switch {
	case v == 0:
		return "–"
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.2f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

// fmtExtra formats a result's extra numbers by the unit their name ends in.
func fmtExtra(r benchkit.Result) string {
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{}
	if r.Events > 0 {
		parts = append(parts, fmt.Sprintf("%d events", r.Events))
	}
	if r.Rate > 0 {
		parts = append(parts, fmt.Sprintf("%.2f s", r.Seconds))
	}
	for _, k := range keys {
		v := r.Extra[k]
		name := strings.ReplaceAll(k, "_", " ")
		switch {
		case strings.HasSuffix(k, "_s"):
			parts = append(parts, fmt.Sprintf("%s %.3f s", strings.TrimSuffix(name, " s"), v))
		case strings.HasSuffix(k, "_rate"):
			parts = append(parts, fmt.Sprintf("%s %s/s", strings.TrimSuffix(name, " rate"), fmtRate(v)))
		case strings.HasPrefix(k, "fsyncs_per"):
			parts = append(parts, fmt.Sprintf("%s %.3f", name, v))
		case strings.Contains(k, "bytes_per"):
			parts = append(parts, fmt.Sprintf("%s %.0f B", name, v))
		case strings.Contains(k, "bytes") || strings.HasPrefix(k, "rss") || strings.HasPrefix(k, "go_heap"):
			parts = append(parts, fmt.Sprintf("%s %s", name, fmtBytes(v)))
		case v == math.Trunc(v):
			parts = append(parts, fmt.Sprintf("%s %.0f", name, v))
		default:
			parts = append(parts, fmt.Sprintf("%s %.1f", name, v))
		}
	}
	return strings.Join(parts, ", ")
}

const (
	markBegin = "<!-- bench:begin (generated by bench/; edit outside these markers) -->"
	markEnd   = "<!-- bench:end -->"
)

// writeDocs puts the report between the markers of performance.md, keeping
// the prose around them; a missing file gets a stub around the markers.
func writeDocs(dir, report string) error {
	path := filepath.Join(dir, "performance.md")
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	doc := string(old)
	i, j := strings.Index(doc, markBegin), strings.Index(doc, markEnd)
	if i < 0 || j < i {
		doc = "# Performance\n\n" + markBegin + "\n" + markEnd + "\n" + doc
		i, j = strings.Index(doc, markBegin), strings.Index(doc, markEnd)
	}
	doc = doc[:i+len(markBegin)] + "\n\n" + report + doc[j:]
	return os.WriteFile(path, []byte(doc), 0o644)
}
