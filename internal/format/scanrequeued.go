package format

// runCheck checks the format 1 rule of wal/doc.go ("Counters"): every requeued
// event is in a stored run, and a run holds requeued events only, their
// times not decreasing. It walks the runs along with the events: runs[ri]
// is the first run not yet behind the event, inRun how many events of it
// came so far, runTime the time of the last of them.
type runCheck struct {
	sc                    *Scan
	runs                  []RequeuedRun
	ri, inRun             int
	runTime               int64
	loose                 int // requeued events in no run
	looseFirst, looseLast uint64
	prevRequeued          bool // the previous event was requeued
	prevTime              int64
}

func (sc *Scan) newRunCheck() *runCheck { return &runCheck{sc: sc, runs: sc.Runs} }

func (rc *runCheck) wrong(f Finding, format string, args ...any) {
	rc.sc.RunsWrong = true
	f.Part = PartEvents
	rc.sc.add(f, format, args...)
}

func (rc *runCheck) endRun() {
	if rc.inRun == 0 {
		r := rc.runs[rc.ri]
		rc.wrong(Finding{Flaw: FlawRunEmpty}, "requeued run [%d, %d] holds no event", r.First, r.Last)
	}
	rc.ri, rc.inRun = rc.ri+1, 0
}

// event checks the event at seq, with enqueue time t, against the runs,
// and extends the runs the requeued events form.
func (rc *runCheck) event(seq uint64, t int64, requeued bool) {
	for rc.ri < len(rc.runs) && rc.runs[rc.ri].Last < seq {
		rc.endRun()
	}
	inside := rc.ri < len(rc.runs) && rc.runs[rc.ri].First <= seq
	switch {
	case inside && !requeued:
		r := rc.runs[rc.ri]
		rc.wrong(Finding{Flaw: FlawNotRequeued, Seq: seq}, "event %d is in requeued run [%d, %d] but was not requeued", seq, r.First, r.Last)
	case inside && rc.inRun > 0 && t < rc.runTime:
		r := rc.runs[rc.ri]
		rc.wrong(Finding{Flaw: FlawRunOlder, Seq: seq}, "event %d in requeued run [%d, %d] is older than the one before it", seq, r.First, r.Last)
	case !inside && requeued:
		if rc.loose == 0 {
			rc.looseFirst = seq
		}
		rc.loose, rc.looseLast = rc.loose+1, seq
	}
	if inside {
		rc.inRun, rc.runTime = rc.inRun+1, t
	}
	found := rc.sc.Requeued
	if n := len(found); requeued && rc.prevRequeued && n > 0 && t >= rc.prevTime {
		found[n-1].Last = seq
	} else if requeued {
		rc.sc.Requeued = append(found, RequeuedRun{First: seq, Last: seq})
	}
	rc.prevRequeued, rc.prevTime = requeued, t
}

// end checks the runs past the last event, and that every requeued event
// is in a run (not when the runs do not decode: then all are wrong).
func (rc *runCheck) end() {
	for rc.ri < len(rc.runs) {
		rc.endRun()
	}
	if rc.loose > 0 && rc.sc.RunsErr == nil {
		// Left by a version that did not record runs, or by damage: the
		// counters would miss them once the events before them complete.
		rc.wrong(Finding{Flaw: FlawLoose, Seq: rc.looseFirst}, "%d requeued event(s) between seq %d and %d are in no requeued run",
			rc.loose, rc.looseFirst, rc.looseLast)
	}
}
