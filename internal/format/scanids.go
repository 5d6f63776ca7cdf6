package format

import "bytes"

// idSet is where each ID a scan has read is (nil: IDs are not checked).
type idSet map[[16]byte]idPlace

type idPlace struct {
	part Part
	seq  uint64
}

// checkID records the ID of the readable event or dead letter at seq and
// finds it foreign or held twice.
func (sc *Scan) checkID(ids idSet, part Part, seq uint64, id [16]byte) {
	if ids == nil {
		return
	}
	if !bytes.Equal(id[:8], sc.uid[:]) {
		sc.add(Finding{Part: part, Flaw: FlawForeignID, Seq: seq}, "%s %d has ID %x, not one of stream %x", part.holder(), seq, id, sc.uid)
	}
	if p, dup := ids[id]; dup {
		sc.add(Finding{Part: part, Flaw: FlawDuplicateID, Seq: seq}, "%s %d has ID %x, as %s %d has", part.holder(), seq, id, p.part.holder(), p.seq)
		return
	}
	ids[id] = idPlace{part, seq}
}

// holder names what holds an ID in part: "event" or "dead letter".
func (p Part) holder() string {
	if p == PartDead {
		return "dead letter"
	}
	return "event"
}
