// Package torture is walbatch's torture program: a real processor in a
// child process, SIGKILLed at random moments (opening, compacting,
// enqueueing and committing, draining), against a receiver in the parent
// that fails in bursts (5xx, 429 with Retry-After, hangs past the timeout,
// connections reset mid-response) and refuses poison events for good,
// with compaction, damaged records and a full disk between and during the
// runs. At the end a last child drains the WAL and the parent checks that
// every acknowledged event was delivered or dead-lettered with a reason,
// that redeliveries kept their event IDs, and that recovery.Verify finds
// the final file sound.
//
// Run it with go run ./cmd/walbatch-torture (see its -help) or through
// TestTortureShort. docs/testing.md has the figures of a long run.
package torture

import (
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// Fault is a kind of fault the parent injects.
type Fault string

const (
	FaultKill      Fault = "kill"     // SIGKILL of the child
	FaultCompact   Fault = "compact"  // compaction by the child or the parent
	Fault5xx       Fault = "5xx"      // bursts of 500/502/503
	Fault429       Fault = "429"      // bursts of 429 with Retry-After
	FaultHang      Fault = "hang"     // requests held past the timeout
	FaultReset     Fault = "reset"    // connection reset mid-response
	FaultPermanent Fault = "400"      // poison events refused for good
	FaultDiskFull  Fault = "diskfull" // the WAL's tmpfs filled and freed
	FaultCorrupt   Fault = "corrupt"  // a byte of a record's payload flipped
)

// AllFaults lists every fault kind.
var AllFaults = []Fault{FaultKill, FaultCompact, Fault5xx, Fault429, FaultHang, FaultReset, FaultPermanent, FaultDiskFull, FaultCorrupt}

var sinkFaultOf = map[Fault]SinkFault{Fault5xx: Sink5xx, Fault429: Sink429, FaultHang: SinkHang, FaultReset: SinkReset}

// ParseFaults reads a comma-separated list of fault kinds; "all" means
// every one.
func ParseFaults(s string) (map[Fault]bool, error) {
	m := map[Fault]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case f == "all":
			for _, a := range AllFaults {
				m[a] = true
			}
		default:
			ok := false
			for _, a := range AllFaults {
				if Fault(f) == a {
					m[a], ok = true, true
				}
			}
			if !ok {
				return nil, fmt.Errorf("torture: unknown fault %q (have %s, all)", f, faultList(AllFaults))
			}
		}
	}
	return m, nil
}

func faultList(fs []Fault) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ",")
}

// Config sets up a torture run.
type Config struct {
	// Dir is the work directory; "" means a new temporary one. It is
	// removed after a run that passed unless Keep; after a failed run it
	// holds the WAL, the seed and the history.
	Dir  string
	Keep bool
	// Duration and Cycles bound the run: it stops at whichever comes
	// first (0: no bound from it; both 0 means 20 cycles).
	Duration time.Duration
	Cycles   int
	// MinKills keeps the run going past Duration until this many SIGKILLs
	// landed (Cycles still bounds it).
	MinKills int
	// Seed drives every random choice; 0 picks one (printed).
	Seed uint64
	// Faults enables fault kinds (nil: all).
	Faults map[Fault]bool
	// TmpfsMiB is the size of the tmpfs for the disk-full fault.
	TmpfsMiB int
	// ChildCommand returns the command that runs RunChild with args.
	ChildCommand func(args []string) *exec.Cmd
	// Progress receives a line per cycle; nil discards.
	Progress io.Writer
}

func (c *Config) on(f Fault) bool { return c.Faults[f] }

// params are the run's shape, drawn from the seed and printed.
type params struct {
	Streams     int
	Producers   int // the most enqueueing goroutines of a child run
	BatchSizes  []int
	PoisonRate  float64
	MaxRetries  int
	HTTPTimeout time.Duration
	MaxEvents   int // per child run
}

func (p params) String() string {
	return fmt.Sprintf("streams %d, producers 1..%d per child run, batch sizes %v, poison rate %.4f, max retries %d, HTTP timeout %s, up to %d events per child run",
		p.Streams, p.Producers, p.BatchSizes, p.PoisonRate, p.MaxRetries, p.HTTPTimeout, p.MaxEvents)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
