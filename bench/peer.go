package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The OpenTelemetry Collector's persistent queue runs from its own module,
// bench/otelq (see its main.go for why: its bbolt is not walbatch's). The
// parent builds that binary once and runs its scenarios as it runs its own:
// one subprocess each, one RESULT line back.

// binaries are the executables scenarios run in.
type binaries struct {
	self    string // this binary: every scenario but the peer's
	peer    string // bench/otelq, built; "" when it did not build
	peerErr error  // why it did not
}

// buildPeer builds bench/otelq into dir, from src (its module directory),
// with the go command that runs this bench and otelq's own go.mod
// (GOWORK=off). A failure says what go printed.
func buildPeer(src, dir string) (string, error) {
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return "", fmt.Errorf("no otelq module at %s (run the bench from bench/, or set -otelq-src or -otelq): %w", src, err)
	}
	out := filepath.Join(dir, "otelq")
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var msg bytes.Buffer
	cmd.Stdout = &msg
	cmd.Stderr = &msg
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build in %s: %v: %s", src, err, strings.TrimSpace(msg.String()))
	}
	return out, nil
}

// peerBinary is the otelq binary for the selected scenarios: the one named
// by -otelq, or one built from -otelq-src into dir; "" without peer scenarios.
func peerBinary(sel []scenario, dir string) (string, error) {
	need := false
	for _, s := range sel {
		need = need || s.peer
	}
	switch {
	case !need:
		return "", nil
	case *flagOtelq != "":
		return *flagOtelq, nil
	}
	fmt.Fprintf(os.Stderr, "bench: building the OpenTelemetry peer (%s)\n", *flagOtelqSrc)
	return buildPeer(*flagOtelqSrc, dir)
}
