package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRedisProblems(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, add string
		want      []want
	}{
		{"seed without port", `redis_cluster: ["10.0.0.5"]`, []want{{16, "redis_cluster[0]", "must be host:port"}}},
		{"seed with bad port", "redis_cluster:\n  - 10.0.0.5:6379\n  - 10.0.0.6:99999", []want{{18, "redis_cluster[1]", "must be host:port"}}},
		{"seed list and url", "redis_cluster: [\"10.0.0.5:6379\"]\nredis_url: redis://10.0.0.9:6379/0",
			[]want{{16, "redis_cluster", "and redis_url both name a Redis: set one"}}},
		{"cluster url without port", "redis_url: redis+cluster://h1:7000,h2", []want{{16, "redis_url", "cluster nodes must be host:port"}}},
		{"cluster url with a database", "redis_url: rediss+cluster://u:p@h1:7000/2", []want{{16, "redis_url", "database 0 only"}}},
		{"cluster url password not echoed", "redis_url: redis+cluster://u:hunter2@h1", []want{{16, "redis_url", "cluster nodes must be host:port"}}},
		{"unknown scheme", "redis_url: cluster://h1:7000", []want{{16, "redis_url", "must be a redis://"}}},
		{"partitions negative", "pubsub_partitions: -1", []want{{16, "pubsub_partitions", "must be between 1 and 1024"}}},
		{"partitions too many", "pubsub_partitions: 5000", []want{{16, "pubsub_partitions", "must be between 1 and 1024"}}},
		{"password without redis", "redis_password: hunter2", []want{{16, "redis_password", "is set but no Redis is"}}},
		{"tls without redis", "redis_tls: true", []want{{16, "redis_tls", "is set but no Redis is"}}},
		{"ca with tls off", "redis_url: redis://h:6379/0\nredis_tls_ca: ca.pem", []want{{17, "redis_tls_ca", "TLS is off"}}},
		{"ca missing", "redis_url: rediss://h:6379/0\nredis_tls_ca: " + filepath.Join(dir, "missing.pem"), []want{{17, "redis_tls_ca", "no such file"}}},
		{"ca not PEM", "redis_cluster: [\"h:7000\"]\nredis_tls: true\nredis_tls_ca: " + notPEM, []want{{18, "redis_tls_ca", "no PEM certificate"}}},
		{"cert without key", "redis_url: rediss://h:6379/0\nredis_tls_cert: c.pem", []want{{17, "redis_tls_cert", "and redis_tls_key go together"}}},
		{"cert not PEM", "redis_url: rediss://h:6379/0\nredis_tls_cert: " + notPEM + "\nredis_tls_key: " + notPEM, []want{{17, "redis_tls_cert", "PEM"}}},
		{"tls on a socket", "redis_url: unix:///run/redis.sock\nredis_tls: true", []want{{17, "redis_tls", "does not apply to a unix:// socket"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(base+tc.add+"\n"), nil)
			got := problems(t, err)
			checkProblems(t, "test.yaml", got, tc.want)
			for _, p := range got {
				if strings.Contains(p.Msg, "hunter2") {
					t.Errorf("problem repeats the password: %s", p)
				}
			}
		})
	}
}

func TestRedisVariants(t *testing.T) {
	ca, cert, key := writeTLSFiles(t)
	for _, tc := range []struct {
		name, add string
		cluster   bool
		tls       bool // RedisTLSConfig is not nil
	}{
		{"one redis", "redis_url: redis://10.0.0.5:6379/0", false, false},
		{"acl on one redis", "redis_url: redis://10.0.0.5:6379/0\nredis_username: dropwire\nredis_password: ${PW}", false, false},
		{"rediss with the system roots", "redis_url: rediss://dropwire:pw@redis.example:6380/0", false, false},
		{"cluster url", "redis_url: redis+cluster://dropwire:pw@10.0.0.5:6379,10.0.0.6:6379?read_timeout=2s", true, false},
		{"cluster url over tls", "redis_url: rediss+cluster://10.0.0.5:6379/0", true, false},
		{"seed list", "redis_cluster: [\"10.0.0.5:6379\", \"[fd00::6]:6379\"]\npubsub_partitions: 32", true, false},
		{"seed list over tls with a ca", "redis_cluster: [\"10.0.0.5:6379\"]\nredis_tls: true\nredis_tls_ca: " + ca, true, true},
		{"client certificate", "redis_url: rediss://h:6380/0\nredis_tls_ca: " + ca + "\nredis_tls_cert: " + cert + "\nredis_tls_key: " + key, false, true},
		{"tls on a redis url", "redis_url: redis://h:6380/0\nredis_tls: true", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, base+tc.add+"\n", map[string]string{"PW": "hunter2"})
			if !c.UsesRedis() || c.RedisIsCluster() != tc.cluster {
				t.Fatalf("uses redis %v, cluster %v; want cluster %v", c.UsesRedis(), c.RedisIsCluster(), tc.cluster)
			}
			tlsc, err := c.RedisTLSConfig()
			if err != nil || (tlsc != nil) != tc.tls {
				t.Fatalf("RedisTLSConfig = %v, %v", tlsc, err)
			}
			if tlsc != nil && (tlsc.ServerName != "" || tlsc.MinVersion == 0) {
				t.Fatalf("TLS config %+v: no ServerName (each node is checked against its own host), TLS 1.2 at least", tlsc)
			}
		})
	}
	c := mustParse(t, base, nil)
	if c.UsesRedis() || c.PubSubPartitions != DefaultPubSubPartitions {
		t.Fatalf("no redis: uses %v, partitions %d", c.UsesRedis(), c.PubSubPartitions)
	}
	c = mustParse(t, base+"redis_url: rediss://h:6380/0\nredis_tls_ca: "+ca+"\nredis_tls_cert: "+cert+"\nredis_tls_key: "+key+"\n", nil)
	tlsc, _ := c.RedisTLSConfig()
	if tlsc.RootCAs == nil || len(tlsc.Certificates) != 1 {
		t.Fatalf("TLS config without the CA or the client certificate: %+v", tlsc)
	}
}

// DROPWIRE_REDIS_URL (and --redis-url) name the Redis: a seed list of the
// file gives way instead of conflicting.
func TestRedisURLOverridesSeedList(t *testing.T) {
	c := mustParse(t, base+"redis_cluster: [\"10.0.0.5:6379\"]\n", nil)
	if err := c.ApplyEnv(envOf(map[string]string{"DROPWIRE_REDIS_URL": "redis://127.0.0.1:6379/0"})); err != nil {
		t.Fatal(err)
	}
	if c.RedisURL != "redis://127.0.0.1:6379/0" || len(c.RedisCluster) != 0 || c.RedisIsCluster() {
		t.Fatalf("url %q, seeds %v", c.RedisURL, c.RedisCluster)
	}
	if err := c.ApplyEnv(envOf(map[string]string{"DROPWIRE_REDIS_URL": "redis+cluster://h1"})); err == nil ||
		!strings.Contains(err.Error(), "$DROPWIRE_REDIS_URL: redis_url: cluster nodes must be host:port") {
		t.Fatalf("bad cluster URL from the environment: %v", err)
	}
}

// writeTLSFiles writes a self-signed CA and a client certificate it
// signed, and returns the files' paths.
func writeTLSFiles(t *testing.T) (ca, cert, key string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cliKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cliTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dropwire"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	cliDER, err := x509.CreateCertificate(rand.Reader, cliTmpl, caTmpl, &cliKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("client.pem", "CERTIFICATE", cliDER), write("client.key", "EC PRIVATE KEY", keyDER)
}
