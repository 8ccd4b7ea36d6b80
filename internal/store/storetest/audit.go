package storetest

import (
	"testing"
	"time"

	"github.com/fintech-idp/idp/internal/store"
)

func testAudit(t *testing.T, e *env) {
	var all []store.AuditEvent // in insertion order, which is time order here
	e.run("append", func(t *testing.T, e *env) {
		for i, ev := range []store.AuditEvent{
			{At: e.now.Add(-3 * time.Minute), Type: "user.created", UserID: "u1", IP: "192.0.2.1", Detail: map[string]string{"email": "a@example.com"}},
			{At: e.now.Add(-2 * time.Minute), Type: "client.created", ClientID: "c1"},
			{At: e.now.Add(-time.Minute), Type: "login.succeeded", UserID: "u1", ClientID: "c1", Detail: map[string]string{"acr": "mfa", "amr": "pwd sms mfa"}},
			{At: e.now, Type: "login.failed", UserID: "u2", Detail: map[string]string{}},
		} {
			must(t, e.s.AppendAudit(e.ctx, &ev))
			if ev.ID == 0 || (i > 0 && ev.ID <= all[i-1].ID) {
				t.Fatalf("event %d got id %d after %v", i, ev.ID, all)
			}
			all = append(all, ev)
		}
	})
	e.run("zero At is filled in", func(t *testing.T, e *env) {
		before := time.Now()
		ev := store.AuditEvent{Type: "keys.rotated"}
		must(t, e.s.AppendAudit(e.ctx, &ev))
		if ev.At.Before(before.Add(-time.Second)) || ev.At.After(time.Now().Add(time.Second)) {
			t.Fatalf("At = %v, want about now", ev.At)
		}
		got, err := e.s.ListAudit(e.ctx, "", 1)
		must(t, err)
		if len(got) != 1 || got[0].ID != ev.ID {
			t.Fatalf("newest event %v, want id %d", got, ev.ID)
		}
		wantUTC(t, "event", &got[0])
		if d := got[0].At.Sub(ev.At).Abs(); d >= time.Millisecond {
			t.Fatalf("stored At off by %v", d)
		}
		all = append(all, got[0]) // the newest: the wall clock is after e.now
	})
	e.run("list", func(t *testing.T, e *env) {
		reversed := func(evs ...store.AuditEvent) []store.AuditEvent {
			out := make([]store.AuditEvent, 0, len(evs))
			for i := len(evs) - 1; i >= 0; i-- {
				out = append(out, evs[i])
			}
			return out
		}
		for _, tc := range []struct {
			name  string
			user  string
			limit int
			want  []store.AuditEvent
		}{
			{"one user", "u1", 10, reversed(all[0], all[2])},
			{"one user, limited", "u1", 1, reversed(all[2])},
			{"everyone, limited", "", 3, []store.AuditEvent{all[4], all[3], all[2]}},
			{"unknown user", "nobody", 10, nil},
			{"no limit", "u2", 0, reversed(all[3])},
		} {
			e.run(tc.name, func(t *testing.T, e *env) {
				got, err := e.s.ListAudit(e.ctx, tc.user, tc.limit)
				must(t, err)
				same(t, "events", got, tc.want)
			})
		}
	})
	e.run("explicit id", func(t *testing.T, e *env) {
		ev := store.AuditEvent{ID: 1000, At: e.now, Type: "restored"}
		must(t, e.s.AppendAudit(e.ctx, &ev))
		dup := store.AuditEvent{ID: 1000, At: e.now, Type: "restored"}
		wantErr(t, e.s.AppendAudit(e.ctx, &dup), store.ErrConflict)
		next := store.AuditEvent{At: e.now, Type: "after.restore"}
		must(t, e.s.AppendAudit(e.ctx, &next))
		if next.ID <= 1000 {
			t.Fatalf("id %d generated after an explicit 1000", next.ID)
		}
	})
	e.run("type is required", func(t *testing.T, e *env) {
		wantSomeErr(t, e.s.AppendAudit(e.ctx, &store.AuditEvent{At: e.now}))
	})
}

func testDeleteExpired(t *testing.T, e *env) {
	c, u := e.client(), e.user()
	// The fixtures are made at e.now; the clean-up runs an hour later. A row whose expiry is at
	// or before the clean-up is no longer valid then and goes, whatever its state.
	now := e.now.Add(time.Hour)
	want := int64(0)
	liveSession := e.session(u.ID) // kept; the sign-ins below run in it

	// Gone.
	expiredRequest := e.authRequest(c.ID) // expires after 10 minutes
	want++
	unredeemed := e.code(c.ID, u.ID, liveSession.ID) // its request (10 minutes) and the code (1 minute)
	want += 2
	redeemed := e.code(c.ID, u.ID, liveSession.ID) // its request and the tombstone
	want += 2
	expiredAccess := e.access(c.ID, u.ID) // expires after an hour: exactly at now
	expiredRefresh := e.refresh(c.ID, u.ID)
	expiredRefresh.ExpiresAt = now.Add(-time.Second)
	must(t, e.s.IssueTokens(e.ctx, store.IssueParams{Now: e.now, CodeHash: redeemed, Access: expiredAccess, Refresh: expiredRefresh}))
	want += 2
	expiredSession := &store.Session{ID: e.id("sess"), TokenHash: e.id("hash"), UserID: u.ID, AuthTime: e.now, CreatedAt: e.now, LastSeenAt: e.now, ExpiresAt: now}
	must(t, e.s.CreateSession(e.ctx, expiredSession))
	revokedSession := &store.Session{ID: e.id("sess"), TokenHash: e.id("hash"), UserID: u.ID, AuthTime: e.now, CreatedAt: e.now, LastSeenAt: e.now, ExpiresAt: now.Add(-time.Minute)}
	must(t, e.s.CreateSession(e.ctx, revokedSession))
	must(t, e.s.RevokeSession(e.ctx, revokedSession.ID, e.now))
	want += 2
	codeUser := e.user()
	e.emailCode(codeUser.ID, store.PurposeVerify, "", e.now) // unconsumed, expired at e.now+10m
	want++
	e.emailCode(codeUser.ID, store.PurposeReset, "", e.now) // voided by the next one, expired
	want++
	_, err := e.s.HitCounter(e.ctx, "ended", time.Minute, now.Add(-time.Minute)) // its window ends at now
	must(t, err)
	want++

	// Kept: valid at now, revoked ones included.
	liveRequest := &store.AuthRequest{ID: e.id("ar"), ClientID: c.ID, CreatedAt: e.now, ExpiresAt: now.Add(time.Millisecond)}
	must(t, e.s.CreateAuthRequest(e.ctx, liveRequest))
	liveCodeRequest := &store.AuthRequest{ID: e.id("ar"), ClientID: c.ID, CreatedAt: e.now, ExpiresAt: now.Add(time.Hour)}
	must(t, e.s.CreateAuthRequest(e.ctx, liveCodeRequest))
	must(t, e.s.CompleteAuthRequest(e.ctx, liveCodeRequest.ID, &store.AuthRequest{Subject: u.ID, AuthTime: e.now, SessionID: liveSession.ID}, e.now))
	liveCode := &store.AuthCode{Hash: e.id("code"), AuthRequestID: liveCodeRequest.ID, ExpiresAt: now.Add(time.Minute)}
	must(t, e.s.SaveAuthCode(e.ctx, liveCode))
	rotated, err := e.rotate(expiredRefresh.Hash, e.now.Add(time.Minute), c.ID, u.ID) // before it expired
	must(t, err)
	must(t, e.s.RevokeAccessToken(e.ctx, rotated.access.ID, e.now)) // revoked, expires at now+1m
	// A consumed code stays until it expires (its CreatedAt is the resend cooldown).
	usedCode := e.emailCode(codeUser.ID, store.PurposeReset, "", now.Add(-5*time.Minute))
	usedCode.Attempts, usedCode.ConsumedAt = 1, ptr(now.Add(-time.Minute))
	_, err = e.s.CheckEmailCode(e.ctx, codeUser.ID, store.PurposeReset, usedCode.CodeHash, 5, *usedCode.ConsumedAt)
	must(t, err)
	// A counter stays while a window it counted in may be open: the latest hit plus its window,
	// whatever window a later hit gives.
	for _, h := range []struct {
		key    string
		window time.Duration
		at     time.Time
	}{
		{"open", time.Minute, now.Add(-time.Minute + time.Millisecond)},
		{"long window", 2 * time.Hour, now.Add(-90 * time.Minute)},
		{"window shortened", time.Hour, now.Add(-30 * time.Minute)},
		{"window shortened", time.Minute, now.Add(-10 * time.Minute)},
	} {
		_, err := e.s.HitCounter(e.ctx, h.key, h.window, h.at)
		must(t, err)
	}

	got, err := e.s.DeleteExpired(e.ctx, now)
	must(t, err)
	if got != want {
		t.Fatalf("DeleteExpired removed %d rows, want %d", got, want)
	}

	_, err = e.s.GetAuthRequest(e.ctx, expiredRequest.ID, e.now)
	wantErr(t, err, store.ErrNotFound)
	_, err = e.s.GetAuthRequestByCode(e.ctx, unredeemed, e.now)
	wantErr(t, err, store.ErrNotFound)
	_, err = e.s.GetAuthRequestByCode(e.ctx, redeemed, e.now) // no tombstone left: unknown
	wantErr(t, err, store.ErrNotFound)
	_, err = e.s.GetAccessToken(e.ctx, expiredAccess.ID)
	wantErr(t, err, store.ErrNotFound)
	_, err = e.s.GetRefreshToken(e.ctx, expiredRefresh.Hash)
	wantErr(t, err, store.ErrNotFound)
	_, err = e.s.GetSessionByTokenHash(e.ctx, expiredSession.TokenHash, e.now, e.now.Add(-time.Hour))
	wantErr(t, err, store.ErrNotFound)
	sessions, err := e.s.ListSessions(e.ctx, u.ID, e.now)
	must(t, err)
	same(t, "sessions", sessions, []store.Session{*liveSession})

	_, err = e.s.GetAuthRequest(e.ctx, liveRequest.ID, now)
	must(t, err)
	_, err = e.s.GetAuthRequestByCode(e.ctx, liveCode.Hash, now)
	must(t, err)
	if a := e.getAccess(rotated.access.ID); a.RevokedAt == nil {
		t.Fatal("revoked, unexpired access token lost its revocation")
	}
	e.getRefresh(rotated.refresh.Hash)
	_, err = e.s.GetUser(e.ctx, u.ID)
	must(t, err)

	_, err = e.s.LatestEmailCode(e.ctx, codeUser.ID, store.PurposeVerify)
	wantErr(t, err, store.ErrNotFound)
	same(t, "consumed, unexpired code", e.latest(codeUser.ID, store.PurposeReset), usedCode)
	_, err = e.s.GetCounter(e.ctx, "ended", time.Minute, now)
	wantErr(t, err, store.ErrNotFound)
	for _, key := range []string{"open", "long window", "window shortened"} {
		_, err := e.s.GetCounter(e.ctx, key, time.Minute, now)
		must(t, err)
	}

	got, err = e.s.DeleteExpired(e.ctx, now)
	must(t, err)
	if got != 0 {
		t.Fatalf("second DeleteExpired removed %d rows, want 0", got)
	}
}

// testSearchAudit: every filter of AuditFilter alone and together; newest first, or oldest
// first after an id.
func testSearchAudit(t *testing.T, e *env) {
	base := e.now.Add(-time.Hour)
	var ev []store.AuditEvent // in insertion order, which is time order
	for i, x := range []struct{ typ, user, client string }{
		{"user.created", "u1", ""},
		{"login.failed", "u1", ""},
		{"login.succeeded", "u1", "c1"},
		{"login.succeeded", "u2", "c1"},
		{"loginx.weird", "u2", ""}, // shares "login" but not "login."
		{"login", "u1", ""},        // the prefix without its dot
		{"LOGIN.FAILED", "u1", ""}, // another case
		{"session.revoked", "u2", ""},
		{"session.revoked", "", ""}, // at the same instant as the one before: ID breaks the tie
	} {
		at := base.Add(time.Duration(min(i, 7)) * time.Minute)
		a := store.AuditEvent{At: at, Type: x.typ, UserID: x.user, ClientID: x.client, IP: "192.0.2.1", Detail: map[string]string{"i": string(rune('a' + i))}}
		must(t, e.s.AppendAudit(e.ctx, &a))
		ev = append(ev, a)
	}
	// newest lists events by index, newest first; oldest in ascending order.
	newest := func(is ...int) []store.AuditEvent {
		out := make([]store.AuditEvent, 0, len(is))
		for i := len(is) - 1; i >= 0; i-- {
			out = append(out, ev[is[i]])
		}
		return out
	}
	oldest := func(is ...int) []store.AuditEvent {
		var out []store.AuditEvent
		for _, i := range is {
			out = append(out, ev[i])
		}
		return out
	}
	at := func(i int) time.Time { return ev[i].At }
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []store.AuditEvent
	}{
		{"no filter", store.AuditFilter{}, newest(0, 1, 2, 3, 4, 5, 6, 7, 8)},
		{"user", store.AuditFilter{UserID: "u1"}, newest(0, 1, 2, 5, 6)},
		{"unknown user", store.AuditFilter{UserID: "nobody"}, nil},
		{"exact type", store.AuditFilter{Type: "login.succeeded"}, newest(2, 3)},
		{"a type without .* is exact", store.AuditFilter{Type: "login"}, newest(5)},
		{"prefix", store.AuditFilter{Type: "login.*"}, newest(1, 2, 3)},
		{"prefix matches case exactly", store.AuditFilter{Type: "LOGIN.*"}, newest(6)},
		{"% and _ are not wildcards", store.AuditFilter{Type: "log%.*"}, nil},
		{"_ is not a wildcard", store.AuditFilter{Type: "login_succeeded"}, nil},
		{"* alone is no prefix", store.AuditFilter{Type: "login*"}, nil},
		{"since is inclusive", store.AuditFilter{Since: at(6)}, newest(6, 7, 8)},
		{"until is exclusive", store.AuditFilter{Until: at(2)}, newest(0, 1)},
		{"window", store.AuditFilter{Since: at(1), Until: at(4)}, newest(1, 2, 3)},
		{"everything together", store.AuditFilter{UserID: "u1", Type: "login.*", Since: at(2), Until: at(8), Limit: 5}, newest(2)},
		{"limit", store.AuditFilter{Limit: 3}, newest(6, 7, 8)},
		{"limit with a filter", store.AuditFilter{Type: "login.*", Limit: 2}, newest(2, 3)},
		{"negative limit is none", store.AuditFilter{UserID: "u2", Limit: -1}, newest(3, 4, 7)},
		{"after id: oldest first", store.AuditFilter{AfterID: ev[4].ID}, oldest(5, 6, 7, 8)},
		{"after id with a limit: the oldest", store.AuditFilter{AfterID: ev[4].ID, Limit: 2}, oldest(5, 6)},
		{"after id with filters", store.AuditFilter{AfterID: ev[0].ID, UserID: "u2", Type: "session.*"}, oldest(7)},
		{"after the last id", store.AuditFilter{AfterID: ev[8].ID}, nil},
	} {
		e.run(tc.name, func(t *testing.T, e *env) {
			got, err := e.s.SearchAudit(e.ctx, tc.f)
			must(t, err)
			same(t, "events", got, tc.want)
			for i := range got {
				wantUTC(t, "event", &got[i])
			}
		})
	}
	e.run("following picks up new events", func(t *testing.T, e *env) {
		last := ev[8].ID
		next := store.AuditEvent{At: base.Add(-24 * time.Hour), Type: "restored.old"} // an old time: followers go by id
		must(t, e.s.AppendAudit(e.ctx, &next))
		got, err := e.s.SearchAudit(e.ctx, store.AuditFilter{AfterID: last})
		must(t, err)
		same(t, "events", got, []store.AuditEvent{next})
	})
}

// testDeleteAuditBefore: events before t go, events at t and after stay.
func testDeleteAuditBefore(t *testing.T, e *env) {
	cut := e.now.Add(-24 * time.Hour)
	var kept []store.AuditEvent
	for _, x := range []struct {
		at   time.Time
		keep bool
	}{
		{cut.Add(-48 * time.Hour), false},
		{cut.Add(-time.Millisecond), false},
		{cut, true},
		{cut.Add(time.Millisecond), true},
		{e.now, true},
	} {
		a := store.AuditEvent{At: x.at, Type: "login.succeeded", UserID: "u1"}
		must(t, e.s.AppendAudit(e.ctx, &a))
		if x.keep {
			kept = append([]store.AuditEvent{a}, kept...) // newest first
		}
	}
	n, err := e.s.DeleteAuditBefore(e.ctx, cut)
	must(t, err)
	if n != 2 {
		t.Fatalf("DeleteAuditBefore removed %d events, want 2", n)
	}
	got, err := e.s.SearchAudit(e.ctx, store.AuditFilter{})
	must(t, err)
	same(t, "events", got, kept)
	n, err = e.s.DeleteAuditBefore(e.ctx, cut)
	must(t, err)
	if n != 0 {
		t.Fatalf("a second DeleteAuditBefore removed %d events, want 0", n)
	}
	n, err = e.s.DeleteAuditBefore(e.ctx, e.now.Add(time.Millisecond))
	must(t, err)
	if n != 3 {
		t.Fatalf("DeleteAuditBefore after the newest removed %d events, want 3", n)
	}
	// New events are numbered after the deleted ones, never reusing their ids.
	a := store.AuditEvent{At: e.now, Type: "after.retention"}
	must(t, e.s.AppendAudit(e.ctx, &a))
	if a.ID <= kept[0].ID {
		t.Fatalf("id %d after deleting up to %d", a.ID, kept[0].ID)
	}
}
