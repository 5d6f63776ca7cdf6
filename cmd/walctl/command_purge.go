package main

import (
	"io"

	"github.com/spf13/cobra"
)

type purgeOptions struct {
	path   string
	stream string
	state  string
	yes    bool
	format format
}

func newPurgeCommand(e *env) *cobra.Command {
	var o purgeOptions
	cmd := &cobra.Command{
		Use:   "purge FILE --stream S --state dead --yes",
		Short: "Delete a stream's dead letters for good (changes the file)",
		Long: `purge deletes every dead letter of one stream. There is no undo: inspect
them first with "walctl dead" or "walctl dump", keep a copy of the file if
in doubt, and requeue the ones that should be delivered. Without --yes it
only says how many it would delete and exits with status 2.
Only dead letters can be purged (--state dead): pending and in-flight
events are acknowledged data, never deleted by walctl.
The file is opened for writing: stop the process that uses it first.`,
		Example: `  walctl purge events.wal --stream orders --state dead --yes`,
		Args:    exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			switch {
			case o.stream == "":
				return usageErrorf("purge needs --stream: it works on one stream at a time")
			case o.state != stateDead:
				return usageErrorf("purge needs --state dead: only dead letters can be purged")
			}
			return o.run(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.stream, "stream", "", "the stream whose dead letters to delete (required)")
	cmd.Flags().StringVar(&o.state, "state", "", "what to delete; must be dead (required)")
	cmd.Flags().BoolVar(&o.yes, "yes", false, "really delete; without it purge only counts")
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

type purgeRow struct {
	Stream  string `json:"stream"`
	Deleted int    `json:"deleted"`
}

func (o *purgeOptions) run(w io.Writer) error {
	if !o.yes {
		l, err := openReadOnly(o.path)
		if err != nil {
			return err
		}
		defer l.Close()
		streams, err := streamsOf(l, o.stream)
		if err != nil {
			return err
		}
		n := streams[0].Stats().DeadEvents
		return usageErrorf("refusing to purge without --yes: it would delete %d dead letters of stream %q for good", n, o.stream)
	}
	l, err := openReadWrite(o.path)
	if err != nil {
		return err
	}
	defer l.Close()
	streams, err := streamsOf(l, o.stream)
	if err != nil {
		return err
	}
	n, err := streams[0].PurgeDead()
	if err != nil {
		return err
	}
	if err := l.Close(); err != nil {
		return err
	}
	if o.format == formatJSON {
		return writeJSON(w, purgeRow{Stream: o.stream, Deleted: n})
	}
	_, err = io.WriteString(w, "purged "+itoa(n)+" dead letters of stream "+o.stream+"\n")
	return err
}
