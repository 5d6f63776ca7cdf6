package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/wal"
)

type deadOptions struct {
	path   string
	stream string
	limit  int
	format format
}

func newDeadCommand(e *env) *cobra.Command {
	var o deadOptions
	cmd := &cobra.Command{
		Use:   "dead FILE",
		Short: "List dead letters with their reasons (read-only)",
		Long: `dead lists the dead letters: events that were not delivered and will not be
retried, each with its event ID, the batch it failed in, the reason, the
attempts made and when it was dead-lettered. Records quarantined because
their checksum failed show with an empty ID and the decode error.
To send dead letters again use walctl requeue; to delete them, walctl purge.`,
		Example: `  walctl dead events.wal
  walctl dead events.wal --stream orders -o json`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			if o.limit < 0 {
				return usageErrorf("--limit must not be negative")
			}
			return o.run(cmd)
		},
	}
	cmd.Flags().StringVar(&o.stream, "stream", "", "only this stream")
	cmd.Flags().IntVar(&o.limit, "limit", 0, "stop after this many dead letters (0: no limit)")
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

// deadRow is one dead letter.
type deadRow struct {
	Stream   string    `json:"stream"`
	Seq      uint64    `json:"seq"`
	ID       string    `json:"id,omitempty"`
	Batch    string    `json:"batch,omitempty"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	At       time.Time `json:"dead_at,omitzero"`
	Enqueued time.Time `json:"enqueued,omitzero"`
	Key      string    `json:"key"`
	Size     int       `json:"size"`
	Error    string    `json:"error,omitempty"`
	// The payload, as dump shows it (JSON output only).
	payloadFields
}

var deadColumns = []column[deadRow]{
	{"STREAM", func(r deadRow) string { return r.Stream }},
	{"SEQ", func(r deadRow) string { return itoa(r.Seq) }},
	{"ID", func(r deadRow) string { return r.ID }},
	{"BATCH", func(r deadRow) string { return r.Batch }},
	{"ATTEMPTS", func(r deadRow) string { return itoa(r.Attempts) }},
	{"DEAD_AT", func(r deadRow) string { return fmtTime(r.At) }},
	{"SIZE", func(r deadRow) string { return itoa(r.Size) }},
	{"REASON", func(r deadRow) string {
		if r.Error != "" {
			return r.Reason + " [record unreadable: " + r.Error + "]"
		}
		return r.Reason
	}},
}

func deadRowOf(stream, codec string, d wal.DeadLetter) deadRow {
	r := deadRow{Stream: stream, Seq: d.Record.Seq, Batch: d.BatchID, Reason: d.Reason, Attempts: d.Attempts, At: utc(d.At)}
	if d.Err != nil {
		r.Error, r.Size = oneLine(d.Err), len(d.Raw)
		return r
	}
	r.ID, r.Enqueued, r.Key, r.Size = d.Record.ID.String(), utc(d.Record.Time), d.Record.Key, len(d.Record.Payload)
	r.payloadFields = payloadOf(d.Record.Payload, codec, false, "base64")
	return r
}

func (o *deadOptions) run(cmd *cobra.Command) error {
	l, err := openReadOnly(o.path)
	if err != nil {
		return err
	}
	defer l.Close()
	streams, err := streamsOf(l, o.stream)
	if err != nil {
		return err
	}
	out := newRows(cmd.OutOrStdout(), o.format, deadColumns)
	n := 0
	for _, s := range streams {
		err := s.ForEachDead(func(d wal.DeadLetter) error {
			if o.limit > 0 && n >= o.limit {
				return errLimit
			}
			n++
			return out.add(deadRowOf(s.Name(), s.Codec(), d))
		})
		if errors.Is(err, errLimit) {
			break
		}
		if err != nil {
			_ = out.close()
			return fmt.Errorf("stream %q: %w", s.Name(), err)
		}
	}
	return out.close()
}
