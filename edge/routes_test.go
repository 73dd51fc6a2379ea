package edge

import (
	"slices"
	"testing"

	"github.com/moa-run/moa/contracts"
)

// TestRoutesFollowTheContracts pins the allowlist derived from the contracts' access
// declarations: exactly the methods app clients could call when the list was written by hand,
// with the roles it had, and nothing internal or operator-only.
func TestRoutesFollowTheContracts(t *testing.T) {
	routes := map[string]contracts.Access{}
	for _, r := range DefaultRoutes() {
		routes[r.Method] = r.Endpoint.Access
	}
	anyone := []string{"auth.signup", "auth.login", "auth.refresh", "auth.logout", "catalog.get_product",
		"catalog.list_products", "catalog.search_products", "catalog.popular_products", "catalog.view_product",
		// search.popular and search.suggest: the search service serves anonymous callers, and
		// so does the edge now that both read the same declaration.
		"search.popular", "search.suggest",
		// The blog reads anonymously; get_post and list_comments also read a token that is
		// sent (an author's drafts and hidden comments).
		"post.get_post", "post.list_posts", "post.search_posts", "post.list_categories", "post.list_comments",
		// The visit log counts anonymous readers by their visitor id, signed-in ones by user.
		"log.record_view", "log.post_stats", "log.popular_now"}
	signedIn := []string{"auth.me", "search.record", "search.recent", "search.delete_recent", "search.clear_recent",
		"chat.send", "chat.history", "chat.mark_read", "chat.rooms", "chat.unread", "chat.room",
		"notify.since", "notify.list", "notify.mark_read", "notify.unread_count", "subscription.get", "billing.payments",
		"post.add_comment", "post.edit_comment", "post.delete_comment"}
	sellers := []string{"catalog.create_product", "catalog.update_product", "catalog.delete_product",
		"catalog.my_products", "subscription.subscribers", "subscription.dashboard",
		"payout.request_payout", "payout.history", "payout.balance"}
	consumers := []string{"chat.open_room", "subscription.subscribe", "subscription.mine", "subscription.cancel"}
	writers := []string{"post.create_post", "post.update_post", "post.delete_post", "post.my_posts",
		"post.create_category", "post.moderate_comment"}
	want := slices.Concat(anyone, signedIn, sellers, consumers, writers)
	if len(routes) != len(want) {
		t.Errorf("%d routes, want %d", len(routes), len(want))
	}
	check := func(methods []string, anon bool, roles ...contracts.Role) {
		t.Helper()
		for _, m := range methods {
			a, ok := routes[m]
			if !ok {
				t.Errorf("%s is not routed", m)
				continue
			}
			if err := allows(a, false, ""); (err == nil) != anon {
				t.Errorf("%s anonymous: %v", m, err)
			}
			for _, r := range []contracts.Role{contracts.RoleConsumer, contracts.RoleSeller, contracts.RoleWriter} {
				err := allows(a, true, r)
				if (err == nil) != (anon || slices.Contains(roles, r)) {
					t.Errorf("%s as %s: %v", m, r, err)
				}
			}
		}
	}
	check(anyone, true)
	check(signedIn, false, contracts.RoleConsumer, contracts.RoleSeller, contracts.RoleWriter)
	check(sellers, false, contracts.RoleSeller)
	check(consumers, false, contracts.RoleConsumer)
	check(writers, false, contracts.RoleWriter)
	for _, m := range []string{"auth.keys", "auth.operator_token", "subscription.stuck", "subscription.rebuild_dashboard", "payout.rebuild_history", "notify.dev_mailbox"} {
		if _, ok := routes[m]; ok {
			t.Errorf("%s is routed", m)
		}
	}
	dev := routesFor(contracts.Endpoints(), true)
	if len(dev) != len(want)+1 || !slices.ContainsFunc(dev, func(r Route) bool { return r.Method == "notify.dev_mailbox" }) {
		t.Errorf("with DevMailbox: %d routes, want %d with notify.dev_mailbox", len(dev), len(want)+1)
	}
}
