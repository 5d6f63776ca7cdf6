package childproc

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// memSampler reads a process's VmHWM and RssAnon until stopped.
type memSampler struct {
	pid  int
	quit chan struct{}
	done chan struct{}

	mu      sync.Mutex
	hwm     int64
	anonMax int64
}

func sampleMemory(pid int) *memSampler {
	m := &memSampler{pid: pid, quit: make(chan struct{}), done: make(chan struct{})}
	go m.run()
	return m
}

func (m *memSampler) run() {
	defer close(m.done)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		m.read()
		select {
		case <-m.quit:
			return
		case <-t.C:
		}
	}
}

func (m *memSampler) read() {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.pid))
	if err != nil {
		return
	}
	hwm, anon := statusKB(data, "VmHWM:"), statusKB(data, "RssAnon:")
	m.mu.Lock()
	m.hwm = max(m.hwm, hwm*1024)
	m.anonMax = max(m.anonMax, anon*1024)
	m.mu.Unlock()
}

// stop ends sampling and returns the peaks in bytes.
func (m *memSampler) stop() (hwm, anon int64) {
	close(m.quit)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hwm, m.anonMax
}

// statusKB returns the value in kB of a /proc/<pid>/status field, 0 if
// absent.
func statusKB(status []byte, field string) int64 {
	i := bytes.Index(status, []byte(field))
	if i < 0 {
		return 0
	}
	rest := status[i+len(field):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	v, _ := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
	return v
}
