package benchkit

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Memory reads the process's peak resident set (VmHWM) and its anonymous
// resident memory (RssAnon) from /proc/self/status, in bytes. File-backed
// pages (bbolt's mmap of the WAL) are not anonymous: they belong to the page
// cache and the kernel can drop them.
func Memory() (hwm, anon int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmHWM":
			hwm = kb << 10
		case "RssAnon":
			anon = kb << 10
		}
	}
	return hwm, anon
}
