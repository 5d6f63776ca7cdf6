// Package store is the bbolt file under a walbatch WAL: it opens and locks
// the file, records and checks its format version, turns bbolt's failures
// into sentinel errors, and takes snapshots and compacts.
//
// Most programs never use store directly: processor.Open opens the file
// through wal.Open, which opens it through store. Use store to hold a file
// open yourself (wal.New takes a *DB, and wal.Log.Store returns the one a Log holds, for a Handler), to serve a
// running process's WAL to walctl over HTTP (Handler), or to compact a file
// offline (CompactFile).
//
// What a caller may rely on:
//
//   - One process writes a file at a time. Open takes an exclusive lock (a
//     shared one with Options.ReadOnly) and gives up after
//     Options.LockTimeout with ErrLocked.
//   - Every failure with a known cause wraps one of the sentinels (ErrLocked,
//     ErrNotWAL, ErrVersion, ErrCorrupt, ErrNoSpace, ErrReadOnly, ErrClosed);
//     test with errors.Is. A damaged file gives ErrCorrupt, never a panic.
//   - Every write transaction (package wal's commits) is fsynced before it
//     returns unless Options.NoSync is set; a new file's directory is fsynced when the file
//     is created, so the file itself survives a power cut.
//   - Snapshot and the Handler's /snapshot give a consistent copy of the
//     whole file while writers go on; every read-only walctl command accepts
//     such a copy like the file itself.
//   - CompactFile leaves the old file or the new one, whole, whatever
//     moment a crash or power cut hits.
//
// The file's layout (buckets, keys, records) belongs to package wal and is
// described in its package documentation; store only knows the meta bucket
// that marks a bbolt file as a walbatch WAL and holds its format version.
package store
