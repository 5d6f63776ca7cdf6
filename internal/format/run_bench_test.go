package format

import (
	"strings"
	"testing"
	"time"
)

// The benchmarks compare a run of 1024 events (204-byte payloads, a 10-byte
// key, IDs implied by the key, times a few microseconds apart) with format
// 1's one envelope per event. bytes/event is the encoded size only: format
// 1 also pays bbolt's per-key cost for each event, a run once.
const benchPayload = 204

func benchRunEvents(n int) []RunEvent {
	evs := make([]RunEvent, n)
	payload := []byte(strings.Repeat("p", benchPayload))
	for i := range evs {
		evs[i] = RunEvent{
			ID:      EventID(runUID, runFirst+uint64(i)),
			Time:    1700000000000000000 + int64(i)*3500,
			Key:     "tenant-042",
			Payload: payload,
		}
	}
	return evs
}

func BenchmarkRunEncode(b *testing.B) {
	evs := benchRunEvents(MaxRunEvents)
	buf := make([]byte, 0, RunSize(runUID, runFirst, evs))
	for b.Loop() {
		buf = AppendRun(buf[:0], runUID, runFirst, evs)
	}
	perEvent(b, len(evs), len(buf))
}

func BenchmarkRunDecode(b *testing.B) {
	evs := benchRunEvents(MaxRunEvents)
	v := AppendRun(nil, runUID, runFirst, evs)
	for b.Loop() {
		r, err := ParseRun(runUID, runFirst, v)
		if err != nil {
			b.Fatal(err)
		}
		for i := range r.Len() {
			if _, err := r.Event(i); err != nil {
				b.Fatal(err)
			}
		}
	}
	perEvent(b, len(evs), len(v))
}

func BenchmarkRunFormat1Encode(b *testing.B) {
	evs := benchRunEvents(MaxRunEvents)
	buf := make([]byte, 0, RecordSize(len(evs[0].Key), benchPayload, 0))
	size := 0
	for b.Loop() {
		size = 0
		for i := range evs {
			e := &evs[i]
			buf = SealRecord(AppendRecordBody(buf[:0], e.Time, e.Key, e.Payload, nil), e.ID)
			size += len(buf)
		}
	}
	perEvent(b, len(evs), size)
}

func BenchmarkRunFormat1Decode(b *testing.B) {
	evs := benchRunEvents(MaxRunEvents)
	envs := make([][]byte, len(evs))
	size := 0
	for i, e := range evs {
		envs[i] = EncodeRecord(Record{ID: e.ID, Time: time.Unix(0, e.Time), Key: e.Key, Payload: e.Payload})
		size += len(envs[i])
	}
	for b.Loop() {
		for i, env := range envs {
			if _, err := DecodeRecord(runFirst+uint64(i), env); err != nil {
				b.Fatal(err)
			}
		}
	}
	perEvent(b, len(evs), size)
}

// perEvent reports ns/event and encoded bytes/event, the latter also over
// the payload.
func perEvent(b *testing.B, events, size int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
	b.ReportMetric(float64(size)/float64(events), "bytes/event")
	b.ReportMetric(float64(size)/float64(events*benchPayload), "bytes/payload-byte")
}
