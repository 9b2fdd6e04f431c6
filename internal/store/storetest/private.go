package storetest

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// PrivateRedis starts a redis-server of its own on a free loopback port,
// with extra arguments (e.g. "--appendonly", "yes"), for a test that needs
// a Redis configured unlike the shared one. It stops when t ends and keeps
// its files in a temporary directory. It returns the server's URL.
func PrivateRedis(t testing.TB, args ...string) string {
	t.Helper()
	return StartPrivateRedis(t, args...).URL()
}

// RedisServer is a private redis-server that a test can kill and start
// again on the same port and directory, as a crash and a restart of the
// host's Redis would: with "--appendonly", "yes" it comes back with what
// it had acknowledged.
type RedisServer struct {
	t    testing.TB
	port int
	dir  string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while killed
	exited chan struct{} // closed when cmd has exited
}

// StartPrivateRedis is PrivateRedis returning the server, for a test that
// kills and restarts it.
func StartPrivateRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := &RedisServer{t: t, port: port, dir: t.TempDir(), args: args}
	t.Cleanup(s.Kill)
	s.Start()
	return s
}

// URL is the server's URL; it stays the same across restarts.
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Kill ends the server with SIGKILL, as a crash: nothing is flushed on
// the way out. It does nothing when the server is not running.
func (s *RedisServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Start runs the server (again) on its port and directory and waits until
// it answers PING, which it does only once it has loaded its files.
func (s *RedisServer) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("storetest: private redis-server is already running")
	}
	all := append([]string{"--port", fmt.Sprint(s.port), "--bind", "127.0.0.1", "--save", "", "--dir", s.dir}, s.args...)
	cmd := exec.Command("redis-server", all...)
	out := &tailBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("storetest: redis-server: %v (install it with apt-get install redis-server)", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	opt, _ := redis.ParseURL(s.URL())
	c := redis.NewClient(opt)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-exited:
			s.t.Fatalf("storetest: private redis-server on port %d exited: %v\n%s", s.port, err, out)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("storetest: private redis-server on port %d does not answer: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tailBuffer keeps the last 4 KiB written to it: what a server said
// before it died.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if n := len(b.buf) - 4096; n > 0 {
		b.buf = append(b.buf[:0], b.buf[n:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
