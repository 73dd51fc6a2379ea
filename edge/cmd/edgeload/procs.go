package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// child is a child process of this binary that announced itself with a ready line.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready ready
}

// spawn starts `<this binary> <args…>` and waits for its ready line.
func spawn(args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	c := &child{cmd: cmd, stdin: stdin}
	select {
	case line, ok := <-lines:
		if !ok || json.Unmarshal([]byte(line), &c.ready) != nil {
			c.stop()
			return nil, fmt.Errorf("%v did not start (said %q)", args, line)
		}
	case <-time.After(2 * time.Minute):
		c.stop()
		return nil, fmt.Errorf("%v did not start within 2 minutes", args)
	}
	return c, nil
}

// stop closes the child's stdin (its signal to stop) and waits for it.
func (c *child) stop() {
	_ = c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}
