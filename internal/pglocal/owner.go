package pglocal

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// owner is the OS identity the server runs as. A nil *owner means "as
// ourselves", which is the case for every non-root user.
type owner struct {
	name     string
	uid, gid uint32
}

// serverOwner decides who runs initdb and postgres. initdb and postgres both
// refuse to run as root, so root hands them to the postgres user; we never
// create that user ourselves because adding OS accounts is the
// administrator's call.
func serverOwner() (*owner, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(Superuser)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return nil, errors.New(`pglocal: running as root, and PostgreSQL refuses to run as root; ` +
				`there is no "postgres" OS user to run it as: install PostgreSQL with ` +
				`"apt-get install -y postgresql" (which creates that user) or create it with "useradd postgres"`)
		}
		return nil, fmt.Errorf("pglocal: look up the postgres OS user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pglocal: postgres gid %q: %w", u.Gid, err)
	}
	return &owner{name: u.Username, uid: uint32(uid), gid: uint32(gid)}, nil
}

// credential is what a child process runs as.
func (o *owner) credential() *syscall.Credential {
	if o == nil {
		return nil
	}
	return &syscall.Credential{Uid: o.uid, Gid: o.gid, NoSetGroups: true}
}

// makeDir creates dir (0700, as PostgreSQL insists for data directories),
// gives it to the server owner and makes sure the owner can reach it.
func (o *owner) makeDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	if o == nil {
		return nil
	}
	if err := os.Chown(dir, int(o.uid), int(o.gid)); err != nil {
		return err
	}
	return o.makeTraversable(filepath.Dir(dir))
}

// makeTraversable lets the owner walk down to dir. Test temp dirs are 0700
// and owned by root (t.TempDir makes /tmp/TestX123/001 that way), which the
// postgres user cannot enter. Only the search bit is added, and only on
// directories we own: listing stays private, and other people's directories
// are left alone.
func (o *owner) makeTraversable(dir string) error {
	if o == nil {
		return nil
	}
	euid := uint32(os.Geteuid())
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if ok && st.Uid == euid && fi.Mode().Perm()&0o011 != 0o011 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("make %s traversable for the postgres user: %w", d, err)
			}
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// chownTree hands a copied template directory to the owner.
func (o *owner) chownTree(root string) error {
	if o == nil {
		return nil
	}
	return filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(o.uid), int(o.gid))
	})
}
