// Package walbatch holds what belongs to the module as a whole: its
// version. The library itself is in the packages below it: processor (the
// batch processor services embed), dispatcher (where batches go), wal and
// store (the write-ahead log and its bbolt file), recovery (what happens at
// open, verify and repair); cmd/walctl is the command-line tool.
package walbatch

// Version is the module's release, in semantic versioning without the
// leading "v". It names the API and the file formats this build reads and
// writes; CHANGELOG.md says what each release changed. walctl prints it
// (`walctl version`, `walctl --version`).
const Version = "0.1.0"
