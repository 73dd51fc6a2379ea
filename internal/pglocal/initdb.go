package pglocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Locales tried in order. C.UTF-8 gives correct upper()/lower() on non-ASCII
// text, but not every libc ships it; plain C always exists and sorts
// bytewise, which is what tests want anyway.
var initdbLocales = []string{"C.UTF-8", "C"}

// Init makes cfg.DataDir a PostgreSQL data directory unless it already is
// one, by copying cfg.Template when set, else by running initdb. It is what
// Start does first; it is exported to build templates.
func Init(ctx context.Context, cfg Config) error {
	if err := cfg.setDefaults(); err != nil {
		return err
	}
	bins, err := FindBinaries(cfg.BinDir)
	if err != nil {
		return err
	}
	own, err := serverOwner()
	if err != nil {
		return err
	}
	return initDataDir(ctx, &cfg, bins, own)
}

func initDataDir(ctx context.Context, cfg *Config, bins Binaries, own *owner) error {
	if hasPGVersion(cfg.DataDir) {
		// A reused directory may have been made before we ran as root, or
		// its parents tightened since; cheap to re-check every time.
		return own.makeTraversable(filepath.Dir(cfg.DataDir))
	}
	if err := own.makeDir(cfg.DataDir); err != nil {
		return fmt.Errorf("pglocal: data dir: %w", err)
	}
	if cfg.Template != "" {
		if err := copyTree(cfg.Template, cfg.DataDir); err != nil {
			return fmt.Errorf("pglocal: copy template %s: %w", cfg.Template, err)
		}
		if err := own.chownTree(cfg.DataDir); err != nil {
			return fmt.Errorf("pglocal: chown data dir: %w", err)
		}
		return nil
	}
	var lastErr error
	for _, locale := range initdbLocales {
		lastErr = runInitdb(ctx, cfg, bins, own, locale)
		if lastErr == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		// initdb removes what it wrote when it fails, so the next locale
		// starts from the same empty directory.
	}
	return lastErr
}

func runInitdb(ctx context.Context, cfg *Config, bins Binaries, own *owner, locale string) error {
	args := []string{
		"-D", cfg.DataDir,
		"-U", Superuser,
		"-A", "trust",
		"-E", "UTF8",
		"--locale=" + locale,
	}
	if cfg.NoSync {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, bins.Initdb, args...)
	cmd.Dir = "/" // our cwd may be unreadable to the postgres user
	cmd.Env = childEnv()
	out := newLogWriter(cfg.Logger, "initdb")
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr(own)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pglocal: initdb %s (locale %s): %w\n%s", cfg.DataDir, locale, err, out.Tail())
	}
	return nil
}

// childEnv is our environment without libpq variables: a developer's PGDATA
// or PGPORT must not redirect the server we start.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// copyTree copies a data directory, keeping permission bits (PostgreSQL
// refuses a data directory that is group- or world-accessible).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if rel == "postmaster.pid" || rel == "postmaster.opts" {
			return nil // a template that was once started must not look running
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, info.Mode().Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			return os.Chmod(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		default:
			return nil // sockets and the like are runtime leftovers
		}
	})
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
