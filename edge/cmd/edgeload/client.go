package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/moa-run/moa/client/authn"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/internal/wsconn"
)

// minter mints access tokens with the edge server's issuer key.
type minter struct {
	kid string
	key ed25519.PrivateKey
}

func fetchMinter(admin string) (*minter, error) {
	resp, err := http.Get(admin + "/bench/key")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var k struct{ Kid, Seed string }
	if err := json.NewDecoder(resp.Body).Decode(&k); err != nil {
		return nil, err
	}
	seed, err := base64.StdEncoding.DecodeString(k.Seed)
	if err != nil {
		return nil, err
	}
	return &minter{kid: k.Kid, key: ed25519.NewKeyFromSeed(seed)}, nil
}

func (m *minter) token(p contracts.Principal) (string, error) {
	tok, _, err := authn.Issue(m.key, m.kid, p, time.Now(), time.Hour)
	return tok, err
}

// The connection and frame types are internal/wsconn's, shared with `moa load`.
type (
	wsConn    = wsconn.Conn
	frame     = wsconn.Frame
	latencies = wsconn.Latencies
)

// connect dials, reads hello, authenticates and starts the reader.
func connect(url string, m *minter, p contracts.Principal) (*wsConn, error) {
	tok, err := m.token(p)
	if err != nil {
		return nil, err
	}
	c, err := wsconn.Dial(url)
	if err != nil {
		return nil, err
	}
	if err := c.Auth(tok, 30*time.Second); err != nil {
		c.Close()
		return nil, fmt.Errorf("auth: %w", err)
	}
	c.User = p
	return c, nil
}

// connectMany opens n connections for the principals made by mk, with `parallel` dials at a
// time.
func connectMany(url string, m *minter, n, parallel int, mk func(i int) contracts.Principal) ([]*wsConn, error) {
	conns := make([]*wsConn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			var c *wsConn
			var err error
			for attempt := range 3 { // a loaded machine may refuse a burst of dials
				if c, err = connect(url, m, mk(i)); err == nil {
					break
				}
				time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
			}
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, err
	}
	return conns, nil
}
