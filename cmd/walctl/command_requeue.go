package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/wal"
)

type requeueOptions struct {
	path   string
	stream string
	all    bool
	ids    []wal.EventID
	format format
}

func newRequeueCommand(e *env) *cobra.Command {
	var o requeueOptions
	cmd := &cobra.Command{
		Use:   "requeue FILE (--all | EVENT-ID...)",
		Short: "Move dead letters back to pending (changes the file)",
		Long: `requeue moves dead letters back to pending, at the end of their stream, so
the next processor that opens the file dispatches them again. Each event
keeps its ID, enqueue time, key and payload (receivers can still drop a
redelivery by ID); it gets a new sequence number. Records whose checksum
fails stay dead. Select the events by ID (as "walctl dead" prints them), or
all dead letters with --all (of one stream with --stream).
The file is opened for writing: stop the process that uses it first.
Every ID must name a dead letter, or nothing is changed.`,
		Example: `  walctl requeue events.wal --stream orders --all
  walctl requeue events.wal 3f2a9c0d1e7b5a4c0000000000000007`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return usageErrorf("requeue takes FILE and either --all or event IDs")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			switch {
			case o.all && len(args) > 1:
				return usageErrorf("give either --all or event IDs, not both")
			case !o.all && len(args) == 1:
				return usageErrorf("give event IDs to requeue, or --all")
			}
			for _, a := range args[1:] {
				id, err := wal.ParseEventID(a)
				if err != nil {
					return usageErrorf("%q is not an event ID (32 hex digits, as walctl dead prints)", a)
				}
				o.ids = append(o.ids, id)
			}
			return o.run(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.stream, "stream", "", "only this stream")
	cmd.Flags().BoolVar(&o.all, "all", false, "requeue every dead letter (of --stream, or of every stream)")
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

type requeueRow struct {
	Stream   string `json:"stream"`
	Requeued int    `json:"requeued"`
	Skipped  int    `json:"skipped_corrupt"`
}

func (o *requeueOptions) run(w io.Writer) error {
	l, err := openReadWrite(o.path)
	if err != nil {
		return err
	}
	defer l.Close()
	streams, err := streamsOf(l, o.stream)
	if err != nil {
		return err
	}
	// With IDs: find which stream holds each one first, so that a wrong ID
	// changes nothing.
	selected := map[string][]wal.EventID{}
	if !o.all {
		found := map[wal.EventID]string{}
		for _, s := range streams {
			err := s.ForEachDead(func(d wal.DeadLetter) error {
				if d.Err == nil {
					found[d.Record.ID] = s.Name()
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("stream %q: %w", s.Name(), err)
			}
		}
		var missing []string
		for _, id := range o.ids {
			name, ok := found[id]
			if !ok {
				missing = append(missing, id.String())
				continue
			}
			selected[name] = append(selected[name], id)
		}
		if len(missing) > 0 {
			return fmt.Errorf("not dead letters in %s: %s (nothing requeued)", o.path, strings.Join(missing, ", "))
		}
	}
	out := newRows(w, o.format, []column[requeueRow]{
		{"STREAM", func(r requeueRow) string { return r.Stream }},
		{"REQUEUED", func(r requeueRow) string { return itoa(r.Requeued) }},
		{"SKIPPED_CORRUPT", func(r requeueRow) string { return itoa(r.Skipped) }},
	})
	for _, s := range streams {
		var ids []wal.EventID // nil: all
		if !o.all {
			if ids = selected[s.Name()]; ids == nil {
				continue
			}
		}
		res, err := s.Requeue(ids)
		if err != nil {
			_ = out.close()
			return err
		}
		if err := out.add(requeueRow{Stream: s.Name(), Requeued: res.Requeued, Skipped: res.Skipped}); err != nil {
			return err
		}
	}
	if err := out.close(); err != nil {
		return err
	}
	return l.Close()
}
