package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/store"
)

type compactOptions struct {
	path   string
	output string
}

func newCompactCommand(e *env) *cobra.Command {
	var o compactOptions
	cmd := &cobra.Command{
		Use:   "compact FILE",
		Short: "Rewrite the file without its free space (changes the file)",
		Long: `compact rewrites the WAL without its free pages, which bbolt keeps for reuse
but never returns to the file system. Without --output the file is replaced
atomically (a crash leaves the old file or the new one, whole); with
--output the compacted copy goes to a new file (which must not exist, in a
directory that does) and FILE is only read, so it may be on a read-only
filesystem. A symbolic link FILE is followed: the file it points to is
compacted and the link kept.
It prints the sizes before and after. The file must not be in use.`,
		Example: `  walctl compact events.wal
  walctl compact events.wal --output events.compact.wal`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			if cmd.Flags().Changed("output") && o.output == "" {
				return usageErrorf("compact --output needs a file name; without --output, FILE is compacted in place")
			}
			return o.run(e, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.output, "output", "", "write the compacted copy to this new file instead of replacing FILE")
	return cmd
}

func (o *compactOptions) run(e *env, w io.Writer) error {
	if err := checkFile(o.path); err != nil {
		return err
	}
	p := startProgress(e, "compacting "+o.path, "")
	res, err := store.CompactFile(o.path, o.output, &store.Options{LockTimeout: lockTimeout})
	p.end()
	if err != nil {
		return explainOpen(o.path, err)
	}
	target := o.path
	if o.output != "" {
		target = o.output
	}
	_, err = fmt.Fprintf(w, "compacted %s: %d bytes before, %d bytes after (%s)\n",
		target, res.BeforeBytes, res.AfterBytes, saved(res.BeforeBytes, res.AfterBytes))
	return err
}

func saved(before, after int64) string {
	if after >= before {
		return "nothing saved"
	}
	return fmt.Sprintf("%d bytes saved, %.0f%%", before-after, percent(before-after, before))
}
