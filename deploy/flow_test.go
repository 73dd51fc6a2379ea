package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moa-run/moa/bus"
	"github.com/moa-run/moa/contracts"
	"github.com/moa-run/moa/moatest"
)

// account is a signed-up, logged-in user of the live flow.
type account struct {
	ID    string
	Token string
}

// market is what marketplaceFlow leaves for the flows after it.
type market struct {
	Seller, Buyer account
	Product       contracts.Product
}

// marketplaceFlow goes through the three services as the edge would: a seller signs up and
// publishes a product, a consumer signs up and searches for it, and the search service
// records the search from the catalog's event. Each step needs some permission of nats.conf.
func marketplaceFlow(t *testing.T, c *bus.Client) market {
	t.Helper()
	ctx := ctxFor(t, 2*time.Minute)
	seller := signupLogin(t, ctx, c, "seller@example.test", contracts.RoleSeller)
	created, err := bus.Call(bus.WithAuthToken(ctx, seller.Token), c, contracts.CatalogCreateProduct, contracts.CreateProductRequest{
		Title: "Family video plan", PriceAmount: 5900, Currency: "KRW", BillingPeriod: contracts.BillingMonthly,
		Terms: "Cancel any time. No refunds for the current period.", Capacity: 4, Tags: []string{"video"},
	})
	if err != nil {
		t.Fatalf("catalog.create_product (catalog verifies the token with auth.v1.keys, writes its outbox): %v", err)
	}
	if _, err := bus.Call(ctx, c, contracts.CatalogListProducts, contracts.ListProductsRequest{}); err != nil {
		t.Fatalf("catalog.list_products (KV read cache): %v", err)
	}
	buyer := signupLogin(t, ctx, c, "buyer@example.test", contracts.RoleConsumer)
	page, err := bus.Call(bus.WithAuthToken(ctx, buyer.Token), c, contracts.CatalogSearchProducts, contracts.SearchProductsRequest{Query: "family"})
	if err != nil {
		t.Fatalf("catalog.search_products: %v", err)
	}
	if !strings.Contains(fmt.Sprint(page), created.ID) {
		t.Errorf("search for the product found %+v", page)
	}
	moatest.WaitFor(t, time.Minute, func() error {
		recent, err := bus.Call(bus.WithAuthToken(ctx, buyer.Token), c, contracts.SearchRecent, contracts.SearchRecentRequest{})
		if err != nil {
			return err
		}
		if len(recent.Items) == 0 || recent.Items[0].Query != "family" {
			return fmt.Errorf("recent searches %+v: the catalog.searched event did not reach search", recent.Items)
		}
		return nil
	})
	return market{Seller: seller, Buyer: buyer, Product: created}
}

// caughtUp waits until the durable consumer has handled everything in its stream.
func caughtUp(t *testing.T, rt *bus.Runtime, stream, durable string) {
	t.Helper()
	moatest.WaitFor(t, time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cons, err := rt.JetStream().Consumer(ctx, stream, durable)
		if err != nil {
			return err
		}
		info, err := cons.Info(ctx)
		if err != nil {
			return err
		}
		if info.NumPending > 0 || info.NumAckPending > 0 {
			return fmt.Errorf("%s has %d pending and %d unacked", durable, info.NumPending, info.NumAckPending)
		}
		return nil
	})
}

func signupLogin(t *testing.T, ctx context.Context, c *bus.Client, email string, role contracts.Role) account {
	t.Helper()
	const password = "correct horse battery"
	u, err := bus.Call(ctx, c, contracts.AuthSignup, contracts.SignupRequest{Email: email, Password: password, Role: role, DisplayName: "Test"})
	if err != nil {
		t.Fatalf("auth.signup: %v", err)
	}
	s, err := bus.Call(ctx, c, contracts.AuthLogin, contracts.LoginRequest{Email: email, Password: password})
	if err != nil {
		t.Fatalf("auth.login: %v", err)
	}
	return account{ID: u.ID, Token: s.AccessToken}
}
