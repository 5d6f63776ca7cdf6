package format

import (
	"errors"
	"sort"
)

// An event leaves an in-flight batch early (delivered by a per-event
// outcome, dead-lettered alone, quarantined as corrupt) from anywhere in
// its range. In a format 1 file its key is deleted, and the batch's range
// is tightened to the events left. In a format 2 file the run holding it
// is written once and deleted once, so the batch records a hole instead:
// Holes lists the sequence numbers in (First, Last) that left, while First
// and Last are still tightened to events in the batch. A hole is only kept
// while some value holds its events (PruneHoles), so a batch of a format 1
// file never has one.

var errHoles = errors.New("holes are not ascending, disjoint pairs inside the range")

// checkHoles checks the shape DecodeBatch promises for Holes.
func (b *Batch) checkHoles() error {
	h := b.Holes
	if len(h)%2 != 0 {
		return errHoles
	}
	prev := b.First
	for i := 0; i < len(h); i += 2 {
		if h[i] <= prev || h[i] > h[i+1] || h[i+1] >= b.Last {
			return errHoles
		}
		prev = h[i+1] + 1 // a hole starting right after this one would touch it
	}
	return nil
}

// InHole reports whether seq is one of the batch's holes.
func (b *Batch) InHole(seq uint64) bool {
	h := b.Holes
	i := sort.Search(len(h)/2, func(i int) bool { return h[2*i+1] >= seq })
	return i < len(h)/2 && h[2*i] <= seq
}

// Holds reports whether event seq is in the batch: in [First, Last] and
// not a hole (whether a value holds it is the events bucket's business).
func (b *Batch) Holds(seq uint64) bool {
	return seq >= b.First && seq <= b.Last && !b.InHole(seq)
}

// AddHole records that event seq (in [First, Last], not a hole) left the
// batch, merging it with the holes beside it. It does not move First or
// Last.
func (b *Batch) AddHole(seq uint64) {
	h := b.Holes
	i := sort.Search(len(h)/2, func(i int) bool { return h[2*i] > seq }) // first hole after seq
	joinsPrev := i > 0 && h[2*i-1]+1 == seq
	joinsNext := i < len(h)/2 && seq+1 == h[2*i]
	switch {
	case joinsPrev && joinsNext:
		h[2*i-1] = h[2*i+1]
		h = append(h[:2*i], h[2*i+2:]...)
	case joinsPrev:
		h[2*i-1] = seq
	case joinsNext:
		h[2*i] = seq
	default:
		h = append(h, 0, 0)
		copy(h[2*i+2:], h[2*i:])
		h[2*i], h[2*i+1] = seq, seq
	}
	b.Holes = h
}

// ClipHoles drops the holes, and the parts of holes, outside (First,
// Last), after First or Last moved inward to events still in the batch.
func (b *Batch) ClipHoles() {
	out := b.Holes[:0]
	for i := 0; i < len(b.Holes); i += 2 {
		lo, hi := max(b.Holes[i], b.First+1), min(b.Holes[i+1], b.Last-1)
		if b.Last > 0 && lo <= hi {
			out = append(out, lo, hi)
		}
	}
	if len(out) == 0 {
		out = nil
	}
	b.Holes = out
}

// PruneHoles drops the parts of the batch's holes that no value holds (see
// held): a sequence number no value holds is out of the batch anyway.
func (b *Batch) PruneHoles(held func(first, last uint64) [][2]uint64) {
	var out []uint64
	for i := 0; i < len(b.Holes); i += 2 {
		for _, r := range held(b.Holes[i], b.Holes[i+1]) {
			out = append(out, r[0], r[1])
		}
	}
	b.Holes = out
}
