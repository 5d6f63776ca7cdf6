// Package wal is walbatch's write-ahead log: named streams of events in one
// bbolt file (see package store), appended with group commit, cut into
// batches, and completed or dead-lettered only after the sink answered.
//
// # Layout
//
// Every key below is a big-endian uint64 unless said otherwise, so cursor
// order is sequence order.
//
//	walbatch/                 meta bucket (package store)
//	  version                 format version (2; 1 in files not migrated)
//	  created                 unix ns
//	  id                      8 random bytes
//	streams/
//	  <name>/                 one bucket per stream
//	    uid                   8 random bytes; prefix of event and batch IDs
//	    state                 big-endian uint64 counters: 11 in format 2,
//	                          15 in format 1 (see # Counters)
//	    requeued              format 1 only: runs of requeued events, big-endian
//	                          [first, last] key pairs, ascending; absent when
//	                          there are none (see # Counters)
//	    events/  seq -> run of events (format 2) or record envelope (format 1)
//	    batches/ batch seq -> msgpack Batch (range, attempts, next, last error, crc)
//	    dead/    seq -> msgpack {record envelope, reason, batch, attempts, at, crc}
//	    done/    batch seq -> msgpack Completion (bounded: CompletedKeep; crc)
//
// The crc of batch, dead-letter and completion records is a CRC32C of
// their other fields' values (a dead letter's envelope has its own).
// Records written before it existed lack it and are read as before: the
// format version did not change.
//
// The one copy of this layout in code is the module's internal/format
// package (bucket and key names, the envelope, the records and their
// checksums); internal/boltfile has bbolt's own page layout. Package wal,
// package recovery and walctl all read and write the file through them.
//
// The events bucket is written with FillPercent 1.0: its keys only grow, so
// pages are packed full instead of split in half.
//
// # Runs of events (format 2)
//
// In a format 2 file a value of the events bucket is a run: the events one
// group commit appended to the stream (or one Requeue moved back), at most
// 1024 of them and 64 KiB, under the sequence number of the first; event i
// of the run under key k has sequence number k+i. Each event keeps its own
// record in the run (ID when it is not the one its place gives, enqueue
// time, batch key, payload, headers) with its own CRC32C, so a flipped bit
// quarantines one event, not the run; the run's header and offsets have a
// checksum of their own. docs/design/wal-format-2.md has the layout. A
// value of a format 1 file is a record envelope (below): one event. A
// format 2 file may hold both, as a migrated format 1 file keeps its
// envelopes until they are completed; both are read the same way.
//
// An event is live while it is pending (above SealedThrough) or held by an
// in-flight batch. A value is written once and deleted once: when none of
// its events is live any more. Events leave a batch early (a per-event
// outcome, a dead letter alone, a quarantine) as holes of the batch record,
// never by rewriting a value; a hole is kept only while a value still holds
// its event, so a format 1 file's batches never have one.
//
// A format 1 file opened for writing is migrated to format 2 at Open, in
// one transaction that rewrites every stream's state record to format 2's
// 11 fields (see # Counters), deletes each stream's requeued runs and
// changes the version; the events' values stay as they are. A crash leaves
// it at one version or the other, whole (store.Options.Format keeps format
// 1 for a rolling upgrade). An older walbatch refuses a format 2 file
// (store.ErrVersion).
//
// # Record envelope
//
// A record is a msgpack array of five elements, or six when the event has
// headers:
//
//	[ id bin(16), time int64 (unix ns), key str, payload bin, crc uint32 ]
//	[ id bin(16), time int64 (unix ns), key str, payload bin, headers map, crc uint32 ]
//
// headers is a map of str to str with at least one entry, keys in
// increasing byte order (Entry.Headers, Record.Headers). Records without
// headers keep the five-element form, byte for byte what versions before
// headers wrote, so the format version is unchanged: older files read as
// before, and a record with headers is one an older version refuses as
// corrupt (a newer file should not be opened by an older version anyway).
// The encoding is canonical, every length in its shortest form: a record
// has exactly one encoding, and a header map's declared count is checked
// against the bytes left before anything is allocated.
//
// id is the stream's uid followed by the sequence number of the event's
// first append; it never changes, not even when a dead letter is requeued
// under a new sequence number. crc is the CRC32C of every byte before it:
// bbolt checksums only its meta pages, so a flipped bit in a record is
// caught here, and the record is quarantined to dead letters with reason
// "corrupt", never silently dropped.
//
// # Counters
//
// A stream's counters are: pending events and bytes (not yet sealed),
// in-flight batches, events and bytes, dead events and bytes, completed
// totals, the number of completion records, and the enqueue time of the
// first event not completed; with NextSeq, SealedThrough, NextBatch and
// the stream's creation time. What only a scan of the backlog could
// recount is stored, in the state record, and every transaction that
// changes what it counts updates it, so Stats and open are O(1) in the
// backlog. What the bounded records say is derived, not stored: the
// in-flight batches, events and bytes are the batch records (their Count
// and Bytes summed), the completion records are counted, once, when a
// stream is loaded (format.DeriveState, in the same function for every
// caller). The transitions keep the derived counters in memory as they
// change the records (counts.go); the next open derives them again.
//
// Format 2's state record holds, as 11 big-endian uint64s: NextSeq,
// SealedThrough, NextBatch, PendingCount, PendingBytes, DeadCount,
// DeadBytes, CompletedBatches, CompletedEvents, OldestNanos, Created.
// Format 1's holds 15: the same with InflightBatches, InflightCount and
// InflightBytes after PendingBytes and DoneRecords after OldestNanos, and
// a format 1 file (store.Options.Format 1) is still written that way, the
// derived values stored, for releases before format 2 to read. A record
// of the wrong size for the file's version is store.ErrCorrupt.
// recovery.Verify recounts the stored counters by a scan (the derived ones
// are what the records say, and a batch record that disagrees with what
// its range holds is a finding of its own); Repair rewrites the record in
// the file's layout.
//
// Byte counters count payload bytes (never key or headers); a record that
// fails its checksum counts its stored length instead (what a scan can
// know of it).
//
// OldestNanos is the enqueue time of the first event not completed (the
// lowest live sequence number), and OldestPendingTime that of the first
// pending one: one cursor seek each, set by every transaction that removes
// or adds events. Events are appended in time order (between concurrent
// appends the first may be younger by the time it took to queue the
// others), so this is the oldest event, with one exception: Requeue puts
// events back at the end with their original, earlier, enqueue times
// (written in enqueue-time order, so the first of them is the oldest).
// Such an event counts once it is the first, at its own time. That keeps
// max-age flushing right, because for max age a requeued event is
// enqueued at the Requeue: every event before it was appended or
// requeued before that, so its time is no later than the Requeue. While
// it waits, whichever event is first is due by MaxAge after the Requeue,
// and a max-age seal takes the first events; once the requeued event is
// first, its own older time makes it due at once.
// So every pending event is sealed within MaxAge of when it became
// pending (as far as the in-flight limit lets batches be sealed, as for
// any event). The oldest-age gauge (Stats' OldestPending, the exporters'
// oldest pending age) shows the same: the age of the first event not
// completed, which jumps to a requeued event's full age when it becomes
// the first, until it is delivered. recovery.Verify recounts OldestNanos
// by this rule.
//
// A format 1 file keeps the rule walbatch 0.1.0 reads and checks, so
// that a file a rolling upgrade keeps at format 1 (store.Options.Format)
// stays one that release verifies: OldestNanos is the oldest live event,
// requeued ones included, at once. Requeue records the keys it wrote, in
// enqueue-time order, as a run under "requeued"; OldestNanos is the
// earliest of the first event's time and the time of the first event
// left in each run, one more seek per run, and runs left empty are
// dropped; OldestPendingTime applies the same rule to the events above
// SealedThrough. recovery.Verify checks the runs (an event is a requeued
// one when the sequence number in its ID is not its key). A format 2 file
// has no "requeued" value: the migration from format 1 deletes it, and
// sets OldestNanos by format 2's rule, in its one transaction.
//
// # Batch state machine
//
// A batch is a key range [First, Last] of the events bucket, contiguous
// when sealed; state.SealedThrough separates sealed events from pending
// ones. Events can leave a batch from anywhere in its range (Resolve,
// DeadLetterEvents, QuarantineInFlight): the batch then has holes, Count
// is the events still in the range, and First and Last are tightened to
// events that exist. Each arrow is one request to the writer, all or
// nothing (see "One writer" below):
//
//	pending --Seal--> in flight --Complete--> (removed; completion record)
//	(Move: several Completes, then several Seals, in one request)
//	                  in flight --CompletePartial(n)--> in flight (first n removed)
//	                  in flight --Resolve--> in flight (delivered removed, dead moved, attempts+1) or removed
//	                  in flight --Retry--> in flight (attempts+1, next, last error)
//	                  in flight --DeadLetter--> dead (events moved with the reason)
//	dead --Requeue--> pending (same ID, new seq; format 1: a requeued run)   dead --PurgeDead--> (removed)
//
// A crash at any point leaves the state of the last committed transaction:
// an in-flight batch is dispatched again after restart, with the same ID and
// attempt count. Delivery is therefore at least once; sinks drop duplicates
// by batch ID or event ID.
//
// # One writer, group commit, and what each fsync protects
//
// Every write of the file goes through one goroutine, the writer. Append
// queues the encoded record for it; Seal, Complete and every other
// transition queue a typed request (a function applied inside the writer's
// transaction) and wait for its answer. The writer takes everything queued
// and writes it in groups of up to MaxGroupEvents events (a transition
// counting as one), one bbolt transaction and one commit each: the
// transitions first, in queue order, with at most 1024 appended events
// after them, then the other appends in queue order. Each request sees the
// effect of those before it in its group, so a transition sees every append
// answered before it was made, not necessarily one still queued with it.
// When a transition is queued while the writer writes these groups, the
// writer stops after the group being written and queues what is left again,
// in front of what came after: the transition goes in the next group,
// waiting for the one group being written when it came, not for every group
// of appends taken before it; nor does the writer's short wait for the
// callers it just answered to come back (the gather) hold it. A transition
// that finds nothing to do or refuses (no such batch: ErrNoBatch; nothing
// to seal) writes nothing and the group goes on without it; one that fails
// after it wrote (a damaged page, an I/O error) makes the writer roll the
// transaction back and write the group again without it, so it alone gets
// the error. A group in which nothing wrote is rolled back: no commit, no
// fsync.
//
// Under SyncAlways bbolt's commit fsyncs twice: first the data pages, then
// the meta page that makes them reachable; only after the second does any
// caller of the group return. So an acknowledged event survives power
// loss, and a torn commit leaves the previous meta page in force: the
// group is either all there or not there at all. Under SyncNone both
// fsyncs are skipped: a commit survives the process (the page cache has
// it) but not an OS crash. Transitions share the appends' commits: while
// producers append, a processor's seals and completions cost no fsync of
// their own. Losing a transition to a crash only means a batch is
// dispatched again. Move puts the completions of several delivered batches
// and several seals in one request (CompleteAndSeal one of each): a
// processor draining a backlog sends one Move per commit, with every batch
// delivered since its last one and the full batches it seals ahead, so the
// commit's cost (its fsyncs, the freelist, the meta page) is shared by
// several batches instead of paid for each. CommitStats counts every
// commit, the events and the transitions in them (a Move counts once).
//
// Callers may assume: Append returns nil only after its event is committed;
// an error means it was not; events appended by one goroutine keep their
// order; AppendMany is all or nothing; requests from one goroutine (appends
// and transitions) are applied in the order it made them, an AppendAsync
// counting as made when it is answered (a transition the goroutine makes
// before then may be applied first); a transition that returns nil is
// committed, one that returns an error changed nothing.
//
// # Concurrency
//
// The goroutines:
//
//   - The writer (the committer: one per writable Log, started by Open or
//     New, ended by Close) owns every write transaction and the group being
//     written: it takes every queued request, stages the streams' new
//     counters (one copy per stream touched, which each request changes in
//     turn), writes the group in one transaction, installs the counters in
//     memory after the commit, runs the transitions' follow-ups (the
//     since-open counts, the codec name) and the appends' then functions
//     (AppendManyThen: before the answer, so before any later request
//     sees the events), answers each caller (a blocked
//     Append or transition through its channel, an AppendAsync by queueing
//     its callback for the callback goroutine) and signals
//     Stream.Appended; after a group with transitions it yields
//     (runtime.Gosched), so that their callers, woken on its processor,
//     run before it writes the next group; then it takes the next group.
//   - The callback goroutine (one per writable Log, beside the writer,
//     ended by Close after the writer) runs AppendAsync callbacks in the
//     order the writer answered them, while the writer commits the next
//     group. Its queue is unbounded: the writer never waits for a
//     callback.
//     Stream creation (Log.Stream), recovery's repairs at open and SetCodec
//     are requests too. In package processor the requests come from the
//     processor's loop: its moves (Move: the completions of delivered
//     batches and the seals, at most one with the writer at a time, sent
//     from a goroutine of its own so that the loop goes on launching
//     batches and taking in results while the writer commits it) and the
//     other outcomes of attempts (Retry, DeadLetter, CompletePartial,
//     Resolve, on the loop goroutine); from an attempt's dispatch
//     goroutine (QuarantineInFlight and DeadLetterEvents, before it calls
//     the dispatcher); and from producers (appends).
//   - Readers (ForEachEvent, ForEachDead, ForEachCompletion, Batches,
//     InFlight, ReadBatch, OldestPendingTime) run a bbolt read transaction
//     on their caller's goroutine, a consistent snapshot, concurrently with
//     the writer. Stats, State of the counters, Codec and CommitStats read
//     memory only, and so does OldestPendingTime in a format 2 file while
//     no seal or dead letter changed the stream since its last answer
//     (the first pending event is then the same).
//
// The locks, in the order they are taken (a lock is only ever taken while
// holding locks above it in this list):
//
//  1. Log.createMu: held by Log.Stream while it creates a stream, from
//     the check that the name is new to its entry in the stream map (it
//     waits for the writer meanwhile; the writer never takes it).
//  2. Log.mu (read-write): the stream map and the closing and closed
//     flags; taken briefly, never across a commit.
//  3. Stream.mu (read-write): a stream's counters as last committed, its
//     pending limits and codec name. The writer takes it briefly to copy
//     the counters into a group and to install them after the commit;
//     readers take it alone. It is never held across a commit, nor
//     together with Log.mu.
//
// committer.mu guards the queue and is a leaf: submitters take it to
// queue, the writer to swap the queue out, and nothing else is taken while
// it is held. bbolt's own writer lock is only ever taken by the writer, so
// bbolt never queues writers. The callback goroutine's queue lock is a
// leaf too, and so is the lock of OldestPendingTime's kept answer. Answers
// and callbacks come after the commit, with no lock held: a callback may
// read Stats and may call the Log (an Append from a callback waits for the
// writer, which does not wait for callbacks), but a slow one delays the
// callbacks after it.
//
// Close sets closing, stops the writer (what is queued is committed and
// answered, and every callback has run; later requests get ErrClosed),
// sets closed under Log.mu and
// closes the file, which waits for open read transactions.
//
// # Format 2
//
// Files are written in format 2 (runs of events per value, holes in batch
// records, 11 stored counters) unless store.Options.Format asks for format
// 1; docs/design/wal-format-2.md
// (https://github.com/walbatch/walbatch/blob/main/docs/design/wal-format-2.md)
// has the design, its measurements and the migration's argument.
package wal
