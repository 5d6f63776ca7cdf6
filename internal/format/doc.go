// Package format is the one place where walbatch's file format (format
// versions 1 and 2) is written down in code: the bucket and key names, the event
// record envelope, the stored batch, dead-letter and completion records
// with their field checksums, a stream's counters record and its requeued
// runs (format 1 only), the format's part of a migration (migrate.go), raw
// access to a stream's buckets in a bbolt transaction, and the
// one scan that recounts a stream and finds what is wrong in it
// (ScanStream; ScanBatches for the batch records alone).
// Package wal reads and writes the file through it; package recovery and
// walctl inspect and repair the file through it. wal/doc.go documents the
// layout for a reader; bbolt's own page layout is in internal/boltfile.
//
// Nothing here takes a lock: the functions encode, decode and look up, and
// callers own the transactions (see internal/storetx for those of a
// store.DB). The one piece of state is the pair of hooks package wal sets
// at init (hooks.go), through which recovery reads and rewrites a
// wal.Stream's counters without wal's public API offering it. This
// package's own init gives internal/storetx migrateStreams, which package
// store runs in a migration's transaction.
package format
