package recovery

import (
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/storetx"
	"github.com/walbatch/walbatch/wal"
)

// PlanOptions configures Plan. A nil *PlanOptions means the defaults.
type PlanOptions struct {
	// Streams limits the plan to these streams; empty means every stream.
	// A named stream the file lacks is wal.ErrNoStream.
	Streams []string
	// DryRun reports what the checks at open would fix without changing
	// the file. A read-only log is always planned as a dry run.
	DryRun bool
	// Now is the time ages are measured from. Default time.Now().
	Now time.Time
}

// Recovery is what Plan found at open: per stream, what to dispatch again
// and what is waiting.
type Recovery struct {
	Path    string
	At      time.Time
	Streams []StreamRecovery
	// File lists damage to the file as a whole that the log's open found
	// and bbolt opened past: an invalid meta page (see
	// store.DB.MetaProblems), which may mean the newest commit, with
	// acknowledged events, is missing. Stop the process and run Repair:
	// the next commit rewrites that page, and with it what Repair could
	// restore.
	File []Problem
	// FileRepaired says what the log's open repaired in the file as a
	// whole: a newest commit restored by rewriting its meta page's
	// damaged checksum (store.DB.MetaRestored).
	FileRepaired []string
}

// StreamRecovery is one stream's part of a Recovery.
type StreamRecovery struct {
	Stream string
	// Redispatch are the in-flight batches to dispatch again, in seal
	// order, with their IDs, attempt counts and retry times unchanged.
	Redispatch []wal.Batch
	// RedispatchEvents is the number of events in Redispatch.
	RedispatchEvents int64
	// Pending is what waits to be sealed into batches.
	PendingEvents int64
	PendingBytes  int64
	// OldestPending is the enqueue time of the oldest event not completed
	// (zero if none); OldestAge is its age at At.
	OldestPending time.Time
	OldestAge     time.Duration
	// Dead is the dead-letter store.
	DeadEvents int64
	DeadBytes  int64
	// Repaired lists what Plan fixed, one line each.
	Repaired []string
	// Problems lists damage Plan found and could not fix without a scan:
	// run Verify and Repair on the closed file.
	Problems []Problem
}

// Plan reports what recovery finds in an open log: for each stream the
// in-flight batches to dispatch again (the processor dispatches them before
// cutting new ones), the pending backlog, the dead letters, and anything
// it repaired. Its cost does not grow with the backlog: it reads the
// counters, the batch records and the events inside in-flight batches, and
// looks up the first and last keys of each bucket and, in a format 1 file,
// the first event of each requeued run.
//
// Unless opts.DryRun (or the log is read-only), Plan fixes, in one
// transaction per stream, what it can prove from those reads: a NextSeq
// or NextBatch not above every key (which would overwrite records), a
// batch record whose count or bytes disagree with its range, a batch whose
// range holds no events at all (nothing is lost by dropping it), in-flight
// counters that disagree with the batches, an OldestPending that is not
// the first live event's time (in a format 1 file, the oldest of that and
// the first of each requeued run), and
// pending or dead counters that are zero when events exist or non-zero
// when none do. Everything else is listed in Problems, and such batches
// are left out of Redispatch.
func Plan(l *wal.Log, opts *PlanOptions) (*Recovery, error) {
	var o PlanOptions
	if opts != nil {
		o = *opts
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	dry := o.DryRun || l.Store().ReadOnly()
	runs := l.Store().Info().Version >= 2
	names := o.Streams
	if len(names) == 0 {
		names = l.Streams()
	}
	rec := &Recovery{Path: l.Path(), At: o.Now}
	if m := l.Store().MetaRestored(); m != "" {
		rec.FileRepaired = append(rec.FileRepaired, m)
	}
	for _, p := range l.Store().MetaProblems() {
		rec.File = append(rec.File, Problem{Kind: KindFile, Msg: p})
	}
	for _, name := range names {
		s, err := l.Stream(name)
		if err != nil {
			return nil, fmt.Errorf("recovery: plan %q: %w", name, err)
		}
		var sr StreamRecovery
		if dry {
			err = storetx.View(l.Store(), func(tx *bolt.Tx) error {
				st := format.StreamState(s)
				sr, _ = planStream(tx, s, &st, "would fix: ", runs)
				return nil
			})
		} else {
			err = format.RewriteStream(s, func(tx *bolt.Tx, st *format.State) error {
				var fixes []batchFix
				sr, fixes = planStream(tx, s, st, "", runs)
				if len(sr.Repaired) == 0 {
					return errNoChange
				}
				return applyFixes(tx, s, fixes)
			})
			if errors.Is(err, errNoChange) {
				err = nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("recovery: plan %q: %w", name, err)
		}
		st := s.Stats()
		sr.PendingEvents, sr.PendingBytes = st.PendingEvents, st.PendingBytes
		sr.DeadEvents, sr.DeadBytes = st.DeadEvents, st.DeadBytes
		sr.OldestPending = st.OldestPending
		if !st.OldestPending.IsZero() {
			sr.OldestAge = o.Now.Sub(st.OldestPending)
		}
		for _, b := range sr.Redispatch {
			sr.RedispatchEvents += int64(b.Count)
		}
		rec.Streams = append(rec.Streams, sr)
	}
	return rec, nil
}

// String returns the plan as one line, for a log.
func (r *Recovery) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "recovery %s: %d stream(s)", r.Path, len(r.Streams))
	for _, p := range r.File {
		fmt.Fprintf(&b, "; %s", p.Msg)
	}
	for _, m := range r.FileRepaired {
		fmt.Fprintf(&b, "; repaired: %s", m)
	}
	for _, s := range r.Streams {
		fmt.Fprintf(&b, "; %q: ", s.Stream)
		if len(s.Redispatch) > 0 {
			fmt.Fprintf(&b, "redispatch %d batch(es) of %d event(s) [", len(s.Redispatch), s.RedispatchEvents)
			for i, bt := range s.Redispatch {
				if i == 5 {
					fmt.Fprintf(&b, " +%d more", len(s.Redispatch)-i)
					break
				}
				if i > 0 {
					b.WriteString(" ")
				}
				fmt.Fprintf(&b, "%s attempts=%d", bt.ID, bt.Attempts)
			}
			b.WriteString("], ")
		}
		fmt.Fprintf(&b, "%d pending (%d bytes)", s.PendingEvents, s.PendingBytes)
		if s.OldestAge > 0 {
			fmt.Fprintf(&b, ", oldest %s", s.OldestAge.Round(time.Millisecond))
		}
		fmt.Fprintf(&b, ", %d dead", s.DeadEvents)
		if len(s.Repaired) > 0 {
			fmt.Fprintf(&b, ", repaired: %s", strings.Join(s.Repaired, "; "))
		}
		if len(s.Problems) > 0 {
			fmt.Fprintf(&b, ", %d problem(s) (run verify/repair), first: %s", len(s.Problems), s.Problems[0].Msg)
		}
	}
	return b.String()
}

// OK reports whether neither the file nor any stream has an unfixed
// problem.
func (r *Recovery) OK() bool {
	if len(r.File) > 0 {
		return false
	}
	for _, s := range r.Streams {
		if len(s.Problems) > 0 {
			return false
		}
	}
	return true
}
