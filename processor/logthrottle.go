package processor

import (
	"sync"
	"time"
)

// logEvery is how often the same failure is logged: a sink failing
// thousands of times a second logs once per period, saying how many it
// left out.
const logEvery = 10 * time.Second

// logThrottleMax bounds the messages remembered; past it, those older than
// the period are forgotten (and, if that is not enough, all of them).
const logThrottleMax = 1024

// logThrottle rate-limits identical log messages: the first of a key is
// logged, then at most one per period, carrying the count suppressed
// since the last one.
type logThrottle struct {
	every time.Duration
	mu    sync.Mutex
	seen  map[string]*throttled
}

type throttled struct {
	at         time.Time // when it was last logged
	suppressed int
}

func newLogThrottle(every time.Duration) *logThrottle {
	return &logThrottle{every: every, seen: map[string]*throttled{}}
}

// allow reports whether a message with key may be logged at now, and how
// many with that key were suppressed since the last one logged.
func (t *logThrottle) allow(key string, now time.Time) (bool, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.seen[key]
	if ok && now.Sub(e.at) < t.every {
		e.suppressed++
		return false, 0
	}
	if !ok {
		if len(t.seen) >= logThrottleMax {
			t.forget(now)
		}
		e = &throttled{}
		t.seen[key] = e
	}
	n := e.suppressed
	e.at, e.suppressed = now, 0
	return true, n
}

// forget drops keys not logged within the period, or every key when all
// are recent.
func (t *logThrottle) forget(now time.Time) {
	for k, e := range t.seen {
		if now.Sub(e.at) >= t.every {
			delete(t.seen, k)
		}
	}
	if len(t.seen) >= logThrottleMax {
		clear(t.seen)
	}
}
