package load

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/internal/wsconn"
)

const (
	sellers       = 4
	setupParallel = 8
)

// setup signs up and logs in the sellers and the consumers over the edge, puts up the
// products, opens one chat room per consumer and the anonymous connections that sign up and
// log in during the run.
func (r *runner) setup(ctx context.Context) error {
	for i := range sellers {
		c, err := r.signedIn(ctx, fmt.Sprintf("load-%s-seller-%d@load.test", r.runID, i), contracts.RoleSeller)
		if err != nil {
			return fmt.Errorf("seller: %w", err)
		}
		c.Handle(r.onSellerFrame)
		r.sellers = append(r.sellers, c)
	}
	for i := range r.cfg.Products {
		word := searchWords[i%len(searchWords)]
		f, err := r.sellers[i%sellers].Call("catalog.create_product", contracts.CreateProductRequest{
			Title: fmt.Sprintf("%s club %d", word, i), Description: "a " + word + " subscription for the load test",
			PriceAmount: 1000 + int64(i), Currency: "KRW", BillingPeriod: contracts.BillingMonthly,
			Terms: "Cancel any time.", Capacity: contracts.MaxCapacity, Tags: []string{word},
		}, callTimeout)
		if err != nil {
			return fmt.Errorf("create product: %w", err)
		}
		var p contracts.Product
		if err := json.Unmarshal(f.Body, &p); err != nil {
			return err
		}
		r.products = append(r.products, p.ID)
	}
	r.users = make([]*user, r.cfg.Users)
	errs := make(chan error, r.cfg.Users)
	sem := make(chan struct{}, setupParallel)
	var wg sync.WaitGroup
	for i := range r.users {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			email := fmt.Sprintf("load-%s-user-%d@load.test", r.runID, i)
			c, err := r.signedIn(ctx, email, contracts.RoleConsumer)
			if err != nil {
				errs <- fmt.Errorf("consumer: %w", err)
				return
			}
			// Each user starts on another product, so subscriptions spread over the sellers.
			u := &user{conn: c, email: email, start: i}
			f, err := c.Call("chat.open_room", map[string]string{"product_id": r.products[i%len(r.products)]}, callTimeout)
			if err != nil {
				c.Close()
				errs <- fmt.Errorf("open room: %w", err)
				return
			}
			var room contracts.ChatRoom
			if err := json.Unmarshal(f.Body, &room); err != nil {
				c.Close()
				errs <- err
				return
			}
			u.room = room.ID
			c.Handle(r.onConsumerFrame)
			r.users[i] = u
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	// Anonymous connections for signups and logins: one per 10 users keeps each under the
	// edge's per-connection frame rate at the mix's share of those operations.
	for range max(2, r.cfg.Users/10) {
		c, err := wsconn.Dial(r.wsURL)
		if err != nil {
			return err
		}
		if err := c.AuthAnonymous(callTimeout); err != nil {
			c.Close()
			return err
		}
		r.anon = append(r.anon, c)
	}
	return ctx.Err()
}

// signedIn signs a new account up and in over an anonymous connection, which it then turns
// into the account's session, as the web app does.
func (r *runner) signedIn(ctx context.Context, email string, role contracts.Role) (*wsconn.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := wsconn.Dial(r.wsURL)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*wsconn.Conn, error) { c.Close(); return nil, err }
	if err := c.AuthAnonymous(callTimeout); err != nil {
		return fail(err)
	}
	if _, err := c.Call("auth.signup", contracts.SignupRequest{Email: email, Password: r.password, Role: role, DisplayName: "Load"}, callTimeout); err != nil {
		return fail(err)
	}
	f, err := c.Call("auth.login", map[string]string{"email": email, "password": r.password}, callTimeout)
	if err != nil {
		return fail(err)
	}
	var s contracts.Session
	if err := json.Unmarshal(f.Body, &s); err != nil {
		return fail(err)
	}
	if err := c.Auth(s.AccessToken, callTimeout); err != nil {
		return fail(err)
	}
	c.User = contracts.Principal{UserID: s.User.ID, Role: role, Email: email}
	return c, nil
}
