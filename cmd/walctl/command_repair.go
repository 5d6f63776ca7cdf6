package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/recovery"
	"github.com/walbatch/walbatch/store"
)

type repairOptions struct {
	path   string
	format format
}

func newRepairCommand(e *env) *cobra.Command {
	var o repairOptions
	cmd := &cobra.Command{
		Use:   "repair FILE",
		Short: "Make a damaged file consistent, keeping a copy of the original (changes the file)",
		Long: `repair runs recovery.Repair on FILE. It verifies the file first and changes
nothing if it is consistent. Otherwise it copies the file to
FILE.broken-<time> before any change, rebuilds the file from its readable
pages if bbolt's own structure is damaged, and makes every stream
consistent: records that fail their checksum become dead letters with reason
"corrupt: ...", nothing it cannot read is deleted. It prints each action and
where the original copy is, then verifies again: exit 0 when the file is now
consistent, 3 when problems remain.
The file must not be in use. Run walctl verify first to see what is wrong.`,
		Example: `  walctl verify events.wal
  walctl repair events.wal`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			return o.run(e, cmd.OutOrStdout())
		},
	}
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

// repairReport is repair's JSON output.
type repairReport struct {
	Path           string   `json:"path"`
	Repaired       bool     `json:"repaired"`
	Backup         string   `json:"backup,omitempty"`
	Rebuilt        bool     `json:"rebuilt"`
	Actions        []string `json:"actions"`
	Unrepaired     []string `json:"unrepaired"`
	ProblemsBefore int      `json:"problems_before"`
	ProblemsAfter  int      `json:"problems_after"`
}

func problemCount(r *recovery.Report) int {
	if r == nil {
		return 0
	}
	return len(r.Problems) + r.Omitted
}

func (o *repairOptions) run(e *env, w io.Writer) error {
	if err := checkFile(o.path); err != nil {
		return err
	}
	p := startProgress(e, "repairing "+o.path, "")
	rep, err := recovery.Repair(o.path, &recovery.RepairOptions{LockTimeout: lockTimeout})
	p.end()
	if err != nil {
		return o.failed(rep, err)
	}
	out := repairReport{
		Path: o.path, Repaired: rep.Backup != "", Backup: rep.Backup, Rebuilt: rep.Rebuilt,
		Actions: nonNil(rep.Actions), Unrepaired: nonNil(rep.Unrepaired),
		ProblemsBefore: problemCount(rep.Before), ProblemsAfter: problemCount(rep.After),
	}
	if o.format == formatJSON {
		err = writeJSON(w, out)
	} else {
		err = writeRepairText(w, out)
	}
	if err != nil {
		return err
	}
	if out.ProblemsAfter > 0 {
		return explained{fmt.Sprintf("%s: %d problems remain after repair; the original is at %s", o.path, out.ProblemsAfter, out.Backup), errProblems}
	}
	return nil
}

// failed explains a repair that stopped, saying where the original copy is
// when one was made.
func (o *repairOptions) failed(rep *recovery.RepairReport, err error) error {
	kept := ""
	if rep != nil && rep.Backup != "" {
		kept = "; the original is kept at " + rep.Backup
	}
	if errors.Is(err, recovery.ErrUnrepairable) {
		return explained{fmt.Sprintf("%s: cannot be repaired (%s)%s; the file is left as it was", o.path, oneLine(err), kept),
			errors.Join(err, store.ErrCorrupt)}
	}
	if kept == "" {
		return explainOpen(o.path, err)
	}
	return explained{fmt.Sprintf("%s: repair failed: %s%s", o.path, oneLine(err), kept), err}
}

func writeRepairText(w io.Writer, r repairReport) error {
	if !r.Repaired {
		_, err := fmt.Fprintf(w, "%s: nothing to repair (verify found no problems)\n", r.Path)
		return err
	}
	fmt.Fprintf(w, "%s: repaired %d problems with %d actions\n", r.Path, r.ProblemsBefore, len(r.Actions))
	fmt.Fprintf(w, "original kept at %s\n", r.Backup)
	if r.Rebuilt {
		fmt.Fprintln(w, "rebuilt the file from its readable pages")
	}
	for _, a := range r.Actions {
		fmt.Fprintf(w, "  %s\n", cell(a))
	}
	for _, u := range r.Unrepaired {
		fmt.Fprintf(w, "  left as is: %s\n", cell(u))
	}
	if r.ProblemsAfter == 0 {
		_, err := fmt.Fprintln(w, "verify after repair: OK")
		return err
	}
	_, err := fmt.Fprintf(w, "verify after repair: %d problems remain\n", r.ProblemsAfter)
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
