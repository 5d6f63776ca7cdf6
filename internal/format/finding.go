package format

// Finding is one thing ScanStream finds wrong in a stream's buckets. Msg
// says what and where in one line (it is the text of recovery's Problem);
// the other fields are what a repair acts on.
type Finding struct {
	Part Part
	Flaw Flaw
	// Seq is the sequence number of the batch, event, dead letter or
	// completion record the finding names, or the first of a range of
	// events; 0 when it names none (a malformed key, an empty run, a
	// counter).
	Seq uint64
	// Key is the key as stored, for FlawNested and FlawBadKey.
	Key []byte
	// First and Last are, for FlawStrays, the first and last of the
	// events: every sequence number between them is one of them (in a
	// format 2 file, the stray values hold all of them).
	First, Last uint64
	Msg         string
}

// String returns Msg.
func (f Finding) String() string { return f.Msg }

// Part is the part of a stream a Finding is in.
type Part int

// The parts of a stream, as wal/doc.go lays them out.
const (
	PartBatches Part = iota + 1 // the batches bucket
	PartEvents                  // the events bucket and the requeued runs (format 1)
	PartDead                    // the dead bucket
	PartDone                    // the done bucket
	PartState                   // the state record: a counter the scan disagrees with
)

// Flaw is what a Finding or a BatchScan finds wrong.
type Flaw int

// The flaws. A batch that is not counted (see BatchScan) has the first
// that applies of FlawNested, FlawBadKey, FlawUndecodable,
// FlawEmptyRange, FlawOverlaps and FlawHoldsNone.
const (
	FlawNone        Flaw = iota
	FlawNested           // a bucket where a record belongs (any part)
	FlawBadKey           // a key that is not 8 bytes (any part)
	FlawUndecodable      // a batch, dead-letter or completion record that does not decode or fails its checksum
	FlawEmptyRange       // a batch whose range is empty or reversed
	FlawOverlaps         // a batch whose range starts at or before the end of a counted one before it
	FlawHoldsNone        // a batch whose range holds no event
	FlawNotTight         // a counted batch whose First or Last is not an event
	FlawDisagrees        // a counted batch whose count or bytes are not what its range holds
	FlawPastSealed       // a counted batch whose range ends above SealedThrough
	FlawCorrupt          // an event whose record does not decode (checksum), or a run whose header fails (one for the value)
	FlawStrays           // events at or below SealedThrough in no counted batch (in format 2: values holding no live event)
	FlawRunEmpty         // a stored requeued run that holds no event
	FlawNotRequeued      // an event in a requeued run that was not requeued
	FlawRunOlder         // an event in a requeued run older than the one before it
	FlawLoose            // requeued events in no requeued run
	FlawForeignID        // an event or dead letter whose ID is not the stream's (ScanOptions.IDs)
	FlawDuplicateID      // an event ID held twice, by events or dead letters (ScanOptions.IDs)
	FlawAlsoEvent        // a dead letter under the key of an event
	FlawFieldSum         // a dead letter whose reason, batch, attempts or time fail their checksum
	FlawRotten           // a dead letter whose envelope fails, its reason not starting with "corrupt"
	FlawCounter          // a counter that disagrees with the scan
	FlawHoleNotHeld      // a counted batch with a hole no value holds (all of it)
	FlawKeyInValue       // a value under a key an earlier value's events reach (format 2)
	FlawStaleRuns        // a requeued runs record in a format 2 file, which keeps none
)

// RunFlaw reports whether f is about the requeued runs: in a format 1
// file the stored ones do not hold exactly the requeued events, in
// enqueue-time order; in a format 2 file there is a record at all.
func (f Flaw) RunFlaw() bool {
	return f == FlawRunEmpty || f == FlawNotRequeued || f == FlawRunOlder || f == FlawLoose || f == FlawStaleRuns
}
