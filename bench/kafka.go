package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/walbatch/walbatch/bench/internal/benchkit"
	"github.com/walbatch/walbatch/dispatcher"
	"github.com/walbatch/walbatch/sinks/kafka"
)

// runKafka: end to end into Kafka, beside e2e-http. One producer calls
// EnqueueMany (1000 events, durable) for the scenario's duration; the
// processor sends batches of 1000 through the Kafka sink (one record per
// event, the msgpack payload as value, the two ID headers) to a kfake
// cluster in this process on loopback (one broker, 3 partitions, records
// kept in memory). The rate is events the log acknowledged divided by the
// time from the first enqueue until the last acknowledgement. kfake is not
// a broker: no disk, no replication, and it shares the 2 cores with the
// producer, as e2e-http's receiver does.
func runKafka(e *env) (benchkit.Result, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "bench"))
	if err != nil {
		return benchkit.Result{}, err
	}
	defer c.Close()
	sink, err := kafka.New[benchkit.Event]("bench", kafka.WithClientOptions(kgo.SeedBrokers(c.ListenAddrs()...)))
	if err != nil {
		return benchkit.Result{}, err
	}
	defer sink.Close()
	var acked atomic.Int64
	d := dispatcher.Func[benchkit.Event](func(ctx context.Context, b *dispatcher.Batch[benchkit.Event]) error {
		err := sink.Dispatch(ctx, b)
		n := len(b.Events)
		if errs, ok := dispatcher.EventOutcomes(err, n); ok {
			for _, e := range errs {
				if e != nil {
					n--
				}
			}
		} else if err != nil {
			n = 0
		}
		acked.Add(int64(n))
		return err
	})
	p, err := openProcessor(filepath.Join(e.dir, "kafka.wal"), syncAlways, d)
	if err != nil {
		return benchkit.Result{}, err
	}
	defer stopSoon(p)
	const per = 1000
	evs := make([]benchkit.Event, per)
	ctx := context.Background()
	start := time.Now()
	n, _, err := benchkit.Produce(1, e.dur, func(_, i int) (int, error) {
		for j := range evs {
			evs[j] = *e.pool.At(i*per + j)
		}
		return per, p.EnqueueMany(ctx, evs)
	})
	if err != nil {
		return benchkit.Result{}, err
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := p.Flush(fctx); err != nil {
		return benchkit.Result{}, err
	}
	if acked.Load() < n {
		return benchkit.Result{}, fmt.Errorf("the log acknowledged %d of %d", acked.Load(), n)
	}
	return benchkit.Rate("", acked.Load(), time.Since(start).Seconds()), nil
}
