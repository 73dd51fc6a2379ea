package schemagen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Write makes dir hold exactly files: it writes the ones that changed and removes every other
// file, so a removed endpoint does not leave its schema behind.
func Write(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	existing, err := listDir(dir)
	if err != nil {
		return err
	}
	for _, name := range existing {
		if _, keep := files[name]; !keep {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	for _, name := range sortedNames(files) {
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Diff compares dir with files and describes every difference: a file that is missing, stale
// (different content) or extra (not generated). No differences means an empty slice.
func Diff(dir string, files map[string][]byte) ([]string, error) {
	existing, err := listDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var diffs []string
	have := map[string]bool{}
	for _, name := range existing {
		have[name] = true
		if _, ok := files[name]; !ok {
			diffs = append(diffs, "extra "+name+" (no declaration generates it)")
		}
	}
	for _, name := range sortedNames(files) {
		if !have[name] {
			diffs = append(diffs, "missing "+name)
			continue
		}
		old, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(old, files[name]) {
			diffs = append(diffs, fmt.Sprintf("stale %s (first difference at line %d)", name, firstDiffLine(old, files[name])))
		}
	}
	sort.Strings(diffs)
	return diffs, nil
}

// listDir returns the names of the regular files in dir.
func listDir(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func firstDiffLine(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < len(la) && i < len(lb); i++ {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
