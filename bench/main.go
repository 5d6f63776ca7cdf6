// Command bench measures walbatch side by side with the disk's limit and
// the libraries users would pick instead, and writes the results into
// docs/performance.md (between its bench markers) and docs/performance.svg.
//
//	cd bench && go run .                 # every scenario, the whole suite twice (~10 min)
//	go run . -quick                      # short runs and a 50k backlog, once; docs untouched
//	go run . -only wb-always-32,raw-group-32
//
// Every scenario runs in a subprocess of its own (the binary re-executed
// with -scenario), so peak RSS (VmHWM) and anonymous RSS (RssAnon) are
// those of that scenario alone. See docs/performance.md for what each
// scenario does and why the numbers are what they are.
//
// This is a module of its own so that the comparison libraries never enter
// walbatch's dependencies.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
)

var (
	flagScenario = flag.String("scenario", "", "internal: run this one scenario in this process and print its result")
	flagFile     = flag.String("file", "", "internal: the backlog file of a backlog scenario")
	flagOnly     = flag.String("only", "", "comma-separated scenarios to run (default: all); see -list")
	flagList     = flag.Bool("list", false, "list the scenarios and exit")
	flagQuick    = flag.Bool("quick", false, "short runs (0.5s) and a 50,000-event backlog, one run; docs are not written")
	flagRuns     = flag.Int("runs", 2, "how many times to run the suite (to show the noise)")
	flagDur      = flag.Duration("dur", 3*time.Second, "how long each rate scenario produces")
	flagBacklog  = flag.Int("backlog", 1_000_000, "events in the backlog for open, drain and memory")
	flagDir      = flag.String("dir", os.TempDir(), "where scenario files go (its filesystem is the one measured)")
	flagDocs     = flag.String("docs", "../docs", "where performance.md and performance.svg are written")
	flagWrite    = flag.Bool("write", true, "write the docs (only for a full run: not with -quick or -only)")
	flagProfile  = flag.String("profile", "", "write a CPU profile of each scenario to DIR/<scenario>.cpu.prof")
	flagFormat   = flag.Uint64("format", 0, "the WAL file format walbatch's scenarios write (store.Options.Format; 0: the default, format 2): 1 measures format 1")
	flagScaling  = flag.Bool("scaling", false, "also run the backlog scenarios once at each of -scaling-sizes pending (slow: 10M is a 3 GB file)")
	flagSizes    = flag.String("scaling-sizes", "100000,1000000,10000000", "backlog sizes for -scaling")
	flagOtelq    = flag.String("otelq", "", "a built bench/otelq binary for the otel-* scenarios (default: build it from -otelq-src)")
	flagOtelqSrc = flag.String("otelq-src", "otelq", "where the otelq module is, to build it")
)

func main() {
	flag.Parse()
	if *flagScenario != "" {
		code := child(*flagScenario)
		os.Exit(code)
	}
	if *flagList {
		for _, s := range scenarios {
			fmt.Printf("%-18s %s\n", s.name, s.what)
		}
		return
	}
	if err := parent(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// child runs one scenario and prints its result as a JSON line.
func child(name string) int {
	s, ok := findScenario(name)
	if !ok || s.run == nil {
		fmt.Fprintf(os.Stderr, "bench: unknown scenario %q (the otel-* scenarios run in bench/otelq)\n", name)
		return 2
	}
	e := &env{dir: *flagDir, file: *flagFile, dur: *flagDur, backlog: *flagBacklog, pool: benchkit.NewPool(4096)}
	if *flagProfile != "" {
		f, err := os.Create(filepath.Join(*flagProfile, name+".cpu.prof"))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	r, err := s.run(e)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", name, err)
		return 1
	}
	if err := benchkit.Emit(os.Stdout, name, r); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %s: %v\n", name, err)
		return 1
	}
	return 0
}

// run is one pass over the selected scenarios.
type run struct {
	results map[string]benchkit.Result
	failed  map[string]string
}

func parent() error {
	if *flagQuick {
		*flagDur = 500 * time.Millisecond
		*flagBacklog = 50_000
		if !isSet("runs") {
			*flagRuns = 1
		}
	}
	sel, err := selected()
	if err != nil {
		return err
	}
	var sizes []int
	if *flagScaling {
		if sizes, err = parseSizes(*flagSizes); err != nil {
			return err
		}
	}
	write := *flagWrite && !*flagQuick && *flagOnly == ""
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	bins := binaries{self: exe}
	tmp, err := os.MkdirTemp("", "walbatch-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if bins.peer, bins.peerErr = peerBinary(sel, tmp); bins.peerErr != nil {
		fmt.Fprintf(os.Stderr, "bench: the otel-* scenarios will fail: %v\n", bins.peerErr)
	}
	m := describeMachine(*flagDir)
	fmt.Fprintf(os.Stderr, "bench: %s\n", m.String())
	start := time.Now()
	var runs []run
	for i := range *flagRuns {
		fmt.Fprintf(os.Stderr, "bench: run %d of %d\n", i+1, *flagRuns)
		r, err := oneRun(bins, sel)
		if err != nil {
			return err
		}
		runs = append(runs, r)
	}
	var scaled []scaling
	if len(sizes) > 0 {
		if scaled, err = runScaling(bins, sizes); err != nil {
			return err
		}
	}
	m.Elapsed = time.Since(start)
	report := renderReport(m, sel, runs)
	if len(scaled) > 0 {
		report += renderScaling(scaled)
	}
	fmt.Println(report)
	if !write {
		return nil
	}
	if err := writeDocs(*flagDocs, report); err != nil {
		return err
	}
	return writeChart(filepath.Join(*flagDocs, "performance.svg"), sel, runs)
}

func isSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func selected() ([]scenario, error) {
	if *flagOnly == "" {
		return scenarios, nil
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*flagOnly, ",") {
		n = strings.TrimSpace(n)
		if _, ok := findScenario(n); !ok {
			return nil, fmt.Errorf("unknown scenario %q (see -list)", n)
		}
		want[n] = true
	}
	var out []scenario
	for _, s := range scenarios {
		if want[s.name] {
			out = append(out, s)
		}
	}
	return out, nil
}

func oneRun(bins binaries, sel []scenario) (run, error) {
	r := run{results: map[string]benchkit.Result{}, failed: map[string]string{}}
	root, err := os.MkdirTemp(*flagDir, "walbatch-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(root)
	template := filepath.Join(root, "backlog.wal")
	built := false
	build := func() error {
		if built {
			return nil
		}
		built = true
		res, err := spawn(bins.self, "backlog-build", root, template)
		if err != nil {
			r.failed["backlog-build"] = err.Error()
			return err
		}
		r.results["backlog-build"] = res
		return nil
	}
	for _, s := range sel {
		dir := filepath.Join(root, s.name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return r, err
		}
		file := ""
		switch {
		case s.name == "backlog-build":
			if err := build(); err != nil {
				fmt.Fprintf(os.Stderr, "bench:   %-18s FAILED: %v\n", s.name, err)
			} else {
				logResult(r.results[s.name])
			}
			continue
		case s.backlog:
			if err := build(); err != nil {
				r.failed[s.name] = "no backlog: " + err.Error()
				continue
			}
			file = filepath.Join(dir, "backlog.wal")
			if err := copyFile(template, file); err != nil {
				return r, err
			}
		}
		var res benchkit.Result
		switch {
		case !s.peer:
			res, err = spawn(bins.self, s.name, dir, file)
		case bins.peerErr != nil:
			err = fmt.Errorf("bench/otelq did not build: %w", bins.peerErr)
		default:
			res, err = spawnPeer(bins.peer, s.name, dir)
		}
		_ = os.RemoveAll(dir)
		if err != nil {
			r.failed[s.name] = err.Error()
			fmt.Fprintf(os.Stderr, "bench:   %-18s FAILED: %v\n", s.name, err)
			continue
		}
		r.results[s.name] = res
		logResult(res)
	}
	return r, nil
}

func logResult(res benchkit.Result) {
	fmt.Fprintf(os.Stderr, "bench:   %-18s %12s  cpu %.2fs  %s\n", res.Name, fmtRate(res.Rate), res.CPU, fmtExtra(res))
}

// spawn runs one scenario in a child process.
func spawn(exe, name, dir, file string) (benchkit.Result, error) {
	return runChild(name, exec.Command(exe, "-scenario", name, "-dir", dir, "-file", file,
		"-dur", flagDur.String(), "-backlog", fmt.Sprint(*flagBacklog), "-profile", *flagProfile, "-format", fmt.Sprint(*flagFormat)))
}

// spawnPeer runs one of the OpenTelemetry peer's scenarios in its binary.
func spawnPeer(exe, name, dir string) (benchkit.Result, error) {
	return runChild(name, exec.Command(exe, "-scenario", name, "-dir", dir, "-dur", flagDur.String(), "-profile", *flagProfile))
}

// runChild runs a scenario's subprocess and reads its RESULT line.
func runChild(name string, cmd *exec.Cmd) (benchkit.Result, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return benchkit.Result{}, err
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), benchkit.ResultPrefix); ok {
			var r benchkit.Result
			err := json.Unmarshal([]byte(line), &r)
			return r, err
		}
	}
	return benchkit.Result{}, fmt.Errorf("%s printed no result", name)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	// On disk before the scenario starts: else the scenario's first
	// fdatasync writes back the whole copy, and open measures the copy.
	if err := out.Sync(); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
