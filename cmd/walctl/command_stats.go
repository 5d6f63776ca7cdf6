package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/spf13/cobra"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/store"
	"github.com/walbatch/walbatch/wal"
)

type statsOptions struct {
	path   string
	stream string
	format format
}

func newStatsCommand(e *env) *cobra.Command {
	var o statsOptions
	cmd := &cobra.Command{
		Use:   "stats FILE",
		Short: "Show the file and each stream's counters (read-only)",
		Long: `stats shows the file's size, free space, format version and creation time,
and for each stream: pending events and bytes, in-flight batches and events,
dead letters, the age of the first event not yet delivered (the oldest one
but for dead letters requeued behind younger events), the completion
records kept for audit (count and totals) and the totals since the stream
was created. A damaged meta page that bbolt opened past is shown as a
PROBLEM line ("meta page N invalid ...; the file is at transaction T"):
events acknowledged in the newest commit may be missing; run verify, then
repair. It reads kept counters, so it is fast whatever the backlog.`,
		Example: `  walctl stats events.wal
  walctl stats events.wal --stream orders -o json`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.path = args[0]
			return o.run(e, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.stream, "stream", "", "only this stream")
	addFormatFlag(cmd, &o.format, formatTable)
	return cmd
}

type fileReport struct {
	Path          string    `json:"path"`
	SizeBytes     int64     `json:"size_bytes"`
	FreeBytes     int64     `json:"free_bytes"` // not holding live data: what compaction gives back
	PageSize      int       `json:"page_size"`
	FormatVersion uint64    `json:"format_version"`
	Created       time.Time `json:"created,omitzero"`
	FileID        string    `json:"file_id"`
	// Problems is damage found at open that bbolt opened past: an invalid
	// meta page, "meta page N invalid (...); the file is at transaction
	// T: ...". Run walctl verify and repair.
	Problems []string `json:"problems,omitempty"`
}

type streamReport struct {
	Stream           string    `json:"stream"`
	PendingEvents    int64     `json:"pending_events"`
	PendingBytes     int64     `json:"pending_bytes"`
	InFlightBatches  int64     `json:"inflight_batches"`
	InFlightEvents   int64     `json:"inflight_events"`
	InFlightBytes    int64     `json:"inflight_bytes"`
	DeadEvents       int64     `json:"dead_events"`
	DeadBytes        int64     `json:"dead_bytes"`
	OldestPending    time.Time `json:"oldest_pending,omitzero"`
	OldestAgeSeconds *float64  `json:"oldest_pending_age_seconds,omitempty"`
	Recent           recent    `json:"recent_completions"`
	CompletedBatches int64     `json:"completed_batches_total"`
	CompletedEvents  int64     `json:"completed_events_total"`
	LastSeq          uint64    `json:"last_seq"`
	now              time.Time
}

// recent sums the completion records a stream keeps (the last ones, up to
// wal.Options.CompletedKeep).
type recent struct {
	Batches int       `json:"batches"`
	Events  int64     `json:"events"`
	Bytes   int64     `json:"bytes"`
	Last    time.Time `json:"last,omitzero"`
}

type statsReport struct {
	File    fileReport     `json:"file"`
	Streams []streamReport `json:"streams"`
}

func (o *statsOptions) run(e *env, w io.Writer) error {
	l, err := openReadOnly(o.path)
	if err != nil {
		return err
	}
	defer l.Close()
	rep, err := collectStats(l, o.stream, e.now())
	if err != nil {
		return err
	}
	if o.format == formatJSON {
		return writeJSON(w, rep)
	}
	return writeStatsTable(w, rep)
}

func collectStats(l *wal.Log, stream string, now time.Time) (statsReport, error) {
	var rep statsReport
	fs, err := l.Store().FileStats()
	if err != nil {
		return rep, err
	}
	info := l.Store().Info()
	used, err := usedBytes(l.Store())
	if err != nil {
		return rep, err
	}
	rep.File = fileReport{
		Path: l.Path(), SizeBytes: fs.FileSize, FreeBytes: max(fs.FreeBytes, fs.FileSize-used), PageSize: fs.PageSize,
		FormatVersion: info.Version, Created: utc(info.Created), FileID: hex.EncodeToString(info.FileID[:]),
		Problems: l.Store().MetaProblems(),
	}
	streams, err := streamsOf(l, stream)
	if err != nil {
		return rep, err
	}
	rep.Streams = []streamReport{}
	for _, s := range streams {
		st := s.Stats()
		r := streamReport{
			Stream: st.Stream, PendingEvents: st.PendingEvents, PendingBytes: st.PendingBytes,
			InFlightBatches: st.InFlightBatches, InFlightEvents: st.InFlightEvents, InFlightBytes: st.InFlightBytes,
			DeadEvents: st.DeadEvents, DeadBytes: st.DeadBytes, OldestPending: utc(st.OldestPending),
			CompletedBatches: st.CompletedBatches, CompletedEvents: st.CompletedEvents, LastSeq: st.LastSeq, now: now,
		}
		if !st.OldestPending.IsZero() {
			age := math.Round(ageOf(now, st.OldestPending).Seconds()*1000) / 1000
			r.OldestAgeSeconds = &age
		}
		err := s.ForEachCompletion(func(c wal.Completion) error {
			r.Recent.Batches++
			r.Recent.Events += int64(c.Count)
			r.Recent.Bytes += c.Bytes
			if t := time.Unix(0, c.CompletedAt); t.After(r.Recent.Last) {
				r.Recent.Last = t.UTC()
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("stream %q: completion records: %w", s.Name(), err)
		}
		rep.Streams = append(rep.Streams, r)
	}
	return rep, nil
}

func writeStatsTable(w io.Writer, rep statsReport) error {
	tw := newTable(w)
	f := rep.File
	fmt.Fprintf(tw, "file\t%s\n", f.Path)
	fmt.Fprintf(tw, "size\t%d bytes\n", f.SizeBytes)
	fmt.Fprintf(tw, "free\t%d bytes (%.0f%%): free pages and room kept for growth\n", f.FreeBytes, percent(f.FreeBytes, f.SizeBytes))
	fmt.Fprintf(tw, "page size\t%d\n", f.PageSize)
	fmt.Fprintf(tw, "format version\t%d\n", f.FormatVersion)
	fmt.Fprintf(tw, "created\t%s\n", cell(fmtTime(f.Created)))
	fmt.Fprintf(tw, "file id\t%s\n", f.FileID)
	fmt.Fprintf(tw, "streams\t%d\n", len(rep.Streams))
	for _, p := range f.Problems {
		fmt.Fprintf(tw, "PROBLEM\t%s (run walctl verify, then walctl repair)\n", cell(p))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Streams) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := newRows(w, formatTable, []column[streamReport]{
		{"STREAM", func(r streamReport) string { return r.Stream }},
		{"PENDING", func(r streamReport) string { return itoa(r.PendingEvents) }},
		{"PENDING_BYTES", func(r streamReport) string { return itoa(r.PendingBytes) }},
		{"INFLIGHT_BATCHES", func(r streamReport) string { return itoa(r.InFlightBatches) }},
		{"INFLIGHT_EVENTS", func(r streamReport) string { return itoa(r.InFlightEvents) }},
		{"DEAD", func(r streamReport) string { return itoa(r.DeadEvents) }},
		{"OLDEST_AGE", func(r streamReport) string { return fmtAge(r.now, r.OldestPending) }},
		{"RECENT_BATCHES", func(r streamReport) string { return itoa(r.Recent.Batches) }},
		{"RECENT_EVENTS", func(r streamReport) string { return itoa(r.Recent.Events) }},
		{"TOTAL_BATCHES", func(r streamReport) string { return itoa(r.CompletedBatches) }},
		{"TOTAL_EVENTS", func(r streamReport) string { return itoa(r.CompletedEvents) }},
	})
	for _, r := range rep.Streams {
		if err := t.add(r); err != nil {
			return err
		}
	}
	return t.close()
}

// usedBytes is the size of the pages that hold live data: the two meta
// pages, the freelist (counted as one page) and every bucket's pages. The
// rest of the file is free pages and room bbolt reserved for growth: what
// compaction gives back. (A read-only open does not load bbolt's freelist,
// so store.FileStats cannot report free pages there.) It reads every
// page of the tree once.
func usedBytes(db *store.DB) (int64, error) {
	var used int64
	err := storetx.View(db, func(tx *bolt.Tx) error {
		used = 3 * int64(tx.DB().Info().PageSize)
		return tx.ForEach(func(_ []byte, b *bolt.Bucket) error {
			s := b.Stats()
			used += int64(s.BranchAlloc + s.LeafAlloc)
			return nil
		})
	})
	return used, err
}

func percent(part, whole int64) float64 {
	if whole == 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}
