// Package layout holds tests of the repository's shape: what a newcomer
// meets when opening its files.
package layout

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxLines is the most lines a non-test Go file may have: beyond it a file
// does several things and is split by concern.
const maxLines = 500

func TestNoLargeSourceFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	var checked int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		lines := 0
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
		for sc.Scan() {
			lines++
		}
		checked++
		rel, _ := filepath.Rel(root, path)
		assert.LessOrEqualf(t, lines, maxLines, "%s has %d lines: split it by concern", rel, lines)
		return sc.Err()
	})
	require.NoError(t, err)
	assert.Greater(t, checked, 100, "the walk reached the repository's Go files")
}
