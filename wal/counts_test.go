package wal

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Random operations of every kind that changes a stream's counters
// (appends of one and many events, seals, completions whole and partial,
// per-event outcomes, retries, dead letters whole and per event, requeues,
// purges of some and of all dead letters), with the log checked against a
// full recount every few steps and closed and reopened now and then: the
// counters after the open must equal those before the close, field by
// field, whether stored or derived at open.
func TestCountsModelAcrossReopen(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 13))
			opts := &Options{CompletedKeep: 3}
			l, _ := mustOpen(t, opts)
			names := []string{"a", "b"}
			payload := func() []byte {
				p := make([]byte, 1+rng.IntN(200))
				for i := range p {
					p[i] = byte(rng.Uint32())
				}
				return p
			}
			inflight := func(s *Stream) []Batch {
				bs, err := s.Batches()
				require.NoError(t, err)
				return bs
			}
			deadIDs := func(s *Stream) []EventID {
				var ids []EventID
				require.NoError(t, s.ForEachDead(func(d DeadLetter) error {
					if d.Err == nil {
						ids = append(ids, d.Record.ID)
					}
					return nil
				}))
				return ids
			}
			for step := range 400 {
				s := mustStream(t, l, names[rng.IntN(len(names))])
				bs := inflight(s)
				var b *Batch
				if len(bs) > 0 {
					b = &bs[rng.IntN(len(bs))]
				}
				op := rng.IntN(12)
				switch {
				case op == 0:
					_, err := s.Append(fmt.Sprint(rng.IntN(3)), payload())
					require.NoError(t, err)
				case op == 1:
					es := make([]Entry, 1+rng.IntN(40))
					for i := range es {
						es[i] = Entry{Payload: payload()}
					}
					_, err := s.AppendMany(es)
					require.NoError(t, err)
				case op == 2:
					_, err := s.Seal(SealOptions{MaxEvents: 1 + rng.IntN(20), Force: true})
					require.NoError(t, err)
				case b == nil:
				case op == 3:
					require.NoError(t, s.Complete(b.Seq))
				case op == 4:
					_, err := s.CompletePartial(b.Seq, rng.IntN(b.Count+1))
					require.NoError(t, err)
				case op == 5 || op == 6:
					recs, _, err := s.ReadBatch(b)
					require.NoError(t, err)
					var delivered []uint64
					var dead []EventReason
					for _, r := range recs {
						switch rng.IntN(3) {
						case 0:
							delivered = append(delivered, r.Seq)
						case 1:
							dead = append(dead, EventReason{Seq: r.Seq, Reason: "bad"})
						}
					}
					if op == 5 {
						_, err = s.Resolve(b.Seq, delivered, dead, time.Now(), "some failed")
					} else {
						_, err = s.DeadLetterEvents(b.Seq, dead)
					}
					require.NoError(t, err)
				case op == 7:
					_, err := s.Retry(b.Seq, time.Now(), "down")
					require.NoError(t, err)
				case op == 8:
					require.NoError(t, s.DeadLetter(b.Seq, "gave up", rng.IntN(2) == 0))
				}
				switch op {
				case 9:
					if ids := deadIDs(s); len(ids) > 0 {
						_, err := s.Requeue(ids[:1+rng.IntN(len(ids))])
						require.NoError(t, err)
					}
				case 10:
					if ids := deadIDs(s); len(ids) > 0 {
						_, err := s.PurgeDeadEvents(ids[rng.IntN(len(ids)):])
						require.NoError(t, err)
					}
				case 11:
					if rng.IntN(4) == 0 {
						_, err := s.PurgeDead()
						require.NoError(t, err)
					}
				}
				if step%10 == 9 {
					require.NoError(t, checkLog(l), "step %d", step)
				}
				if step%50 == 49 {
					before := map[string]statsOf{}
					for _, n := range l.Streams() {
						s := mustStream(t, l, n)
						before[n] = statsNow(s)
						require.NotZero(t, before[n], "step %d stream %s: the model counts nothing", step, n)
					}
					mem := map[string]any{}
					for _, n := range l.Streams() {
						mem[n] = mustStream(t, l, n).current()
					}
					l = reopen(t, l, opts)
					for _, n := range l.Streams() {
						s := mustStream(t, l, n)
						require.Equal(t, before[n], statsNow(s), "step %d stream %s: Stats after reopen", step, n)
						require.Equal(t, mem[n], s.current(), "step %d stream %s: counters after reopen", step, n)
					}
				}
			}
		})
	}
}
