package wal

import "github.com/walbatch/walbatch/internal/format"

// Each operation's change to a stream's counters (format.State), computed
// here and nowhere else: the transitions call these and write no counter
// arithmetic of their own. A subtraction that could go below zero on a
// damaged file (byte counts taken from records read back) stops at zero.
// The in-flight counters and DoneRecords are kept here in memory too, but
// a format 2 file does not store them: they follow the batch and
// completion records each transition writes, and a load derives them from
// those (format.DeriveState), so what is added and subtracted here must be
// what the records say (a batch's Count and Bytes as stored).

// appended counts n events of bytes payload bytes appended at the end of the
// stream, the first of them enqueued at oldest.
func appended(st *format.State, n, bytes uint64, oldest int64) {
	st.NextSeq += n
	st.PendingCount += n
	st.PendingBytes += bytes
	if st.OldestNanos == 0 {
		st.OldestNanos = oldest
	}
}

// requeued counts one dead letter of n payload bytes appended back at the
// end of the stream as a pending event.
func requeued(st *format.State, n uint64) {
	st.NextSeq++
	st.PendingCount++
	st.PendingBytes += n
	st.DeadCount--
	st.DeadBytes -= min(n, st.DeadBytes)
}

// quarantined counts one pending event that sealing found damaged and moved
// to the dead store: its append counted added bytes, its dead letter counts
// dead.
func quarantined(st *format.State, added, dead uint64) {
	st.PendingCount--
	st.PendingBytes -= min(added, st.PendingBytes)
	st.DeadCount++
	st.DeadBytes += dead
}

// sealedThrough counts the pending events up to end as taken into batches
// (or gone).
func sealedThrough(st *format.State, end uint64) {
	st.SealedThrough = max(st.SealedThrough, end)
}

// sealed counts one new in-flight batch of count pending events of bytes
// payload bytes.
func sealed(st *format.State, count, bytes uint64) {
	st.NextBatch++
	st.PendingCount -= count
	st.PendingBytes -= bytes
	st.InflightBatches++
	st.InflightCount += count
	st.InflightBytes += bytes
}

// completed counts an in-flight batch holding count events of bytes payload
// bytes completed whole.
func completed(st *format.State, count, bytes uint64) {
	st.InflightBatches--
	st.InflightCount -= count
	st.InflightBytes -= bytes
	st.CompletedBatches++
	st.CompletedEvents += count
}

// completedPartial counts n events of bytes payload bytes (as counted at
// append) taken out of an in-flight batch as delivered, the batch staying.
func completedPartial(st *format.State, n, bytes uint64) {
	st.InflightCount -= n
	st.InflightBytes -= min(bytes, st.InflightBytes)
	st.CompletedEvents += n
}

// deadLetteredOne counts one event taken out of an in-flight batch into the
// dead store: its append counted added bytes, its dead letter counts dead.
func deadLetteredOne(st *format.State, added, dead uint64) {
	st.InflightCount--
	st.InflightBytes -= min(added, st.InflightBytes)
	st.DeadCount++
	st.DeadBytes += dead
}

// emptied counts an in-flight batch removed once every event was taken out
// of it (counted by completedPartial and deadLetteredOne).
func emptied(st *format.State) {
	st.InflightBatches--
}

// deadLettered counts an in-flight batch of count events of bytes payload
// bytes moved whole to the dead store as moved dead letters of deadBytes.
func deadLettered(st *format.State, count, bytes, moved, deadBytes uint64) {
	st.InflightBatches--
	st.InflightCount -= count
	st.InflightBytes -= bytes
	st.DeadCount += moved
	st.DeadBytes += deadBytes
}

// purged counts n dead letters of bytes deleted.
func purged(st *format.State, n, bytes uint64) {
	st.DeadCount -= n
	st.DeadBytes -= min(bytes, st.DeadBytes)
}

// purgedAll counts the dead store emptied.
func purgedAll(st *format.State) {
	st.DeadCount, st.DeadBytes = 0, 0
}

// doneRecorded counts one completion record stored.
func doneRecorded(st *format.State) {
	st.DoneRecords++
}

// doneDropped counts the oldest completion record deleted (CompletedKeep).
func doneDropped(st *format.State) {
	st.DoneRecords--
}

// oldestIs sets OldestNanos (0: none), as computed from the live events
// and, in a format 1 file, the requeued runs (refreshOldest).
func oldestIs(st *format.State, nanos int64) {
	st.OldestNanos = nanos
}
