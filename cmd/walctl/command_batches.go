package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/wal"
)

type batchesOptions struct {
	path   string
	stream string
	format format
}

func newBatchesCommand(e *env) *cobra.Command {
	var o batchesOptions
	cmd := &cobra.Command{
		Use:   "batches FILE",
		Short: "List in-flight batches (read-only)",
		Long: `batches lists the in-flight batches: sealed from pending events and not yet
completed or dead-lettered. For each: its stable ID (the one dispatchers send
as the idempotency key), the range of sequence numbers it still holds, event
count and bytes, batch key, failed attempts so far, when it may be tried
again, and the last error.`,
		Example: `  walctl batches events.wal
  walctl batches events.wal --stream orders -o json`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			l, err := openReadOnly(o.path)
			if err != nil {
				return err
			}
			defer l.Close()
			streams, err := streamsOf(l, o.stream)
			if err != nil {
				return err
			}
			return writeBatches(cmd.OutOrStdout(), o.format, streams, 0)
		},
	}
	cmd.Flags().StringVar(&o.stream, "stream", "", "only this stream")
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

// batchRow is one in-flight batch in batches and ls --batches output.
type batchRow struct {
	Stream      string    `json:"stream"`
	ID          string    `json:"id"`
	Seq         uint64    `json:"seq"`
	First       uint64    `json:"first"`
	Last        uint64    `json:"last"`
	Count       int       `json:"count"`
	Bytes       int64     `json:"bytes"`
	Key         string    `json:"key"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	Sealed      time.Time `json:"sealed,omitzero"`
	Delivered   int       `json:"delivered"`       // events of the batch delivered by partial results
	DeliveredBy int64     `json:"delivered_bytes"` // their payload bytes
	LastError   string    `json:"last_error,omitempty"`
}

var batchColumns = []column[batchRow]{
	{"STREAM", func(r batchRow) string { return r.Stream }},
	{"ID", func(r batchRow) string { return r.ID }},
	{"RANGE", func(r batchRow) string { return fmt.Sprintf("%d-%d", r.First, r.Last) }},
	{"COUNT", func(r batchRow) string { return itoa(r.Count) }},
	{"BYTES", func(r batchRow) string { return itoa(r.Bytes) }},
	{"KEY", func(r batchRow) string { return r.Key }},
	{"ATTEMPTS", func(r batchRow) string { return itoa(r.Attempts) }},
	{"NEXT_ATTEMPT", func(r batchRow) string { return fmtTime(r.NextAttempt) }},
	{"SEALED", func(r batchRow) string { return fmtTime(r.Sealed) }},
	{"LAST_ERROR", func(r batchRow) string { return r.LastError }},
}

func batchRowOf(stream string, b wal.Batch) batchRow {
	r := batchRow{
		Stream: stream, ID: b.ID, Seq: b.Seq, First: b.First, Last: b.Last, Count: b.Count, Bytes: b.Bytes,
		Key: b.Key, Attempts: b.Attempts, NextAttempt: utc(b.NextAttemptTime()), Delivered: b.Delivered,
		DeliveredBy: b.DeliveredBytes, LastError: b.LastError,
	}
	if b.SealedAt != 0 {
		r.Sealed = time.Unix(0, b.SealedAt).UTC()
	}
	return r
}

// writeBatches lists the in-flight batches of streams, at most limit of
// them (0: all).
func writeBatches(w io.Writer, f format, streams []*wal.Stream, limit int) error {
	out := newRows(w, f, batchColumns)
	n := 0
	for _, s := range streams {
		bs, err := s.Batches()
		if err != nil {
			_ = out.close()
			return fmt.Errorf("stream %q: %w", s.Name(), err)
		}
		for _, b := range bs {
			if limit > 0 && n >= limit {
				return out.close()
			}
			n++
			if err := out.add(batchRowOf(s.Name(), b)); err != nil {
				return err
			}
		}
	}
	return out.close()
}
