package storetest

import (
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

// testClientAuthFields: CreateClient stores AuthMethod, JWKS and Scopes (an empty AuthMethod as
// the type's default); UpdateClient replaces them.
func testClientAuthFields(t *testing.T, e *env) {
	e.run("stored and read back", func(t *testing.T, e *env) {
		c := &store.Client{ID: e.id("svc"), Type: store.ClientService, AuthMethod: store.AuthPrivateKeyJWT,
			JWKS: `{"keys":[{"kty":"EC"}]}`, Scopes: []string{"ledger:read", "ledger:write"}, CreatedAt: e.now}
		must(t, e.s.CreateClient(e.ctx, c))
		got, err := e.s.GetClient(e.ctx, c.ID)
		must(t, err)
		same(t, "client", got, c)
	})
	e.run("an empty method is the type's default", func(t *testing.T, e *env) {
		for typ, want := range map[store.ClientType]string{store.ClientWeb: store.AuthSecretBasic, store.ClientService: store.AuthSecretBasic,
			store.ClientSPA: store.AuthNone, store.ClientNative: store.AuthNone} {
			c := &store.Client{ID: e.id(string(typ)), Type: typ, CreatedAt: e.now}
			must(t, e.s.CreateClient(e.ctx, c))
			got, err := e.s.GetClient(e.ctx, c.ID)
			must(t, err)
			if got.AuthMethod != want || c.AuthMethod != want {
				t.Errorf("%s client: stored %q, given back %q, want %q", typ, got.AuthMethod, c.AuthMethod, want)
			}
		}
	})
	e.run("updated", func(t *testing.T, e *env) {
		c := e.client()
		c.AuthMethod, c.JWKS, c.Scopes = store.AuthSecretPost, "", []string{"openid"}
		must(t, e.s.UpdateClient(e.ctx, c))
		got, err := e.s.GetClient(e.ctx, c.ID)
		must(t, err)
		same(t, "client", got, c)
		c.AuthMethod, c.Scopes = "", nil
		must(t, e.s.UpdateClient(e.ctx, c))
		got, err = e.s.GetClient(e.ctx, c.ID)
		must(t, err)
		if got.AuthMethod != store.AuthSecretBasic || got.Scopes != nil {
			t.Errorf("after clearing: method %q scopes %v", got.AuthMethod, got.Scopes)
		}
	})
}

func (e *env) resource(clientID string, scopes ...string) *store.Resource {
	e.t.Helper()
	id := e.id("api")
	r := &store.Resource{ID: id, Audience: "https://" + id + ".example", Scopes: scopes, ClientID: clientID, CreatedAt: e.now}
	must(e.t, e.s.CreateResource(e.ctx, r))
	return r
}

// testResources: the contract of CreateResource, GetResource, ListResources, UpdateResource and
// DeleteResource.
func testResources(t *testing.T, e *env) {
	rs := e.client()
	e.run("create and get", func(t *testing.T, e *env) {
		for _, r := range []*store.Resource{
			{ID: e.id("ledger"), Audience: "https://ledger.example", Scopes: []string{"ledger:read", "ledger:write"}, ClientID: rs.ID, CreatedAt: e.now},
			{ID: e.id("bare"), Audience: "urn:example:bare", CreatedAt: e.now},
		} {
			must(t, e.s.CreateResource(e.ctx, r))
			got, err := e.s.GetResource(e.ctx, r.ID)
			must(t, err)
			wantUTC(t, "resource", got)
			same(t, "resource "+r.ID, got, r)
		}
	})
	e.run("conflicts and unknowns", func(t *testing.T, e *env) {
		r := e.resource("")
		wantErr(t, e.s.CreateResource(e.ctx, &store.Resource{ID: r.ID, Audience: "https://other.example", CreatedAt: e.now}), store.ErrConflict)
		wantErr(t, e.s.CreateResource(e.ctx, &store.Resource{ID: e.id("x"), Audience: r.Audience, CreatedAt: e.now}), store.ErrConflict)
		wantErr(t, e.s.CreateResource(e.ctx, &store.Resource{ID: e.id("x"), Audience: "https://x.example", ClientID: "no-such-client", CreatedAt: e.now}), store.ErrNotFound)
		_, err := e.s.GetResource(e.ctx, "no-such-resource")
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, e.s.DeleteResource(e.ctx, "no-such-resource"), store.ErrNotFound)
		wantErr(t, e.s.UpdateResource(e.ctx, &store.Resource{ID: "no-such-resource", Audience: "https://y.example"}), store.ErrNotFound)
		other := e.resource("")
		other.Audience = r.Audience
		wantErr(t, e.s.UpdateResource(e.ctx, other), store.ErrConflict)
		other.Audience, other.ClientID = "https://z.example", "no-such-client"
		wantErr(t, e.s.UpdateResource(e.ctx, other), store.ErrNotFound)
	})
	e.run("update", func(t *testing.T, e *env) {
		r := e.resource("", "a:read")
		r.Audience, r.Scopes, r.ClientID = "https://moved.example", []string{"a:read", "a:write"}, rs.ID
		must(t, e.s.UpdateResource(e.ctx, r))
		got, err := e.s.GetResource(e.ctx, r.ID)
		must(t, err)
		same(t, "resource", got, r)
	})
	e.run("its client deleted: it stays, without a client", func(t *testing.T, e *env) {
		c := e.client()
		r := e.resource(c.ID, "a:read")
		must(t, e.s.DeleteClient(e.ctx, c.ID))
		got, err := e.s.GetResource(e.ctx, r.ID)
		must(t, err)
		if got.ClientID != "" {
			t.Errorf("ClientID %q after its client was deleted", got.ClientID)
		}
	})
	e.run("list is ordered by id", func(t *testing.T, e *env) {
		all, err := e.s.ListResources(e.ctx)
		must(t, err)
		for i := 1; i < len(all); i++ {
			if all[i-1].ID >= all[i].ID {
				t.Fatalf("not ordered: %q before %q", all[i-1].ID, all[i].ID)
			}
		}
		if len(all) < 4 {
			t.Fatalf("listed %d resources", len(all))
		}
	})
}

// testClientResources: SetClientResources replaces the grants, all or nothing; ClientResources
// lists them by id; deleting a resource or the client removes the grants.
func testClientResources(t *testing.T, e *env) {
	c := e.client()
	a, b, d := e.resource("", "a:read"), e.resource("", "b:read"), e.resource("")
	must(t, e.s.SetClientResources(e.ctx, c.ID, []string{b.ID, a.ID, a.ID}))
	got, err := e.s.ClientResources(e.ctx, c.ID)
	must(t, err)
	same(t, "grants", got, []store.Resource{*a, *b})

	wantErr(t, e.s.SetClientResources(e.ctx, c.ID, []string{d.ID, "no-such-resource"}), store.ErrNotFound)
	got, err = e.s.ClientResources(e.ctx, c.ID)
	must(t, err)
	same(t, "grants after a refused replacement", got, []store.Resource{*a, *b})
	wantErr(t, e.s.SetClientResources(e.ctx, "no-such-client", []string{a.ID}), store.ErrNotFound)

	must(t, e.s.DeleteResource(e.ctx, b.ID))
	got, err = e.s.ClientResources(e.ctx, c.ID)
	must(t, err)
	same(t, "grants after a resource was deleted", got, []store.Resource{*a})

	must(t, e.s.SetClientResources(e.ctx, c.ID, nil))
	got, err = e.s.ClientResources(e.ctx, c.ID)
	must(t, err)
	same(t, "grants after clearing", got, []store.Resource(nil))

	must(t, e.s.SetClientResources(e.ctx, c.ID, []string{a.ID, d.ID}))
	must(t, e.s.DeleteClient(e.ctx, c.ID))
	got, err = e.s.ClientResources(e.ctx, c.ID)
	must(t, err)
	same(t, "grants of a deleted client", got, []store.Resource(nil))
	must(t, e.s.CreateClient(e.ctx, &store.Client{ID: c.ID, Type: store.ClientService, CreatedAt: e.now}))
	got, err = e.s.ClientResources(e.ctx, c.ID)
	must(t, err)
	same(t, "grants of a new client with the old id", got, []store.Resource(nil))
}

// testClientAssertions: a jti is accepted once per client while its record lives; DeleteExpired
// removes the record at its expiry.
func testClientAssertions(t *testing.T, e *env) {
	c, other := e.client(), e.client()
	exp := e.now.Add(5 * time.Minute)
	must(t, e.s.UseClientAssertion(e.ctx, c.ID, "jti-1", exp))
	wantErr(t, e.s.UseClientAssertion(e.ctx, c.ID, "jti-1", exp), store.ErrConflict)
	must(t, e.s.UseClientAssertion(e.ctx, other.ID, "jti-1", exp))
	must(t, e.s.UseClientAssertion(e.ctx, c.ID, "jti-2", exp))
	wantErr(t, e.s.UseClientAssertion(e.ctx, "no-such-client", "jti-1", exp), store.ErrNotFound)
	wantSomeErr(t, e.s.UseClientAssertion(e.ctx, c.ID, "", exp))

	_, err := e.s.DeleteExpired(e.ctx, exp.Add(-time.Millisecond))
	must(t, err)
	wantErr(t, e.s.UseClientAssertion(e.ctx, c.ID, "jti-1", exp), store.ErrConflict)
	_, err = e.s.DeleteExpired(e.ctx, exp)
	must(t, err)
	must(t, e.s.UseClientAssertion(e.ctx, c.ID, "jti-1", exp.Add(time.Minute)))
}

// testClientAssertionRace: "of any number of calls with the same client and jti, concurrent or
// not, exactly one succeeds".
func testClientAssertionRace(t *testing.T, e *env) {
	c := e.client()
	errs := race(racers, func(i int) error {
		return e.racer(i).UseClientAssertion(e.ctx, c.ID, "jti-race", e.now.Add(time.Minute))
	})
	oneWinner(t, errs, store.ErrConflict)
}
