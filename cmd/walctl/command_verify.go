package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

type verifyOptions struct {
	path   string
	format format
}

func newVerifyCommand(e *env) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check the file's consistency (read-only)",
		Long: `verify reads the whole file read-only and checks it: every record's
checksum, batch ranges, and the kept counters against what is stored.
It prints OK and exits 0, or prints one line per problem and exits 3.
A file too damaged to open is a problem too (exit 3). It never changes the
file; to fix what it finds, copy the file and run walctl repair.`,
		Example: `  walctl verify events.wal
  walctl verify copy.wal -o json`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			return o.run(e, cmd.OutOrStdout())
		},
	}
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

// verifyReport is verify's JSON output.
type verifyReport struct {
	Path     string   `json:"path"`
	OK       bool     `json:"ok"`
	Problems []string `json:"problems"`
}

func (o *verifyOptions) run(e *env, w io.Writer) error {
	if err := checkFile(o.path); err != nil {
		return err
	}
	p := startProgress(e, "verifying "+o.path, "")
	problems, err := verifyFile(o.path)
	p.end()
	if err != nil {
		// Damage found while opening is a finding, not a failure to verify.
		if !errors.Is(err, store.ErrCorrupt) {
			return explainOpen(o.path, err)
		}
		problems = append(problems, oneLine(err))
	}
	rep := verifyReport{Path: o.path, OK: len(problems) == 0, Problems: problems}
	if rep.Problems == nil {
		rep.Problems = []string{}
	}
	if o.format == formatJSON {
		if err := writeJSON(w, rep); err != nil {
			return err
		}
	} else if rep.OK {
		fmt.Fprintln(w, "OK")
	} else {
		for _, pr := range problems {
			fmt.Fprintln(w, oneLine(fmt.Errorf("%s", pr)))
		}
	}
	if !rep.OK {
		return explained{fmt.Sprintf("%s: verify found %d problems", o.path, len(problems)), errProblems}
	}
	return nil
}

// verifyFile checks the WAL at path read-only and returns one line per
// problem. An error is returned when the file cannot be checked at all.
func verifyFile(path string) ([]string, error) {
	l, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	var problems []string
	for _, name := range l.Streams() {
		s, err := l.Stream(name)
		if err != nil {
			problems = append(problems, fmt.Sprintf("stream %q: %v", name, err))
			continue
		}
		problems = append(problems, verifyStream(s)...)
	}
	return problems, nil
}

// verifyStream checks one stream's records and counters.
func verifyStream(s *wal.Stream) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("stream %q: ", s.Name())+fmt.Sprintf(format, args...))
	}
	st := s.State()
	batches, err := s.Batches()
	if err != nil {
		add("in-flight batches: %v", err)
	}
	inBatch := func(seq uint64) int {
		for i, b := range batches {
			if seq >= b.First && seq <= b.Last {
				return i
			}
		}
		return -1
	}
	var pending, pendingBytes, inflight, inflightBytes uint64
	var oldest int64
	perBatch := make([]int, len(batches))
	err = s.ForEachEvent(0, 0, func(r wal.Record, derr error) error {
		if derr != nil {
			add("event %d: %v", r.Seq, derr)
			return nil
		}
		if oldest == 0 {
			oldest = r.Time.UnixNano()
		}
		if r.Seq >= st.NextSeq {
			add("event %d is past the next sequence number %d", r.Seq, st.NextSeq)
		}
		if i := inBatch(r.Seq); i >= 0 {
			perBatch[i]++
			inflight++
			inflightBytes += uint64(len(r.Payload))
		} else if r.Seq <= st.SealedThrough {
			add("event %d is sealed (through %d) but in no in-flight batch", r.Seq, st.SealedThrough)
		} else {
			pending++
			pendingBytes += uint64(len(r.Payload))
		}
		return nil
	})
	if err != nil {
		add("events: %v", err)
	}
	for i, b := range batches {
		if perBatch[i] != b.Count {
			add("batch %s holds %d events, its record says %d", b.ID, perBatch[i], b.Count)
		}
		if i > 0 && b.First <= batches[i-1].Last {
			add("batch %s overlaps batch %s", b.ID, batches[i-1].ID)
		}
	}
	var dead uint64
	err = s.ForEachDead(func(d wal.DeadLetter) error {
		dead++
		return nil
	})
	if err != nil {
		add("dead letters: %v", err)
	}
	var done uint64
	if err := s.ForEachCompletion(func(wal.Completion) error { done++; return nil }); err != nil {
		add("completion records: %v", err)
	}
	check := func(what string, have, want uint64) {
		if have != want {
			add("%s counter is %d, the file holds %d", what, have, want)
		}
	}
	check("pending events", st.PendingCount, pending)
	check("pending bytes", st.PendingBytes, pendingBytes)
	check("in-flight batches", st.InflightBatches, uint64(len(batches)))
	check("in-flight events", st.InflightCount, inflight)
	check("in-flight bytes", st.InflightBytes, inflightBytes)
	check("dead events", st.DeadCount, dead)
	check("completion records", st.DoneRecords, done)
	if st.OldestNanos != oldest {
		add("oldest-event time is %d, the first event was enqueued at %d", st.OldestNanos, oldest)
	}
	return problems
}
