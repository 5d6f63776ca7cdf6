package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/store"
)

type verifyOptions struct {
	path   string
	max    int
	format format
}

func newVerifyCommand(e *env) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check the file's consistency (read-only)",
		Long: `verify reads the whole file read-only and checks it with recovery.Verify:
bbolt's pages, every record's checksum, batch records and ranges, and the
kept counters against what is stored.
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
	cmd.Flags().IntVar(&o.max, "max-problems", 1000, "list at most this many problems, count the rest (negative: list all)")
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

// verifyReport is verify's JSON output.
type verifyReport struct {
	Path         string          `json:"path"`
	OK           bool            `json:"ok"`
	Streams      int             `json:"streams"`
	PagesChecked bool            `json:"pages_checked"`
	Problems     []verifyProblem `json:"problems"`
	Omitted      int             `json:"omitted,omitempty"`
}

type verifyProblem struct {
	Kind    string `json:"kind"`
	Stream  string `json:"stream,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Message string `json:"message"`
	line    string
}

func (o *verifyOptions) run(e *env, w io.Writer) error {
	if err := checkFile(o.path); err != nil {
		return err
	}
	p := startProgress(e, "verifying "+o.path, "")
	rep, err := recovery.Verify(o.path, &recovery.VerifyOptions{LockTimeout: lockTimeout, MaxProblems: o.max})
	p.end()
	out := verifyReport{Path: o.path, Problems: []verifyProblem{}}
	switch {
	case err == nil:
		out.Streams, out.PagesChecked, out.Omitted = len(rep.Streams), rep.PagesChecked, rep.Omitted
		for _, pr := range rep.Problems {
			out.Problems = append(out.Problems, verifyProblem{
				Kind: string(pr.Kind), Stream: pr.Stream, Seq: pr.Seq, Message: pr.Msg, line: pr.String()})
		}
	case errors.Is(err, store.ErrCorrupt) && !errors.Is(err, store.ErrLocked):
		// Damage found while opening is a finding, not a failure to verify.
		out.Problems = append(out.Problems, verifyProblem{Kind: "file", Message: oneLine(err), line: "file: " + oneLine(err)})
	default:
		return explainOpen(o.path, err)
	}
	out.OK = len(out.Problems) == 0 && out.Omitted == 0
	if o.format == formatJSON {
		if err := writeJSON(w, out); err != nil {
			return err
		}
	} else if out.OK {
		fmt.Fprintln(w, "OK")
	} else {
		for _, pr := range out.Problems {
			fmt.Fprintln(w, cell(pr.line))
		}
		if out.Omitted > 0 {
			fmt.Fprintf(w, "... and %d more problems (raise --max-problems to list them)\n", out.Omitted)
		}
	}
	if !out.OK {
		n := len(out.Problems) + out.Omitted
		return explained{fmt.Sprintf("%s: verify found %d problems; see https://github.com/walbatch/walbatch/blob/main/docs/operations.md#a-damaged-file", o.path, n), errProblems}
	}
	return nil
}
