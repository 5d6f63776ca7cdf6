package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/walbatch/walbatch"
	"github.com/walbatch/walbatch/store"
)

func TestVersion(t *testing.T) {
	r := walctl(t, "--version")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "walctl "+walbatch.Version+"\n", r.stdout)

	r = walctl(t, "version")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stdout, "walctl "+walbatch.Version+"\nWAL format 2\n"), r.stdout)

	r = walctl(t, "version", "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rep versionReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	require.Equal(t, walbatch.Version, rep.Version)
	require.Equal(t, store.FormatVersion, rep.FormatVersion)

	require.Equal(t, exitUsage, walctl(t, "version", "extra").code)
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash": "complete -o default -F __start_walctl walctl",
		"zsh":  "#compdef walctl",
		"fish": "complete -c walctl",
	} {
		r := walctl(t, "completion", shell)
		require.Equal(t, exitOK, r.code, "%s: %s", shell, r.stderr)
		require.Contains(t, r.stdout, marker, shell)
	}
}
