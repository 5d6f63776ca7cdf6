package recovery

import (
	"errors"
	"fmt"
	"strings"

	"github.com/walbatch/walbatch/internal/format"
	"github.com/walbatch/walbatch/store"
)

// Kind classifies a Problem.
type Kind string

// The kinds of problem Verify reports.
const (
	// KindFile is damage to bbolt's own structure: meta pages, page
	// references, page types, key order, the freelist.
	KindFile Kind = "file"
	// KindBucket is a stream bucket missing a sub-bucket or its ID, or
	// whose ID differs from the one its events carry.
	KindBucket Kind = "bucket"
	// KindState is a stream's state record that does not decode.
	KindState Kind = "state"
	// KindRecord is an event whose key or envelope is bad (checksum).
	KindRecord Kind = "record"
	// KindBatch is a batch record that does not decode, fails its
	// checksum, points at missing events, overlaps another batch or
	// disagrees with its range.
	KindBatch Kind = "batch"
	// KindSealed is an event on the wrong side of SealedThrough: sealed
	// but in no batch.
	KindSealed Kind = "sealed"
	// KindCounter is a counter that disagrees with a scan, a next
	// sequence number not above every key, or requeued runs that do not
	// hold exactly the requeued events.
	KindCounter Kind = "counter"
	// KindDead is a dead letter that does not decode, or whose reason,
	// batch, attempts or time fail their checksum.
	KindDead Kind = "dead"
	// KindDone is a completion record that does not decode or fails its
	// checksum.
	KindDone Kind = "done"
)

// Problem is one thing found wrong, with where it is.
type Problem struct {
	Kind   Kind
	Stream string // "" for the file as a whole
	Seq    uint64 // event or batch sequence number; 0 when none applies
	Msg    string
}

// String returns the problem as one line: "stream a: seq 7: record: ...".
func (p Problem) String() string {
	var b strings.Builder
	if p.Stream != "" {
		fmt.Fprintf(&b, "stream %q: ", p.Stream)
	}
	if p.Seq != 0 {
		fmt.Fprintf(&b, "seq %d: ", p.Seq)
	}
	fmt.Fprintf(&b, "%s: %s", p.Kind, p.Msg)
	return b.String()
}

// problems collects problems up to a limit and counts the rest.
type problems struct {
	max     int
	list    []Problem
	omitted int
}

func (ps *problems) add(kind Kind, stream string, seq uint64, format string, args ...any) {
	if ps.max > 0 && len(ps.list) >= ps.max {
		ps.omitted++
		return
	}
	ps.list = append(ps.list, Problem{Kind: kind, Stream: stream, Seq: seq, Msg: fmt.Sprintf(format, args...)})
}

// Report is what Verify found.
type Report struct {
	Path string
	// Info is the meta bucket's content.
	Info store.Info
	// Streams has one entry per stream checked, in name order.
	Streams []StreamCheck
	// Problems lists what is wrong, up to VerifyOptions.MaxProblems.
	Problems []Problem
	// Omitted counts problems found past MaxProblems.
	Omitted int
	// PagesChecked is false when the page-level checks were skipped (a
	// log open for writing, checked live).
	PagesChecked bool
}

// StreamCheck is what a scan of one stream counted.
type StreamCheck struct {
	Stream string
	// Stored is the state record (zero when it does not decode).
	Stored format.State
	// Counted is what the counters should be, from the scan.
	Counted format.State
	// Events is the number of keys in the events bucket.
	Events int64
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 && r.Omitted == 0 }

// Has reports whether a problem of kind k was found.
func (r *Report) Has(k Kind) bool {
	for _, p := range r.Problems {
		if p.Kind == k {
			return true
		}
	}
	return false
}

// Err returns nil when the report is OK, else an error wrapping
// store.ErrCorrupt that names the first problem and how many there are.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	n := len(r.Problems) + r.Omitted
	return fmt.Errorf("recovery: %s: %d problem(s), first: %s: %w", r.Path, n, r.Problems[0], store.ErrCorrupt)
}

// String returns a summary line followed by one line per problem.
func (r *Report) String() string {
	var b strings.Builder
	if r.OK() {
		fmt.Fprintf(&b, "%s: ok, %d stream(s)", r.Path, len(r.Streams))
	} else {
		fmt.Fprintf(&b, "%s: %d problem(s) in %d stream(s)", r.Path, len(r.Problems)+r.Omitted, len(r.Streams))
	}
	if !r.PagesChecked {
		b.WriteString(" (pages not checked: log open for writing)")
	}
	for _, p := range r.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	if r.Omitted > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", r.Omitted)
	}
	return b.String()
}

// ErrUnrepairable is returned by Repair when the file cannot be made
// consistent without losing what it still holds (for example its meta
// bucket is unreadable). The file is left as it was.
var ErrUnrepairable = errors.New("recovery: file cannot be repaired")
