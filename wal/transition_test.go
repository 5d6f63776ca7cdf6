package wal

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
	bolt "go.etcd.io/bbolt"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/internal/format/formattest"
)

// sealOne seals the next batch of at most n events (forced) and fails if
// there is none.
func sealOne(t *testing.T, s *Stream, n int) *Batch {
	t.Helper()
	res, err := s.Seal(SealOptions{MaxEvents: n, Force: true})
	require.NoError(t, err)
	require.NotNil(t, res.Batch)
	return res.Batch
}

func completions(t *testing.T, s *Stream) []Completion {
	t.Helper()
	var out []Completion
	require.NoError(t, s.ForEachCompletion(func(c Completion) error {
		out = append(out, c)
		return nil
	}))
	return out
}

func deadLetters(t *testing.T, s *Stream) []DeadLetter {
	t.Helper()
	var out []DeadLetter
	require.NoError(t, s.ForEachDead(func(d DeadLetter) error {
		require.NoError(t, d.Err)
		out = append(out, d)
		return nil
	}))
	return out
}

// One stream through every transition, with the counters checked exactly
// after each step (and against a scan by mustOpen's Cleanup).
func TestTransitionsStats(t *testing.T) {
	l, _ := mustOpen(t, &Options{CompletedKeep: 2})
	s := mustStream(t, l, "s")
	var b *Batch
	steps := []struct {
		name string
		do   func(t *testing.T)
		want statsOf
	}{
		{"append 10", func(t *testing.T) { appendN(t, s, "", 0, 10) },
			statsOf{Pending: 10, PendingBytes: 120}},
		{"seal 3", func(t *testing.T) { b = sealOne(t, s, 3) },
			statsOf{Pending: 7, PendingBytes: 84, InFlightBatches: 1, InFlight: 3, InFlightBytes: 36}},
		{"complete", func(t *testing.T) { require.NoError(t, s.Complete(b.Seq)) },
			statsOf{Pending: 7, PendingBytes: 84, CompletedBatches: 1, CompletedEvents: 3}},
		{"seal 4", func(t *testing.T) { b = sealOne(t, s, 4) },
			statsOf{Pending: 3, PendingBytes: 36, InFlightBatches: 1, InFlight: 4, InFlightBytes: 48, CompletedBatches: 1, CompletedEvents: 3}},
		{"retry", func(t *testing.T) {
			_, err := s.Retry(b.Seq, time.Now().Add(time.Hour), "503")
			require.NoError(t, err)
		}, statsOf{Pending: 3, PendingBytes: 36, InFlightBatches: 1, InFlight: 4, InFlightBytes: 48, CompletedBatches: 1, CompletedEvents: 3}},
		{"partial 1", func(t *testing.T) {
			var err error
			b, err = s.CompletePartial(b.Seq, 1)
			require.NoError(t, err)
		}, statsOf{Pending: 3, PendingBytes: 36, InFlightBatches: 1, InFlight: 3, InFlightBytes: 36, CompletedBatches: 1, CompletedEvents: 4}},
		{"dead-letter", func(t *testing.T) { require.NoError(t, s.DeadLetter(b.Seq, "400 bad request", true)) },
			statsOf{Pending: 3, PendingBytes: 36, Dead: 3, DeadBytes: 36, CompletedBatches: 1, CompletedEvents: 4}},
		{"requeue", func(t *testing.T) {
			res, err := s.Requeue(nil)
			require.NoError(t, err)
			require.Equal(t, RequeueResult{Requeued: 3}, res)
		}, statsOf{Pending: 6, PendingBytes: 72, CompletedBatches: 1, CompletedEvents: 4}},
		{"seal 6 and complete", func(t *testing.T) {
			b = sealOne(t, s, 6)
			require.NoError(t, s.Complete(b.Seq))
		}, statsOf{CompletedBatches: 2, CompletedEvents: 10}},
		{"append, seal, dead-letter", func(t *testing.T) {
			appendN(t, s, "", 10, 2)
			require.NoError(t, s.DeadLetter(sealOne(t, s, 2).Seq, "gone", false))
		}, statsOf{Dead: 2, DeadBytes: 24, CompletedBatches: 2, CompletedEvents: 10}},
		{"purge", func(t *testing.T) {
			n, err := s.PurgeDead()
			require.NoError(t, err)
			require.Equal(t, 2, n)
		}, statsOf{CompletedBatches: 2, CompletedEvents: 10}},
		{"reopen", func(t *testing.T) {
			l = reopen(t, l, &Options{CompletedKeep: 2})
			s = mustStream(t, l, "s")
		}, statsOf{CompletedBatches: 2, CompletedEvents: 10}},
	}
	for _, step := range steps {
		step.do(t)
		require.Equal(t, step.want, statsNow(s), "after %s", step.name)
		require.NoError(t, checkLog(l), "after %s", step.name)
	}
	st := s.Stats()
	require.True(t, st.OldestPending.IsZero())
	require.Equal(t, uint64(15), st.LastSeq, "12 appended, 3 requeued")
}

func TestComplete(t *testing.T) {
	l, _ := mustOpen(t, &Options{CompletedKeep: 2})
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 6)
	var seqs []uint64
	for range 3 {
		b := sealOne(t, s, 2)
		seqs = append(seqs, b.Seq)
		require.NoError(t, s.Complete(b.Seq))
		_, err := s.InFlight(b.Seq)
		require.ErrorIs(t, err, ErrNoBatch)
	}
	require.Empty(t, eventsOf(t, s), "completed events are removed")
	cs := completions(t, s)
	require.Len(t, cs, 2, "bounded by CompletedKeep")
	for i, c := range cs {
		require.Equal(t, seqs[i+1], c.Seq, "oldest dropped first")
		require.Equal(t, s.BatchID(c.Seq), c.ID)
		require.Equal(t, 2, c.Count)
		require.Equal(t, 1, c.Attempts)
		require.NotZero(t, c.CompletedAt)
	}
	require.ErrorIs(t, s.Complete(seqs[0]), ErrNoBatch, "completing twice")

	// CompletedKeep < 0 keeps none.
	l2, _ := mustOpen(t, &Options{CompletedKeep: -1})
	s2 := mustStream(t, l2, "s")
	appendN(t, s2, "", 0, 1)
	require.NoError(t, s2.Complete(sealOne(t, s2, 1).Seq))
	require.Empty(t, completions(t, s2))
	require.Equal(t, int64(1), s2.Stats().CompletedBatches)
}

func TestCompletePartial(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 5)
	b := sealOne(t, s, 5)
	next := time.Now().Add(time.Minute).Truncate(time.Nanosecond)
	_, err := s.Retry(b.Seq, next, "timeout")
	require.NoError(t, err)

	got, err := s.CompletePartial(b.Seq, 0)
	require.NoError(t, err)
	require.Equal(t, 5, got.Count, "n <= 0 changes nothing")

	got, err = s.CompletePartial(b.Seq, 2)
	require.NoError(t, err)
	require.Equal(t, b.ID, got.ID, "the rest keeps the batch ID")
	require.Equal(t, uint64(3), got.First)
	require.Equal(t, uint64(5), got.Last)
	require.Equal(t, 3, got.Count)
	require.Equal(t, int64(36), got.Bytes)
	require.Equal(t, 2, got.Delivered)
	require.Equal(t, 1, got.Attempts, "progress does not reset the retry budget")
	require.Equal(t, next.UnixNano(), got.NextAttempt)
	require.Equal(t, "timeout", got.LastError)

	l = reopen(t, l, nil)
	s = mustStream(t, l, "s")
	b2, err := s.InFlight(b.Seq)
	require.NoError(t, err)
	require.Equal(t, *got, *b2, "the partial state survives a reopen")
	recs, _, err := s.ReadBatch(b2)
	require.NoError(t, err)
	require.Equal(t, []string{"event-000002", "event-000003", "event-000004"},
		[]string{string(recs[0].Payload), string(recs[1].Payload), string(recs[2].Payload)})

	// n at or past the rest is a full Complete.
	got, err = s.CompletePartial(b.Seq, 3)
	require.NoError(t, err)
	require.Nil(t, got)
	cs := completions(t, s)
	require.Len(t, cs, 1)
	require.Equal(t, 5, cs[0].Count, "completion counts the whole batch")
	require.Equal(t, 2, cs[0].Attempts, "one failed, then the successful one")
	require.Equal(t, statsOf{CompletedBatches: 1, CompletedEvents: 5}, statsNow(s))

	_, err = s.CompletePartial(b.Seq, 1)
	require.ErrorIs(t, err, ErrNoBatch)
}

// A completion record counts the whole batch, events and payload bytes,
// including what partial results delivered before it, whatever the sizes
// of the parts; and it survives a reopen between the parts.
func TestCompletionCountsWholeBatchAfterPartials(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	sizes := []int{3, 10, 100, 7, 1, 40}
	total := 0
	for _, n := range sizes {
		_, err := s.Append("", bytes.Repeat([]byte("x"), n))
		require.NoError(t, err)
		total += n
	}
	b := sealOne(t, s, len(sizes))
	require.Equal(t, int64(total), b.Bytes)

	got, err := s.CompletePartial(b.Seq, 2)
	require.NoError(t, err)
	require.Equal(t, int64(total-13), got.Bytes, "in flight: what is left")
	require.Equal(t, int64(13), got.DeliveredBytes)
	l = reopen(t, l, nil)
	s = mustStream(t, l, "s")
	got, err = s.CompletePartial(b.Seq, 1)
	require.NoError(t, err)
	require.Equal(t, int64(113), got.DeliveredBytes, "kept across the reopen")
	require.NoError(t, s.Complete(b.Seq))

	cs := completions(t, s)
	require.Len(t, cs, 1)
	require.Equal(t, len(sizes), cs[0].Count)
	require.Equal(t, int64(total), cs[0].Bytes, "the completion counts every byte of the batch")

	// Without partials it is the batch as sealed.
	appendN(t, s, "", 0, 2)
	require.NoError(t, s.Complete(sealOne(t, s, 2).Seq))
	cs = completions(t, s)
	require.Equal(t, int64(24), cs[1].Bytes)
}

// DeliveredBytes is omitted from the stored batch while it is zero, so a
// batch record written before the field existed decodes the same, and one
// with it encodes as before until a partial result sets it.
func TestBatchDeliveredBytesCompatible(t *testing.T) {
	old := map[string]any{"seq": 7, "first": 10, "last": 12, "count": 3, "bytes": 30, "key": "k",
		"attempts": 1, "next": 0, "err": "", "sealed": 5, "delivered": 2}
	v, err := msgpack.Marshal(old)
	require.NoError(t, err)
	b, err := format.DecodeBatch([8]byte{}, 7, v)
	require.NoError(t, err)
	require.Equal(t, 2, b.Delivered)
	require.Zero(t, b.DeliveredBytes)

	enc, err := format.EncodeBatch(b)
	require.NoError(t, err)
	require.NotContains(t, string(enc), "delivered_bytes")
	b.DeliveredBytes = 20
	enc, err = format.EncodeBatch(b)
	require.NoError(t, err)
	again, err := format.DecodeBatch([8]byte{}, 7, enc)
	require.NoError(t, err)
	require.Equal(t, *b, *again)
}

func TestRetryPersists(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 2)
	b := sealOne(t, s, 2)
	require.True(t, b.NextAttemptTime().IsZero())
	var want *Batch
	for i := 1; i <= 3; i++ {
		next := time.Unix(0, int64(i)*1e9)
		var err error
		want, err = s.Retry(b.Seq, next, "attempt failed")
		require.NoError(t, err)
		require.Equal(t, i, want.Attempts)
		require.True(t, next.Equal(want.NextAttemptTime()))
	}
	l = reopen(t, l, nil)
	s = mustStream(t, l, "s")
	got, err := s.InFlight(b.Seq)
	require.NoError(t, err)
	require.Equal(t, *want, *got)
	require.Equal(t, 3, got.Attempts)
	require.Equal(t, int64(3e9), got.NextAttempt)
	require.Equal(t, "attempt failed", got.LastError)
	require.Equal(t, b.ID, got.ID)
}

func TestDeadLetterAndRequeue(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	acked := appendN(t, s, "k", 0, 4)
	b := sealOne(t, s, 4)
	_, err := s.Retry(b.Seq, time.Now(), "503")
	require.NoError(t, err)
	require.NoError(t, s.DeadLetter(b.Seq, "max retries: 503", true))
	_, err = s.InFlight(b.Seq)
	require.ErrorIs(t, err, ErrNoBatch)
	require.Empty(t, eventsOf(t, s))

	dead := deadLetters(t, s)
	require.Len(t, dead, 4)
	for i, d := range dead {
		require.Equal(t, acked[i].ID, d.Record.ID)
		require.Equal(t, acked[i].Seq, d.Record.Seq)
		require.Equal(t, payloadN(i), d.Record.Payload)
		require.Equal(t, "k", d.Record.Key)
		require.Equal(t, "max retries: 503", d.Reason)
		require.Equal(t, b.ID, d.BatchID)
		require.Equal(t, 2, d.Attempts, "the Retry and the counted last attempt")
	}

	// Requeue one by ID, then the rest: IDs, times and payloads kept, new
	// sequence numbers at the end of the stream.
	appendN(t, s, "", 100, 1) // seq 5
	res, err := s.Requeue([]EventID{acked[2].ID})
	require.NoError(t, err)
	require.Equal(t, RequeueResult{Requeued: 1}, res)
	require.Len(t, deadLetters(t, s), 3)
	res, err = s.Requeue(nil)
	require.NoError(t, err)
	require.Equal(t, RequeueResult{Requeued: 3}, res)
	recs := eventsOf(t, s)
	require.Len(t, recs, 5)
	wantOrder := []int{2, 0, 1, 3}
	for i, r := range recs[1:] {
		require.Equal(t, uint64(6+i), r.Seq, "new sequence number")
		require.Equal(t, acked[wantOrder[i]].ID, r.ID, "ID kept")
		require.Equal(t, payloadN(wantOrder[i]), r.Payload)
	}
	require.Equal(t, statsOf{Pending: 5, PendingBytes: 60}, statsNow(s))

	res, err = s.Requeue(nil)
	require.NoError(t, err)
	require.Equal(t, RequeueResult{}, res, "nothing left to requeue")

	// A requeued event can be sealed and completed like any other.
	payloads, _ := sealAll(t, s, SealOptions{MaxEvents: 10, Force: true})
	require.Len(t, payloads, 2, "key runs: [\"\"] then [k k k k]")
}

// flipEvent flips a payload bit of the stored event seq, as damage on disk
// would: the record then fails its checksum.
func flipEvent(t *testing.T, s *Stream, seq uint64) {
	t.Helper()
	// The write runs on the writer goroutine: report by error, not require.
	require.NoError(t, s.l.write(s, func(tx *bolt.Tx, _ *format.State) error {
		fs, err := formattest.Open(tx, s.Name())
		if err != nil {
			return err
		}
		return fs.FlipPayload(seq)
	}, nil))
}

// Dead-lettering a batch with a record damaged since it was sealed: that
// record goes as corrupt and counts the length of what its dead letter
// keeps, the others their payload (what a scan counts, checked again by
// mustOpen's Cleanup).
func TestDeadLetterCorruptRecord(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 3)
	b := sealOne(t, s, 3)
	flipEvent(t, s, 2)
	require.NoError(t, s.DeadLetter(b.Seq, "gone", false))
	var stored int // what the damaged record's dead letter keeps of it
	require.NoError(t, s.ForEachDead(func(d DeadLetter) error {
		if d.Err != nil {
			stored = len(d.Raw)
		}
		return nil
	}))
	require.NotZero(t, stored)
	require.Equal(t, statsOf{Dead: 3, DeadBytes: int64(24 + stored)}, statsNow(s))
	var reasons []string
	require.NoError(t, s.ForEachDead(func(d DeadLetter) error {
		reasons = append(reasons, d.Reason)
		require.Equal(t, d.Err != nil, d.Record.Seq == 2)
		require.Equal(t, b.ID, d.BatchID)
		return nil
	}))
	require.Len(t, reasons, 3)
	require.Equal(t, "gone", reasons[0])
	require.Contains(t, reasons[1], "corrupt: ")
	require.Equal(t, "gone", reasons[2])
}

func TestPurgeDead(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	n, err := s.PurgeDead()
	require.NoError(t, err)
	require.Zero(t, n)
	appendN(t, s, "", 0, 3)
	require.NoError(t, s.DeadLetter(sealOne(t, s, 3).Seq, "x", false))
	n, err = s.PurgeDead()
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Empty(t, deadLetters(t, s))
	require.Equal(t, statsOf{}, statsNow(s))
	appendN(t, s, "", 3, 1)
	require.NoError(t, s.DeadLetter(sealOne(t, s, 1).Seq, "y", false))
	require.Len(t, deadLetters(t, s), 1, "the dead bucket works after a purge")
}

// Move completes every batch given and seals a batch per seal option in
// one commit; a batch not in flight is left out; a seal that cuts nothing
// ends the seals; with nothing to do it writes nothing.
func TestMove(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 25)
	var seqs []uint64
	for range 2 {
		res, err := s.Seal(SealOptions{MaxEvents: 5})
		require.NoError(t, err)
		seqs = append(seqs, res.Batch.Seq)
	}
	before := l.CommitStats()
	full := SealOptions{MaxEvents: 5}
	res, err := s.Move([]uint64{seqs[0], 99, seqs[1]}, []SealOptions{full, full, full, full})
	require.NoError(t, err)
	require.Equal(t, []uint64{99}, res.Missing)
	require.Len(t, res.Sealed, 3, "15 events pending: three full batches, the fourth seal cuts none")
	for i, r := range res.Sealed {
		require.Equal(t, uint64(11+5*i), r.Batch.First)
		require.Len(t, r.Records, 5)
		require.Equal(t, string(payloadN(10+5*i)), string(r.Records[0].Payload))
	}
	after := l.CommitStats()
	require.Equal(t, before.Commits+1, after.Commits, "one commit for two completions and three seals")
	require.Equal(t, statsOf{InFlightBatches: 3, InFlight: 15, InFlightBytes: 15 * int64(len(payloadN(0))),
		CompletedBatches: 2, CompletedEvents: 10}, statsNow(s))
	_, err = s.InFlight(seqs[0])
	require.ErrorIs(t, err, ErrNoBatch)

	// Nothing to complete (not in flight) and nothing full to seal: no
	// commit, no error.
	res, err = s.Move([]uint64{seqs[0]}, []SealOptions{full})
	require.NoError(t, err)
	require.Equal(t, []uint64{seqs[0]}, res.Missing)
	require.Empty(t, res.Sealed)
	require.Equal(t, after.Commits, l.CommitStats().Commits)

	appendN(t, s, "", 25, 2)
	res, err = s.Move(nil, []SealOptions{full, {MaxEvents: 5, Force: true}})
	require.NoError(t, err)
	require.Empty(t, res.Sealed, "the seals stop at the first that cuts nothing")
	res, err = s.Move(nil, []SealOptions{{MaxEvents: 5, Force: true}, full})
	require.NoError(t, err)
	require.Len(t, res.Sealed, 1, "a forced seal cuts what is pending")
	require.Equal(t, 2, res.Sealed[0].Batch.Count)
	require.NoError(t, checkLog(l))
	l = reopen(t, l, nil)
	s = mustStream(t, l, "s")
	require.EqualValues(t, 4, s.Stats().InFlightBatches)
}

// A Move whose seal fails after its completions wrote changes nothing: the
// batch it completed is still in flight.
func TestMoveAllOrNothing(t *testing.T) {
	l, _ := mustOpen(t, nil)
	s := mustStream(t, l, "s")
	appendN(t, s, "", 0, 4)
	res, err := s.Seal(SealOptions{MaxEvents: 2})
	require.NoError(t, err)
	seq := res.Batch.Seq
	require.NoError(t, format.RewriteStream(s, func(tx *bolt.Tx, _ *format.State) error {
		rs, _ := format.RawStreamOf(tx, "s")
		return rs.Events.Put(append(format.SeqKey(3), 0), []byte("x")) // not a sequence number: the seal stops
	}))
	before := statsNow(s)
	_, err = s.Move([]uint64{seq}, []SealOptions{{MaxEvents: 2}})
	require.Error(t, err)
	require.Equal(t, before, statsNow(s))
	b, err := s.InFlight(seq)
	require.NoError(t, err)
	require.Equal(t, 2, b.Count)
	require.NoError(t, s.Complete(seq), "the completion alone still goes through")
	require.NoError(t, format.RewriteStream(s, func(tx *bolt.Tx, _ *format.State) error {
		rs, _ := format.RawStreamOf(tx, "s")
		return rs.Events.Delete(append(format.SeqKey(3), 0))
	}))
}
