package main

import (
	"errors"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/walbatch/walbatch/wal"
)

type lsOptions struct {
	path    string
	stream  string
	state   string
	limit   int
	batches bool
	format  format
}

func newLsCommand(e *env) *cobra.Command {
	var o lsOptions
	cmd := &cobra.Command{
		Use:   "ls FILE",
		Short: "List events, one line each (read-only)",
		Long: `ls lists events one line each: stream, sequence number, event ID, state
(pending, inflight or dead), enqueue time, batch key and payload size.
Events come in sequence order per stream, dead letters after them.
With --batches it lists in-flight batches instead, one line each.`,
		Example: `  walctl ls events.wal --stream orders --state pending --limit 20
  walctl ls events.wal --batches -o json`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			switch o.state {
			case "", statePending, stateInflight, stateDead:
			default:
				return usageErrorf("--state must be pending, inflight or dead, not %q", o.state)
			}
			if o.limit < 0 {
				return usageErrorf("--limit must not be negative")
			}
			return o.run(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.stream, "stream", "", "only this stream")
	cmd.Flags().StringVar(&o.state, "state", "", "only events in this state: pending, inflight or dead")
	cmd.Flags().IntVar(&o.limit, "limit", 0, "stop after this many lines (0: no limit)")
	cmd.Flags().BoolVar(&o.batches, "batches", false, "list in-flight batches instead of events")
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

const (
	statePending  = "pending"
	stateInflight = "inflight"
	stateDead     = "dead"
)

// eventRow is one event in ls output.
type eventRow struct {
	Stream string    `json:"stream"`
	Seq    uint64    `json:"seq"`
	ID     string    `json:"id,omitempty"`
	State  string    `json:"state"`
	Time   time.Time `json:"time,omitzero"`
	Key    string    `json:"key"`
	Size   int       `json:"size"`
	Error  string    `json:"error,omitempty"`
}

var eventColumns = []column[eventRow]{
	{"STREAM", func(r eventRow) string { return r.Stream }},
	{"SEQ", func(r eventRow) string { return itoa(r.Seq) }},
	{"ID", func(r eventRow) string { return r.ID }},
	{"STATE", func(r eventRow) string { return r.State }},
	{"ENQUEUED", func(r eventRow) string { return fmtTime(r.Time) }},
	{"KEY", func(r eventRow) string { return r.Key }},
	{"SIZE", func(r eventRow) string { return itoa(r.Size) }},
	{"ERROR", func(r eventRow) string { return r.Error }},
}

// errLimit stops a walk once --limit lines are out.
var errLimit = errors.New("limit reached")

func (o *lsOptions) run(w io.Writer) error {
	l, err := openReadOnly(o.path)
	if err != nil {
		return err
	}
	defer l.Close()
	streams, err := streamsOf(l, o.stream)
	if err != nil {
		return err
	}
	if o.batches {
		return writeBatches(w, o.format, streams, o.limit)
	}
	out := newRows(w, o.format, eventColumns)
	n := 0
	emit := func(r eventRow) error {
		if o.limit > 0 && n >= o.limit {
			return errLimit
		}
		n++
		return out.add(r)
	}
	for _, s := range streams {
		err := walkEvents(s, 0, 0, o.state, func(ev walkedEvent) error {
			return emit(ev.row())
		})
		if errors.Is(err, errLimit) {
			break
		}
		if err != nil {
			_ = out.close()
			return err
		}
	}
	return out.close()
}

// walkedEvent is an event found by walkEvents: a live event (pending or in
// flight) or a dead letter.
type walkedEvent struct {
	stream string
	codec  string // the stream's recorded codec (wal.Stream.Codec)
	state  string
	rec    wal.Record
	err    error  // the record does not decode
	raw    []byte // a dead letter's stored bytes
	dead   *wal.DeadLetter
}

func (ev walkedEvent) row() eventRow {
	r := eventRow{Stream: ev.stream, Seq: ev.rec.Seq, State: ev.state}
	if ev.err != nil {
		r.Error = oneLine(ev.err)
		r.Size = len(ev.raw)
		return r
	}
	r.ID, r.Time, r.Key, r.Size = ev.rec.ID.String(), utc(ev.rec.Time), ev.rec.Key, len(ev.rec.Payload)
	return r
}

// walkEvents calls fn for the stream's events with from <= seq <= to (to 0:
// no bound) in the given state ("" for all): live events in sequence order,
// then dead letters. A record that does not decode is passed with its error.
func walkEvents(s *wal.Stream, from, to uint64, state string, fn func(walkedEvent) error) error {
	sealed := s.Stats().SealedThrough
	if state != stateDead {
		err := s.ForEachEvent(from, to, func(r wal.Record, err error) error {
			st := statePending
			if r.Seq <= sealed {
				st = stateInflight
			}
			if state != "" && state != st {
				return nil
			}
			return fn(walkedEvent{stream: s.Name(), codec: s.Codec(), state: st, rec: r, err: err})
		})
		if err != nil {
			return err
		}
	}
	if state != "" && state != stateDead {
		return nil
	}
	return s.ForEachDead(func(d wal.DeadLetter) error {
		seq := d.Record.Seq
		if seq < from || (to != 0 && seq > to) {
			return nil
		}
		return fn(walkedEvent{stream: s.Name(), codec: s.Codec(), state: stateDead, rec: d.Record, err: d.Err, raw: d.Raw, dead: &d})
	})
}
