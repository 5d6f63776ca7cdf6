package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
)

// The scaling scenario (-scaling): the backlog scenarios (backlog-build,
// open, memory, drain) once at each of several backlog sizes, to show
// whether open time, memory and drain rate stay flat as the backlog grows.
// It is behind a flag because 10M pending is a 3 GB file written, copied
// three times and drained.

// scaling is one backlog size's results.
type scaling struct {
	pending int
	r       run
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-scaling-sizes: %q is not a positive count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// runScaling runs the backlog scenarios at each size, -backlog set to it.
func runScaling(bins binaries, sizes []int) ([]scaling, error) {
	var sel []scenario
	for _, name := range []string{"backlog-build", "open", "memory", "drain"} {
		s, _ := findScenario(name)
		sel = append(sel, s)
	}
	keep := *flagBacklog
	defer func() { *flagBacklog = keep }()
	var out []scaling
	for _, n := range sizes {
		fmt.Fprintf(os.Stderr, "bench: scaling, %d pending\n", n)
		*flagBacklog = n
		r, err := oneRun(bins, sel)
		if err != nil {
			return out, err
		}
		out = append(out, scaling{pending: n, r: r})
	}
	return out, nil
}

func renderScaling(rows []scaling) string {
	var b strings.Builder
	b.WriteString("### Scaling: the backlog scenarios at each backlog size (`-scaling`)\n\n")
	b.WriteString("| pending | file bytes per event | open: first batch | open: Open returned | anon memory waiting | drain | file after drain, compacted |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	cell := func(r run, name string, f func(benchkit.Result) string) string {
		res, ok := r.results[name]
		if !ok {
			if why, failed := r.failed[name]; failed {
				return "failed: " + why
			}
			return "–"
		}
		return f(res)
	}
	for _, row := range rows {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", row.pending,
			cell(row.r, "backlog-build", func(x benchkit.Result) string { return fmt.Sprintf("%.0f B", x.Extra["bytes_per_event"]) }),
			cell(row.r, "open", func(x benchkit.Result) string { return fmt.Sprintf("%.3f s", x.Extra["first_batch_s"]) }),
			cell(row.r, "open", func(x benchkit.Result) string { return fmt.Sprintf("%.3f s", x.Extra["open_s"]) }),
			cell(row.r, "memory", func(x benchkit.Result) string { return fmtBytes(x.Extra["rss_anon_waiting"]) }),
			cell(row.r, "drain", func(x benchkit.Result) string { return fmtRate(x.Rate) + " events/s" }),
			cell(row.r, "drain", func(x benchkit.Result) string {
				return fmtBytes(x.Extra["file_bytes_drained"]) + ", " + fmtBytes(x.Extra["file_bytes_compacted"])
			}))
	}
	b.WriteString("\n")
	return b.String()
}
