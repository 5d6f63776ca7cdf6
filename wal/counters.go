package wal

import (
	"sync/atomic"
	"time"

	"github.com/walbatch/walbatch/internal/format"
)

// streamCounters are a stream's counts that the file does not keep: they
// live in memory from the Log's open to its close, so they survive a
// processor's release by a Manager (the Stream outlives it) but not a
// restart. Persisting them would change the stream state record, which
// recovery verifies field by field; the counts a restart must keep
// (CompletedEvents, DeadCount) are in it already.
type streamCounters struct {
	retried      atomic.Int64 // failed attempts recorded by Retry
	deadLettered atomic.Int64 // events moved to dead letters
	refused      atomic.Int64 // appends refused with ErrFull
}

// countDead adds the events a committed transition moved to dead letters:
// DeadCount only grows through dead-lettering (Requeue and PurgeDead
// shrink it).
func (c *streamCounters) countDead(before, after format.State) {
	if after.DeadCount > before.DeadCount {
		c.deadLettered.Add(int64(after.DeadCount - before.DeadCount))
	}
}

// CommitStats is what the Log's writer did since the Log was opened: its
// commits (each one transaction, with one pair of fsyncs under
// SyncAlways), the events they appended, the transitions they applied
// (Seal, Complete, Retry, DeadLetter and the others, each counted once
// whether or not it shared its commit with appends), and the time spent
// in the write transactions, fsyncs included (under SyncAlways they are
// most of it). Every write of the file is in these figures: a transition
// that changed nothing (Seal with nothing to seal) is in none.
type CommitStats struct {
	Commits     int64         `json:"commits"`
	Events      int64         `json:"events"`
	Transitions int64         `json:"transitions"`
	Time        time.Duration `json:"-"`
}

type commitCounters struct {
	commits, events, transitions, nanos atomic.Int64
}

func (c *commitCounters) add(events, transitions int, d time.Duration) {
	c.commits.Add(1)
	c.events.Add(int64(events))
	c.transitions.Add(int64(transitions))
	c.nanos.Add(int64(d))
}

// CommitStats returns the group commit figures since the Log was opened
// (all zero on a read-only Log). It does not touch the disk.
func (l *Log) CommitStats() CommitStats {
	return CommitStats{Commits: l.commits.commits.Load(), Events: l.commits.events.Load(),
		Transitions: l.commits.transitions.Load(), Time: time.Duration(l.commits.nanos.Load())}
}
