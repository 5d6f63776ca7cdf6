// Package powercut is a test filesystem that simulates losing power: a FUSE
// loopback over a backing directory that keeps every write to a file in
// memory until the file is fsynced, so that a simulated power cut can throw
// away exactly what a real disk would not have.
//
// # What it models
//
//   - Data. A write is kept per backing inode, page by page, and reads
//     (read(2) and mmap page faults alike) see it. fsync and fdatasync on
//     the file apply all of it, with the file's new size, to the backing
//     file; closing the file does not. No file handle is ever a kernel
//     passthrough handle: the kernel sends every read and write here.
//   - The cut. Freeze is the moment the power fails: from then on writes,
//     truncates, fsyncs (one still waiting out Options.SyncLatency too) and
//     name changes fail with EIO and change nothing. FreezeAfter freezes
//     right after a chosen request (the n-th write, create, fsync, directory
//     fsync or rename from now). After the writer is killed and the mount is
//     down, Cut drops every unsynced write, or with CutOptions.Rand keeps a
//     random subset of 512-byte or 4 KiB pieces and maybe the new size (a
//     torn write: a disk that persisted some of what it was given).
//   - Names (Options.StrictDirs). Creates, renames and unlinks of files are
//     durable only once their directory is fsynced; at the cut each
//     directory gets back the names it had at its last fsync (or at New),
//     each naming the inode it named then, with whatever data was synced
//     to that inode.
//
// # What it does not model
//
// Directories themselves (mkdir, rmdir) are durable at once; metadata
// other than size (mode, owner, times) is applied at once; a page written
// twice between syncs can only tear to its last version; reordering is
// only what a random subset gives, not a device's write cache semantics;
// fsync of one file does not make another file's data durable (a real
// journaling filesystem sometimes does, so the model is stricter there).
// The backing files are never fsynced: the host does not lose power.
//
// # Use
//
// The FUSE server must not run in the process that uses the files through
// the mount (a page fault on an mmap of the mount can wait forever on the
// server's own goroutines): serve in the test process, write from a child.
// Mounting needs root and /dev/fuse (a plain mount(2), no fusermount).
//
//	f, _ := powercut.New(backing, &powercut.Options{StrictDirs: true})
//	_ = f.Mount(mnt)
//	// start the writer on mnt in another process, let it work
//	f.Freeze()
//	// SIGKILL the writer, wait for it
//	_ = f.Unmount(10 * time.Second)
//	rep, _ := f.Cut(nil) // backing now holds only what was durable
//	// check backing directly; New + Mount again to go on
package powercut
