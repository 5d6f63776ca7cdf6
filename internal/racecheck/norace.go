//go:build !race

package racecheck

// Enabled is true when the binary is built with -race.
const Enabled = false
