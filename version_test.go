package walbatch

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// The version is semantic and CHANGELOG.md has a section for it, so a
// release cannot bump one without the other.
func TestVersionHasAChangelogSection(t *testing.T) {
	require.Regexp(t, `^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`, Version)
	log, err := os.ReadFile("CHANGELOG.md")
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`(?m)^## \[`+regexp.QuoteMeta(Version)+`\] - \d{4}-\d{2}-\d{2}$`), string(log))
}
