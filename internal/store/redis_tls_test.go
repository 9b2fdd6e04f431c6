package store_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/dropwire/dropwire/internal/store"
	"github.com/dropwire/dropwire/internal/store/storetest"
)

// aclUser is a Redis ACL user allowed the keys and channels under
// "tls:" only: a store that works under that prefix and is refused under
// another is known to have signed in as it, not as the default user.
var aclUser = []string{"--user", "dropwire", "on", ">s3cret-pass", "~tls:*", "&tls:*", "+@all"}

// One Redis over TLS with a client certificate and an ACL user: every
// kind of call goes through, as that user; a wrong password, a missing
// client certificate and a CA that did not sign the server are refused.
func TestRedisTLSAndACL(t *testing.T) {
	files := storetest.NewTLSFiles(t)
	port := storetest.FreePort(t)
	storetest.StartPrivateRedis(t, append(files.ServerArgs(port), aclUser...)...)
	url := fmt.Sprintf("rediss://127.0.0.1:%d/0", port)
	open := func(t *testing.T, prefix, password string, tc *tls.Config) *store.Redis {
		s, err := store.NewRedis(store.RedisConfig{URL: url, Prefix: prefix, Username: "dropwire", Password: password,
			TLS: tc, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	ctx := context.Background()

	s := open(t, "tls:", "s3cret-pass", files.ClientConfig(t))
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping over TLS: %v", err)
	}
	sub, err := s.Subscribe(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	if n, err := s.Run(ctx, announceScript, []string{store.DropKey("d", "count")}, "d 1", s.Prefix()+"news"); err != nil || n != int64(1) {
		t.Fatalf("script over TLS: %v, %v", n, err)
	}
	if m := receive(t, sub); string(m.Payload) != "d 1" {
		t.Fatalf("announcement over TLS: %q", m.Payload)
	}
	if v, err := s.Get(ctx, store.DropKey("d", "count")); err != nil || v != "1" {
		t.Fatalf("Get over TLS: %q, %v", v, err)
	}

	// The ACL user may not touch keys outside tls:*.
	if err := open(t, "other:", "s3cret-pass", files.ClientConfig(t)).Set(ctx, "k", "v", 0); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("a key outside the user's pattern: %v, want NOPERM", err)
	}
	if err := open(t, "tls:", "wrong", files.ClientConfig(t)).Ping(ctx); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("wrong password: %v, want WRONGPASS", err)
	}
	noCert := files.ClientConfig(t)
	noCert.Certificates = nil
	if err := open(t, "tls:", "s3cret-pass", noCert).Ping(ctx); err == nil {
		t.Fatal("a client without its certificate was let in")
	}
	otherCA := storetest.NewTLSFiles(t).ClientConfig(t)
	otherCA.Certificates = files.ClientConfig(t).Certificates
	var unknownCA x509.UnknownAuthorityError
	if err := open(t, "tls:", "s3cret-pass", otherCA).Ping(ctx); !errors.As(err, &unknownCA) {
		t.Fatalf("a server signed by another CA: %v, want x509.UnknownAuthorityError", err)
	}
}

// A Redis Cluster over TLS (its bus too) with an ACL user: the store finds
// every master from one seed, checks each node's certificate against the
// address it dials, signs in as the user, and scripts, keys in every
// slot and announcements on every partition go through.
func TestClusterTLSAndACL(t *testing.T) {
	files := storetest.NewTLSFiles(t)
	tlsPorts := map[int]int{}
	pc := storetest.StartPrivateClusterWith(t, 3, func(port int) []string {
		tp := storetest.FreePort(t)
		tlsPorts[port] = tp
		return append(append(files.ServerArgs(tp), "--tls-cluster", "yes"), aclUser...)
	})
	var seed string
	for _, tp := range tlsPorts {
		seed = fmt.Sprintf("127.0.0.1:%d", tp)
		break
	}
	s, err := store.NewRedis(store.RedisConfig{URL: "rediss+cluster://dropwire:s3cret-pass@" + seed, Prefix: "tls:",
		TLS: files.ClientConfig(t), PubSubPartitions: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping of every master over TLS: %v", err)
	}
	sub, err := s.Subscribe(ctx, "news")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	for i := range 12 {
		drop := fmt.Sprintf("d%d", i)
		if n, err := s.Run(ctx, announceScript, []string{store.DropKey(drop, "count")}, drop+" 1", s.Prefix()+"news"); err != nil || n != int64(1) {
			t.Fatalf("script on %s: %v, %v", drop, n, err)
		}
	}
	seen := map[string]bool{}
	for range 12 {
		seen[string(receive(t, sub).Payload)] = true
	}
	if len(seen) != 12 {
		t.Fatalf("announcements received: %v", seen)
	}
	var keys []string
	if err := s.ScanPrefix(ctx, "", func(k []string) error { keys = append(keys, k...); return nil }); err != nil || len(keys) != 12 {
		t.Fatalf("scan of every master: %v, %v", keys, err)
	}
	if err := s.Del(ctx, keys...); err != nil {
		t.Fatalf("delete across slots: %v", err)
	}
	// Signed in as the ACL user, not as the default user: its key
	// pattern holds.
	other, err := store.NewRedis(store.RedisConfig{URL: "rediss+cluster://dropwire:s3cret-pass@" + seed, Prefix: "other:",
		TLS: files.ClientConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	if err := other.Set(ctx, "k", "v", 0); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Fatalf("a key outside the user's pattern: %v, want NOPERM", err)
	}
	if len(pc.Nodes) != 3 {
		t.Fatal("three masters expected")
	}
}
