package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/store"
)

type migrateOptions struct {
	path   string
	format uint64
}

func newMigrateCommand(e *env) *cobra.Command {
	var o migrateOptions
	cmd := &cobra.Command{
		Use:   "migrate FILE",
		Short: "Bring the file to the newest format (changes the file)",
		Long: fmt.Sprintf(`migrate brings a WAL written in an older format to format %d (or to the one
--format names), as opening it for writing in a service does. Format 2
stores many events per value; the migration rewrites each stream's counters
record (format 2 stores 11 counters and derives the others) and changes the
file's version, in one transaction: a crash leaves the file in one format or
the other, whole, and the events it holds are read as they are. A file is never taken
back to an older format. The other commands that change a file keep its
format. The file must not be in use.`, store.FormatVersion),
		Example: `  walctl migrate events.wal`,
		Args:    exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			if o.format < 1 || o.format > store.FormatVersion {
				return usageErrorf("migrate --format %d: this walctl writes formats 1 to %d", o.format, store.FormatVersion)
			}
			return o.run(cmd.OutOrStdout())
		},
	}
	cmd.Flags().Uint64Var(&o.format, "format", store.FormatVersion, "the format to migrate to")
	return cmd
}

func (o *migrateOptions) run(w io.Writer) error {
	before, err := fileFormat(o.path)
	if err != nil {
		return err
	}
	if before >= o.format {
		_, err := fmt.Fprintf(w, "%s is at format %d already: nothing to do\n", o.path, before)
		return err
	}
	db, err := store.Open(o.path, &store.Options{LockTimeout: lockTimeout, AutoCompactRatio: -1, Format: o.format})
	if err != nil {
		return explainOpen(o.path, err)
	}
	after := db.Info().Version
	if err := db.Close(); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "migrated %s from format %d to %d\n", o.path, before, after)
	return err
}
