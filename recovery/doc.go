// Package recovery is what happens when a WAL is opened again: the replay
// plan, the full consistency check, and the repair of a damaged file.
//
// # At open: Plan
//
// Nothing committed is changed by opening a log. A processor that opens one
// calls Plan, which reports per stream the in-flight batches to dispatch
// again (same batch IDs, attempt counts and retry times, in seal order),
// then the pending backlog (count, bytes, age of the oldest event) and the
// dead letters. Its cost does not grow with the backlog: it reads the
// stream counters, the batch records and the events inside in-flight
// batches (checking their checksums), the first and last keys of each
// bucket, and in a format 1 file the first event of each requeued run.
// What those reads prove
// wrong it fixes in one transaction per stream, unless DryRun is set or the
// log is read-only:
//
//   - NextSeq or NextBatch not above every key (new events or batches
//     would overwrite old ones);
//   - a batch record whose range, count or bytes disagree with the events
//     its range holds (the range is narrowed to them; the ID stays);
//   - a batch whose range holds no event (dropped: nothing is lost);
//   - in-flight counters that disagree with the batches, OldestNanos not
//     the first live event's time (in a format 1 file, the earliest of
//     that and the first event's of each requeued run; see package wal,
//     Counters), pending or dead counters that are non-zero with nothing
//     there.
//
// Everything else (a batch record that does not decode, overlapping
// ranges, counters a scan is needed to know) is listed in the plan's
// Problems for Verify and Repair, and such batches are not dispatched.
// An invalid meta page that the log's open went past (events acknowledged
// in the newest commit may be missing) is in the plan's File problems; a
// newest commit the open restored (only its meta page's checksum damaged)
// is in FileRepaired.
//
// # Verify
//
// Verify opens the file read-only (a shared lock) and checks, collecting
// every problem (one line each, with stream and sequence number) rather
// than stopping at the first:
//
//   - the file's pages, read with plain reads rather than through bbolt's
//     memory map, so that damage cannot fault or loop: both meta pages
//     (an invalid one, which bbolt opens past to the other, is a problem:
//     the newest commit may be missing; see store.DB.MetaProblems),
//     every page reference in range and used once, page types, key order,
//     the freelist, no page both used and free, none lost; then, when the
//     page tree is sound, bbolt's own tx.Check;
//   - the meta bucket and format version (store.ErrNotWAL, store.ErrVersion);
//   - every stream has its events, batches, dead and done buckets, its ID
//     and a state record that decodes;
//   - every event's record decodes and its CRC32C holds (in a format 2
//     file, each record of a run, and the run's header: one that fails is
//     one problem for the value), and no value reaches the key of the
//     next;
//   - every batch record decodes, names its own key, has a range that is
//     not empty or reversed, does not overlap another, points at existing
//     events, and its count and bytes are what it holds (its range less
//     its holes); each of its holes is held by a value;
//   - every event at or below SealedThrough lies in exactly one batch, and
//     no batch reaches above it. In a format 2 file only live events are
//     counted and checked (pending, or held by a batch: see
//     format.Live): the other events of a run whose value stays, which
//     left the stream, are not, and a value that holds no live event at
//     or below SealedThrough is a stray;
//   - the counters match a scan: pending and in-flight counts and bytes,
//     in-flight batches, dead count and bytes, completion records, the
//     oldest time (the first event's; in a format 1 file a requeued
//     event's when older: an event whose ID holds another sequence number
//     than its key), NextSeq
//     above every event and dead letter key, NextBatch above every batch
//     and completion key;
//   - in a format 1 file, the stream's requeued runs decode and hold
//     exactly the requeued events, each run in enqueue-time order (a file
//     written before runs were recorded has requeued events in none:
//     Repair records them); a format 2 file has no requeued runs record
//     (the migration deletes format 1's);
//   - every dead letter and completion record decodes, and a dead letter
//     whose event fails its checksum says "corrupt" in its reason.
//
// Byte counters count the payload of a record that decodes and the stored
// length of one that does not. VerifyLog runs the stream checks on a log
// this process has open, on one consistent snapshot. Package recoverytest
// wraps both for tests.
//
// # Repair
//
// Repair works on a closed file, and keeps its format version (a format 1
// file is not migrated). When Verify finds nothing it changes nothing.
// Otherwise, holding the file's lock, it first copies the file to
// "<path>.broken-<UTC time>" and fsyncs the copy. If the newest commit's
// meta page has only its checksum damaged (its fields intact), it rewrites
// the checksum, and the file is at that commit again. If bbolt's structure is
// damaged it writes a fresh file holding every bucket and key the page
// reader can reach, and renames it over the original. Then, for each
// stream, in one transaction:
//
//   - missing buckets are created; a lost stream ID is taken back from the
//     event IDs (or, with no readable event, made anew);
//   - events whose envelope fails to decode move to the dead letters, whole,
//     with reason "corrupt: ..." (and their batch ID when in flight); in a
//     format 2 file a run is never rewritten as if it held one event: one
//     whose header fails moves whole, as one dead letter; one with corrupt
//     records is split, each of them moving to the dead letters alone and
//     the others staying, re-encoded as runs under their own sequence
//     numbers with their IDs; a value under a key the value before it
//     reaches moves whole;
//   - batch records that do not decode, overlap an earlier batch, or point
//     at no event are dropped, and their events become pending; the other
//     batches keep their IDs and attempts and are narrowed to the events
//     they hold (and to SealedThrough), holes no value holds dropped;
//   - events sealed but in no batch become pending: after the last batch by
//     lowering SealedThrough, between batches by moving them to the end of
//     the stream as Requeue does (same ID, time, key and payload; in a
//     format 2 file a stray value moves whole);
//   - dead letters that do not decode are kept whole inside a new one
//     marked corrupt; those whose event fails its checksum get a reason
//     starting with "corrupt";
//   - requeued runs that are wrong are recorded anew from a scan: each
//     stretch of requeued events with no other event between and no time
//     going back (format 1); a format 2 file's requeued runs record is
//     deleted;
//   - the counters are recounted from a scan; NextSeq and NextBatch only
//     ever grow.
//
// The report lists every change. Repair never deletes a record it cannot
// read: it moves it to the dead letters, or leaves it (an unreadable
// completion record, which is audit only, is listed as left as is), and
// what sat on pages it could not read is still in the .broken copy. It
// refuses, without touching the file, a file in use (store.ErrLocked), one
// that is not a WAL (store.ErrNotWAL), one of a newer format
// (store.ErrVersion), and one from which no WAL can be rebuilt
// (ErrUnrepairable).
package recovery
