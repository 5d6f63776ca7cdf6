// Package racecheck tells tests whether the race detector is on, for the
// few tests that cannot run under it.
//
// -race turns on checkptr, which checks every unsafe.Slice. bbolt builds
// its page element slices with unsafe.Slice from counts read off the page,
// so a page whose count was damaged makes checkptr abort the whole test
// binary with a fatal error ("unsafe.Slice result straddles multiple
// allocations") that no recover can catch. Without -race the same read is
// either harmless or a fault that store's guard turns into ErrCorrupt. The
// tests that feed bbolt randomly damaged pages therefore skip under -race,
// and .ci/run runs them once more without it.
package racecheck

import "testing"

// SkipDamagedPages skips t when the race detector (and with it checkptr)
// is on.
func SkipDamagedPages(t testing.TB) {
	t.Helper()
	if Enabled {
		t.Skip("bbolt reading randomly damaged pages is fatal under checkptr (-race); run without -race, as .ci/run does")
	}
}
